"""Publish what BI tools read: a read-only DuckDB snapshot and Parquet exports of the marts.

DuckDB allows one writer; dashboards must never hold the pipeline's file open. After each
successful transform the marts and reference tables are copied into a temporary file
beside ``warehouse/serving/gpuledger.duckdb`` and renamed over it: a connection already open on
the old snapshot keeps reading the old file (the rename swaps the directory entry, not the
inode), a new one sees the new snapshot whole, and a failed publish leaves the old one in place.
Each mart is exported to ``warehouse/exports/<mart>.parquet`` the same way (temp file, rename),
and ``warehouse/exports/_manifest.json`` is written last with the row counts and the time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

SNAPSHOT_NAME = "gpuledger.duckdb"
# The snapshot is written in the oldest storage format current DuckDB writes, so readers that
# bundle an older DuckDB (the DuckDB CLI, JDBC drivers in Metabase or DBeaver, an older
# duckdb-engine install) open it too: a 1.5 CLI refuses this pipeline's own 2.x file.
# What BI tools read: the marts and the reference tables (raw and intermediate stay private; at
# fleet scale copying them would cost more than the whole transform).
SCHEMAS = tuple(os.environ.get("GPULEDGER_SNAPSHOT_SCHEMAS", "marts,reference").split(","))
STORAGE_VERSION = os.environ.get("GPULEDGER_SNAPSHOT_STORAGE_VERSION", "v1.0.0")


@dataclass(frozen=True)
class Published:
    snapshot: Path
    exports: dict[str, int]  # mart -> rows
    published_at: str


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish(warehouse: Path, serving: Path, exports: Path) -> Published:
    serving.mkdir(parents=True, exist_ok=True)
    exports.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    snapshot = serving / SNAPSHOT_NAME
    tmp = serving / f".{SNAPSHOT_NAME}.{stamp}.tmp"
    counts: dict[str, int] = {}
    conn = duckdb.connect()
    try:
        conn.execute(f"attach {_quote_literal(warehouse)} as source (read_only)")
        version = _quote_literal(STORAGE_VERSION)
        conn.execute(f"attach {_quote_literal(tmp)} as snapshot (storage_version {version})")
        try:
            for schema, table in conn.execute(
                "select schema_name, table_name from duckdb_tables()"
                " where database_name = 'source' and list_contains(?, schema_name)"
                " order by 1, 2",
                [list(SCHEMAS)],
            ).fetchall():
                conn.execute(f"create schema if not exists snapshot.{_quote(schema)}")
                name = f"{_quote(schema)}.{_quote(table)}"
                conn.execute(f"create table snapshot.{name} as from source.{name}")
        finally:
            conn.execute("detach snapshot")
        conn.execute("use source")
        marts = [
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        for mart in marts:
            target = exports / f"{mart}.parquet"
            part = exports / f".{mart}.{stamp}.tmp"
            conn.execute(
                f"copy (select * from marts.{_quote(mart)}) "  # noqa: S608 - names from the catalog
                f"to {_quote_literal(part)} (format parquet, compression zstd)"
            )
            counts[mart] = int(
                conn.execute(
                    f"select count(*) from marts.{_quote(mart)}"  # noqa: S608
                ).fetchone()[0]  # type: ignore[index]
            )
            part.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        for leftover in exports.glob(f".*.{stamp}.tmp"):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    tmp.replace(snapshot)
    published_at = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = exports / "_manifest.json"
    manifest_tmp = exports / f"._manifest.{stamp}.tmp"
    manifest_tmp.write_text(
        json.dumps({"published_at": published_at, "rows": counts}, indent=2, sort_keys=True)
    )
    manifest_tmp.replace(manifest)
    return Published(snapshot, counts, published_at)


def _quote_literal(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"
