"""Publish what BI tools read: a read-only DuckDB snapshot and Parquet exports of the marts.

DuckDB allows one writer; dashboards must never hold the pipeline's file open. After each
successful transform the marts and reference tables are copied into a temporary file
beside ``warehouse/serving/gpuledger.duckdb`` and renamed over it: a connection already open on
the old snapshot keeps reading the old file (the rename swaps the directory entry, not the
inode), a new one sees the new snapshot whole, and a failed publish leaves the old one in place.
Each mart is exported to ``warehouse/exports/<mart>.parquet`` the same way (temp file, rename),
and ``warehouse/exports/_manifest.json`` is written last with the row counts and the time.

The temporary file starts as a copy of the current snapshot, and the marts incremental by usage
day (dbt_project/macros/usage_days.sql) are brought up to date day by day: the snapshot keeps
the fingerprint of each day it holds (``gpuledger_meta.usage_days``), and only the days whose
fingerprint in the warehouse differs are copied again. Every other table is copied whole.
"""

from __future__ import annotations

import json
import os
import shutil
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
        if _reusable(snapshot):
            shutil.copyfile(snapshot, tmp)
        version = _quote_literal(STORAGE_VERSION)
        conn.execute(f"attach {_quote_literal(tmp)} as snapshot (storage_version {version})")
        try:
            _bring_up_to_date(conn)
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


def _reusable(snapshot: Path) -> bool:
    """The snapshot exists and was written in the storage version asked for now."""
    if not snapshot.exists():
        return False
    try:
        conn = duckdb.connect(str(snapshot), read_only=True)
    except duckdb.Error:
        return False  # not a file this DuckDB reads: written anew
    try:
        found = conn.execute(
            "select 1 from duckdb_tables()"
            " where schema_name = 'gpuledger_meta' and table_name = 'snapshot'"
        ).fetchall()
        if not found:
            return False
        [(version,)] = conn.execute(
            "select storage_version from gpuledger_meta.snapshot"
        ).fetchall()
        return bool(version == STORAGE_VERSION)
    finally:
        conn.close()


def _columns(
    conn: duckdb.DuckDBPyConnection, database: str, schema: str, table: str
) -> list[tuple[str, str]]:
    return [
        (str(name), str(kind))
        for name, kind in conn.execute(
            "select column_name, data_type from duckdb_columns()"
            " where database_name = ? and schema_name = ? and table_name = ?"
            " order by column_index",
            [database, schema, table],
        ).fetchall()
    ]


def _bring_up_to_date(conn: duckdb.DuckDBPyConnection) -> None:
    """Make the attached ``snapshot`` hold what ``source`` holds in SCHEMAS. Its own bookkeeping
    is in ``gpuledger_meta``: the storage version it was written in, and the fingerprint of each
    usage day of each usage-day mart it holds."""
    conn.execute("create schema if not exists snapshot.gpuledger_meta")
    conn.execute(
        "create or replace table snapshot.gpuledger_meta.snapshot as select ? as storage_version",
        [STORAGE_VERSION],
    )
    conn.execute(
        "create table if not exists snapshot.gpuledger_meta.usage_days"
        " (table_name varchar, usage_day date, fingerprint varchar)"
    )
    wanted = conn.execute(
        "select schema_name, table_name from duckdb_tables()"
        " where database_name = 'source' and list_contains(?, schema_name) order by 1, 2",
        [list(SCHEMAS)],
    ).fetchall()
    held = conn.execute(
        "select schema_name, table_name from duckdb_tables()"
        " where database_name = 'snapshot' and schema_name <> 'gpuledger_meta'"
    ).fetchall()
    for schema, table in sorted(set(held) - set(wanted)):
        conn.execute(f"drop table snapshot.{_quote(schema)}.{_quote(table)}")
        _record_days(conn, table, None)
    usage_day_marts = {
        name.removeprefix("usage_days__")
        for (name,) in conn.execute(
            "select table_name from duckdb_tables() where database_name = 'source'"
            " and schema_name = 'intermediate' and starts_with(table_name, 'usage_days__')"
        ).fetchall()
    }
    for schema, table in wanted:
        name = f"{_quote(schema)}.{_quote(table)}"
        columns = _columns(conn, "source", schema, table)
        by_day = schema == "marts" and table in usage_day_marts
        day = next((c for c, _ in columns if c in ("hour_start_at", "usage_date")), None)
        if by_day and day and columns == _columns(conn, "snapshot", schema, table):
            _copy_changed_days(conn, table, name, day)
            continue
        conn.execute(f"create schema if not exists snapshot.{_quote(schema)}")
        conn.execute(f"create or replace table snapshot.{name} as from source.{name}")
        _record_days(
            conn, table, "source.intermediate." + _quote(f"usage_days__{table}") if by_day else None
        )


def _record_days(conn: duckdb.DuckDBPyConnection, table: str, fingerprints: str | None) -> None:
    """Keep the fingerprints of the days the snapshot now holds of a table (none: not by day)."""
    conn.execute("delete from snapshot.gpuledger_meta.usage_days where table_name = ?", [table])
    if fingerprints is not None:
        conn.execute(
            "insert into snapshot.gpuledger_meta.usage_days"  # noqa: S608 - catalog names
            f" select ?, usage_day, fingerprint from {fingerprints}",
            [table],
        )


def _copy_changed_days(conn: duckdb.DuckDBPyConnection, table: str, name: str, day: str) -> None:
    """Copy again the days of a usage-day mart whose fingerprint changed, appeared or went."""
    fingerprints = "source.intermediate." + _quote(f"usage_days__{table}")
    changed = conn.execute(
        "select coalesce(now.usage_day, held.usage_day)"  # noqa: S608 - catalog names
        f" from {fingerprints} as now"
        " full outer join ("
        "  select * from snapshot.gpuledger_meta.usage_days where table_name = ?"
        " ) as held on now.usage_day = held.usage_day"
        " where now.fingerprint is distinct from held.fingerprint",
        [table],
    ).fetchall()
    if changed:
        days = [d for (d,) in changed]
        in_days = f"cast({_quote(day)} as date) in (select unnest(?::date[]))"
        conn.execute(f"delete from snapshot.{name} where {in_days}", [days])  # noqa: S608
        conn.execute(
            f"insert into snapshot.{name} select * from source.{name} where {in_days}",  # noqa: S608
            [days],
        )
    _record_days(conn, table, fingerprints)
