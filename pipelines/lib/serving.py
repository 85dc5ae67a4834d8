"""Publish what BI tools read: a read-only DuckDB snapshot and Parquet exports of the marts.

DuckDB allows one writer; dashboards must never hold the pipeline's file open. After each
successful transform the marts and reference tables are copied into a temporary file
beside ``warehouse/serving/gpuledger.duckdb`` and renamed over it: a connection already open on
the old snapshot keeps reading the old file (the rename swaps the directory entry, not the
inode), a new one sees the new snapshot whole, and a failed publish leaves the old one in place.
Each mart is exported as Parquet the same way (temp file, rename), and
``warehouse/exports/_manifest.json`` is written last with the row counts, the files and the time.
The exports are written to temporary files first and put in place (renamed, stale files
removed) only once every one was written and the snapshot was renamed: a publish that fails
part-way changes no export, so the exports, the manifest and the snapshot stay one publish's.

The temporary file starts as a copy of the current snapshot, and the facts (the marts with a
day column, ``hour_start_at`` or ``usage_date``) are brought up to date day by day: a day's
fingerprint is its count of rows and the sum of their hashes, worked out in the warehouse and in
the snapshot, and only the days whose fingerprints differ are copied again. Every other table is
copied whole.

The facts are exported one file per UTC month of their day column,
``warehouse/exports/<mart>/<YYYY-MM>.parquet``, and a month is written again only when the
fingerprint of one of its days changed (the manifest keeps each month's), so a daily run writes
the month it touched, not the mart's whole history. Every other mart is one file,
``warehouse/exports/<mart>.parquet``, written whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

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


@dataclass
class _Changes:
    """The export files a publish will put in place and remove, once everything was written."""

    renames: list[tuple[Path, Path]] = field(default_factory=list)  # (written, final name)
    removals: list[Path] = field(default_factory=list)  # files, then emptied folders

    def apply(self) -> None:
        for part, target in self.renames:
            target.parent.mkdir(exist_ok=True)  # a mart's month folder, new with it
            part.replace(target)
        for path in self.removals:
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
            else:
                path.unlink(missing_ok=True)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish(warehouse: Path, serving: Path, exports: Path) -> Published:
    serving.mkdir(parents=True, exist_ok=True)
    exports.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    snapshot = serving / SNAPSHOT_NAME
    tmp = serving / f".{SNAPSHOT_NAME}.{stamp}.tmp"
    conn = duckdb.connect()
    days: dict[str, dict[str, str]] = {}  # fact -> its day fingerprints in the warehouse
    try:
        conn.execute(f"attach {_quote_literal(warehouse)} as source (read_only)")
        if _reusable(snapshot):
            shutil.copyfile(snapshot, tmp)
        version = _quote_literal(STORAGE_VERSION)
        conn.execute(f"attach {_quote_literal(tmp)} as snapshot (storage_version {version})")
        try:
            _bring_up_to_date(conn, days)
            _copy_comments(conn)
        finally:
            conn.execute("detach snapshot")
        conn.execute("use source")
        changes = _Changes()
        previous = _previous_manifest(exports)
        counts, files, months = _export(conn, exports, stamp, previous, changes, days)
    except BaseException:
        tmp.unlink(missing_ok=True)
        for leftover in exports.glob(f".*.{stamp}.tmp"):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    tmp.replace(snapshot)
    changes.apply()
    published_at = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = exports / "_manifest.json"
    manifest_tmp = exports / f"._manifest.{stamp}.tmp"
    manifest_tmp.write_text(
        json.dumps(
            {"published_at": published_at, "rows": counts, "files": files, "months": months},
            indent=2,
            sort_keys=True,
        )
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


def _bring_up_to_date(conn: duckdb.DuckDBPyConnection, days: dict[str, dict[str, str]]) -> None:
    """Make the attached ``snapshot`` hold what ``source`` holds in SCHEMAS. Its own bookkeeping
    is in ``gpuledger_meta``: the storage version it was written in. ``days`` keeps the day
    fingerprints of the warehouse's facts worked out here, for the exports."""
    conn.execute("create schema if not exists snapshot.gpuledger_meta")
    conn.execute(
        "create or replace table snapshot.gpuledger_meta.snapshot as select ? as storage_version",
        [STORAGE_VERSION],
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
    for schema, table in wanted:
        name = f"{_quote(schema)}.{_quote(table)}"
        columns = _columns(conn, "source", schema, table)
        day = _day_column(columns) if schema == "marts" else None
        if day and columns == _columns(conn, "snapshot", schema, table):
            days[table] = _copy_changed_days(conn, name, day)
            continue
        conn.execute(f"create schema if not exists snapshot.{_quote(schema)}")
        conn.execute(f"create or replace table snapshot.{name} as from source.{name}")


def _copy_comments(conn: duckdb.DuckDBPyConnection) -> None:
    """dbt's descriptions (persisted as comments) on the snapshot's tables and columns, so BI
    tools and `duckdb_columns()` show them: a table copied with `create table as` has none.
    Only the comments that differ are written."""
    tables = conn.execute(
        "select schema_name, table_name, comment from duckdb_tables()"
        " where database_name = 'source' and list_contains(?, schema_name) and comment is not null"
        " except"
        " select schema_name, table_name, comment from duckdb_tables()"
        " where database_name = 'snapshot'",
        [list(SCHEMAS)],
    ).fetchall()
    for schema, table, comment in tables:
        conn.execute(
            f"comment on table snapshot.{_quote(schema)}.{_quote(table)}"
            f" is {_quote_literal(comment)}"
        )
    columns = conn.execute(
        "select schema_name, table_name, column_name, comment from duckdb_columns()"
        " where database_name = 'source' and list_contains(?, schema_name) and comment is not null"
        " except"
        " select schema_name, table_name, column_name, comment from duckdb_columns()"
        " where database_name = 'snapshot'",
        [list(SCHEMAS)],
    ).fetchall()
    for schema, table, column, comment in columns:
        conn.execute(
            f"comment on column snapshot.{_quote(schema)}.{_quote(table)}.{_quote(column)}"
            f" is {_quote_literal(comment)}"
        )


def day_fingerprints(conn: duckdb.DuckDBPyConnection, table: str, day: str) -> dict[str, str]:
    """'YYYY-MM-DD' -> the day's count of rows and sum of row hashes, of a table (a qualified
    name) by its column ``day``: the same rows in any order give the same fingerprint."""
    return {
        str(usage_day): str(fingerprint)
        for usage_day, fingerprint in conn.execute(
            f"select cast({_quote(day)} as date),"  # noqa: S608 - names from the catalog
            " cast(count(*) as varchar) || ':' || cast(sum(hash(rows)) as varchar)"
            f" from {table} as rows group by 1"
        ).fetchall()
    }


def _copy_changed_days(conn: duckdb.DuckDBPyConnection, name: str, day: str) -> dict[str, str]:
    """Copy again the days of a fact whose rows differ between the warehouse and the snapshot;
    the warehouse's day fingerprints."""
    now = day_fingerprints(conn, f"source.{name}", day)
    held = day_fingerprints(conn, f"snapshot.{name}", day)
    days = sorted(d for d in now.keys() | held.keys() if now.get(d) != held.get(d))
    if "None" in days:
        # Rows without a day cannot be copied by day: the table is copied whole.
        conn.execute(f"create or replace table snapshot.{name} as from source.{name}")
        return now
    if days:
        in_days = f"cast({_quote(day)} as date) in (select unnest(?::date[]))"
        conn.execute(f"delete from snapshot.{name} where {in_days}", [days])  # noqa: S608
        conn.execute(
            f"insert into snapshot.{name} select * from source.{name} where {in_days}",  # noqa: S608
            [days],
        )
    return now


def _day_column(columns: list[tuple[str, str]]) -> str | None:
    return next((c for c, _ in columns if c in ("hour_start_at", "usage_date")), None)


def _previous_manifest(exports: Path) -> dict[str, Any]:
    """The manifest the last publish wrote; empty when there is none or it cannot be read (every
    file is then written again)."""
    try:
        manifest = json.loads((exports / "_manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _export(
    conn: duckdb.DuckDBPyConnection,
    exports: Path,
    stamp: str,
    previous: dict[str, Any],
    changes: _Changes,
    days: dict[str, dict[str, str]],
) -> tuple[dict[str, int], dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Write the marts' Parquet exports to temporary files, the renames and removals that put
    them in place noted in ``changes``: (rows, files, months) of every mart, for the manifest.
    ``days``: the facts' day fingerprints already worked out (the others are worked out here)."""
    marts = [
        str(row[0])
        for row in conn.execute(
            "select table_name from information_schema.tables"
            " where table_schema = 'marts' order by 1"
        ).fetchall()
    ]
    held = previous.get("months")
    held = held if isinstance(held, dict) else {}
    counts: dict[str, int] = {}
    files: dict[str, list[str]] = {}
    months: dict[str, dict[str, Any]] = {}
    for mart in marts:
        whole = exports / f"{mart}.parquet"
        folder = exports / mart
        columns = _columns(conn, "source", "marts", mart)
        day = _day_column(columns)
        if day:
            kept = held.get(mart)
            months[mart] = _export_by_month(
                conn,
                folder,
                mart,
                (day, columns, days.get(mart)),
                (kept if isinstance(kept, dict) else {}, stamp),
                changes,
            )
            counts[mart] = sum(int(m["rows"]) for m in months[mart].values())
            files[mart] = [f"{mart}/{month}.parquet" for month in sorted(months[mart])]
            changes.removals.append(whole)  # the single file of an earlier version
            continue
        part = exports / f".{mart}.{stamp}.tmp"
        counts[mart] = _copy(conn, f"from marts.{_quote(mart)}", part)
        changes.renames.append((part, whole))
        files[mart] = [whole.name]
        _remove_month_files(folder, changes)  # a mart that was exported by month before
    # The exports of marts that are gone (named in the last manifest: nothing else is touched).
    gone = previous.get("rows")
    for mart in sorted(set(gone if isinstance(gone, dict) else {}) - set(marts)):
        if mart and "/" not in mart and not mart.startswith("."):
            changes.removals.append(exports / f"{mart}.parquet")
            _remove_month_files(exports / mart, changes)
    return counts, files, months


def _export_by_month(
    conn: duckdb.DuckDBPyConnection,
    folder: Path,
    mart: str,
    shape: tuple[str, list[tuple[str, str]], dict[str, str] | None],
    previous: tuple[dict[str, Any], str],
    changes: _Changes,
) -> dict[str, dict[str, Any]]:
    """Export a fact as one file per month of its day column, writing only the months
    whose fingerprint (its days' fingerprints and the mart's columns) differs from the one held,
    or whose file is missing; files of months the mart no longer has are removed (in
    ``changes``). ``shape``: the day column, the columns and the days' fingerprints if known;
    ``previous``: the months held (by the last manifest) and this publish's stamp. Returns
    {month: {fingerprint, rows}}."""
    day, column_list, known = shape
    held, stamp = previous
    columns = json.dumps(column_list)
    by_month: dict[str, list[str]] = {}
    fingerprints = (
        known if known is not None else day_fingerprints(conn, f"marts.{_quote(mart)}", day)
    )
    for usage_day, fingerprint in sorted(fingerprints.items()):
        if usage_day != "None":  # rows without a day: the count below stops the publish
            by_month.setdefault(usage_day[:7], []).append(f"{usage_day}={fingerprint}")
    months: dict[str, dict[str, Any]] = {}
    for month, days in sorted(by_month.items()):
        fingerprint = hashlib.sha256((columns + ",".join(days)).encode()).hexdigest()
        target = folder / f"{month}.parquet"
        before = held.get(month)
        if (
            isinstance(before, dict)
            and before.get("fingerprint") == fingerprint
            and target.exists()
        ):
            months[month] = before
            continue
        start = date.fromisoformat(f"{month}-01")
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        rows = f"from marts.{_quote(mart)} where {_quote(day)} >= ? and {_quote(day)} < ?"
        # Beside the folder (which a new mart gets only when the publish succeeds).
        part = folder.parent / f".{mart}.{month}.{stamp}.tmp"
        count = _copy(conn, rows, part, [start, end])
        changes.renames.append((part, target))
        months[month] = {"fingerprint": fingerprint, "rows": count}
    changes.removals += [p for p in folder.glob("*.parquet") if p.stem not in months]
    exported, total = sum(int(m["rows"]) for m in months.values()), _count(conn, mart)
    if exported != total:
        raise RuntimeError(
            f"marts.{mart} holds {total} rows but its months hold {exported}: rows without a"
            f" {day} would be left out of the exports"
        )
    return months


def _copy(
    conn: duckdb.DuckDBPyConnection, rows: str, part: Path, parameters: list[Any] | None = None
) -> int:
    """Write `select * <rows>` to the Parquet file `part`; the number of rows written."""
    [(count,)] = conn.execute(
        f"copy (select * {rows}) to {_quote_literal(part)} (format parquet, compression zstd)",
        parameters or [],
    ).fetchall()
    return int(count)


def _count(conn: duckdb.DuckDBPyConnection, mart: str) -> int:
    [(count,)] = conn.execute(
        f"select count(*) from marts.{_quote(mart)}"  # noqa: S608 - names from the catalog
    ).fetchall()
    return int(count)


def _remove_month_files(folder: Path, changes: _Changes) -> None:
    """Remove (in ``changes``) an exports folder of month files: only those; the folder goes when
    nothing else is left in it."""
    if not folder.is_dir():
        return
    changes.removals += [*folder.glob("*.parquet"), folder]
