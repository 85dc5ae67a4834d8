"""Collector spool files kept as landed: raw.nvml_* read them in place of copied rows.

Copying 1.4 M windows a day into DuckDB tables cost about as much as everything downstream of
them. A day of spool files whose footers vouch for them (telemetry/load.py) is instead copied,
byte for byte, next to the warehouse file:

    <warehouse dir>/<warehouse stem>_raw/nvml/date=<day>/<token>/<landing-relative name, quoted>

``raw.kept_days`` records which token holds each day. ``raw.nvml_gpu_windows`` and
``raw.nvml_process_windows`` are views: the rows landed the other way (files read through Arrow,
and whatever an older version landed) in ``raw.nvml_*_rows``, plus these files, read with the
same column types, the timestamps as naive UTC, and ``date=`` as the partition date so a day's
filter opens only that day's files.

A day is replaced in the landing transaction: the new files wait under ``_incoming/<token>``
until ``raw.kept_days`` names the token, and only then move into place (``settle``). Any
connection (``pipelines.lib.warehouse.connect``) settles what an interrupted landing left: a
token the log names is moved into place, anything it does not name is removed. A landing that
fails before its commit therefore leaves the warehouse as it was.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

import duckdb

from collectors.spool import SPOOL_SCHEMA

SOURCE = "nvml"
WINDOW_COLUMNS = [f.name for f in SPOOL_SCHEMA if f.name != "processes"]
PROCESS_FIELDS = [f.name for f in SPOOL_SCHEMA.field("processes").type.value_type]
_TIMESTAMPS = {"window_start", "window_end"}


def root(conn: duckdb.DuckDBPyConnection) -> Path | None:
    """Where this warehouse keeps spool files; None for an in-memory database."""
    row = conn.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    if row is None or not row[0]:
        return None
    database = Path(row[0]).resolve()
    return database.parent / f"{database.stem}_raw" / SOURCE


def migrate(conn: duckdb.DuckDBPyConnection) -> None:
    """Rows landed into raw.nvml_* tables by an older version stay, as raw.nvml_*_rows."""
    for table in ("nvml_gpu_windows", "nvml_process_windows"):
        kind = conn.execute(
            "select table_type from information_schema.tables"
            " where table_schema = 'raw' and table_name = ?",
            [table],
        ).fetchone()
        if kind is not None and kind[0] == "BASE TABLE":
            conn.execute(f"alter table raw.{table} rename to {table}_rows")


@dataclass(frozen=True)
class DayStats:
    """What the landing learnt of a kept day's windows (see raw.kept_days)."""

    windows: int
    processes: int
    repeated_windows: int
    shared_windows: int


def day_stats(conn: duckdb.DuckDBPyConnection, files: list[Path]) -> DayStats:
    """One read of the files' keys and process lists. Repeats are counted on a hash of the key,
    so a collision can only report a repeat that is not one: the exact check then runs."""
    row = conn.execute(
        "select count(*), coalesce(sum(len(processes)), 0),"
        " count(*) - count(distinct hash(gpu_uuid, mig_instance_id, window_start)),"
        " count(*) filter (where len(processes) > 1)"
        " from read_parquet(?)",
        [[str(p) for p in files]],
    ).fetchone()
    assert row is not None
    return DayStats(*(int(v) for v in row))


def incoming(kept: Path, files: list[Path], names: list[str], token: str) -> None:
    """Copy the day's files where they wait for the landing's commit, as ``token``."""
    folder = kept / "_incoming" / token
    shutil.rmtree(folder, ignore_errors=True)  # what an interrupted copy left
    folder.mkdir(parents=True)
    try:
        for path, name in zip(files, names, strict=True):
            shutil.copyfile(path, folder / quote(name, safe=""))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def current(conn: duckdb.DuckDBPyConnection, day: date, token: str) -> DayStats | None:
    """The stats of the day's kept files if they are ``token``'s and in place, else None."""
    kept = root(conn)
    row = conn.execute(
        "select windows, processes, repeated_windows, shared_windows from raw.kept_days"
        " where source = ? and partition_date = ? and token = ?",
        [SOURCE, day, token],
    ).fetchone()
    if kept is None or row is None or not (kept / f"date={day.isoformat()}" / token).is_dir():
        return None
    return DayStats(*row)


def discard(kept: Path, token: str) -> None:
    """Remove files copied for a landing that did not commit."""
    shutil.rmtree(kept / "_incoming" / token, ignore_errors=True)


def record(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    token: str | None = None,
    files: int = 0,
    stats: DayStats | None = None,
) -> None:
    """Inside the landing transaction: the day's files are now ``token``'s (None: none kept)."""
    conn.execute("delete from raw.kept_days where source = ? and partition_date = ?", [SOURCE, day])
    if token is not None:
        assert stats is not None
        conn.execute(
            "insert into raw.kept_days values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                SOURCE,
                day,
                token,
                files,
                stats.windows,
                stats.processes,
                stats.repeated_windows,
                stats.shared_windows,
            ],
        )


def settle(conn: duckdb.DuckDBPyConnection) -> list[date]:
    """Make the kept files match raw.kept_days; returns days whose files had gone missing (their
    landing is forgotten, so the next run lands them again)."""
    kept = root(conn)
    if kept is None:
        return []
    tokens: dict[date, str] = dict(
        conn.execute(
            "select partition_date, token from raw.kept_days where source = ?", [SOURCE]
        ).fetchall()
    )
    missing = []
    for day, token in tokens.items():
        target = kept / f"date={day.isoformat()}" / token
        if target.is_dir():
            continue
        waiting = kept / "_incoming" / token
        if waiting.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            waiting.rename(target)
        else:
            missing.append(day)
    if missing:
        conn.execute(
            "delete from raw.kept_days where source = ? and list_contains(?, partition_date)",
            [SOURCE, missing],
        )
        conn.execute(
            "delete from raw.landing_log where source = ? and list_contains(?, partition_date)",
            [SOURCE, missing],
        )
    if kept.is_dir():
        for folder in kept.iterdir():
            folder_day = _day_of(folder.name)
            keep = tokens.get(folder_day) if folder_day and folder_day not in missing else None
            if folder.name == "_incoming" or keep is None:
                shutil.rmtree(folder, ignore_errors=True)
                continue
            for child in folder.iterdir():
                if child.name != keep:
                    shutil.rmtree(child, ignore_errors=True)
    refresh_views(conn, kept)
    return missing


def _day_of(name: str) -> date | None:
    try:
        return date.fromisoformat(name.removeprefix("date="))
    except ValueError:
        return None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _naive_utc(column: str) -> str:
    """The spool's UTC instant as the warehouse's naive UTC timestamp. Through the epoch, not
    timezone('UTC', ...): the same value, without a time zone lookup per row (a third of the
    time an hourly aggregate of the windows took)."""
    return f"make_timestamp(epoch_us({column})) as {column}"


def refresh_views(conn: duckdb.DuckDBPyConnection, kept: Path | None = None) -> None:
    """(Re)create the raw.nvml_* views: the rows tables, plus the kept files if there are any."""
    kept = kept if kept is not None else root(conn)
    has_files = kept is not None and bool(
        conn.execute("select count(*) from raw.kept_days where source = ?", [SOURCE]).fetchone()[0]  # type: ignore[index]
    )
    windows = [
        "select partition_date, source_file, "  # noqa: S608 - the code's own column names
        + ", ".join(WINDOW_COLUMNS)
        + " from raw.nvml_gpu_windows_rows"
    ]
    processes = [
        "select partition_date, host, gpu_uuid, window_start, window_end, "  # noqa: S608
        + ", ".join(PROCESS_FIELDS)
        + ", window_process_count from raw.nvml_process_windows_rows"
    ]
    if has_files:
        assert kept is not None
        files = _literal(f"{kept.as_posix()}/date=*/*/*.parquet")
        scan = (
            f"read_parquet({files}, hive_partitioning = true,"
            " hive_types = {'date': date}, filename = true)"
        )
        columns = ", ".join(_naive_utc(c) if c in _TIMESTAMPS else c for c in WINDOW_COLUMNS)
        windows.append(
            'select "date" as partition_date,'  # noqa: S608
            " url_decode(regexp_extract(filename, '[^/]+$')) as source_file,"
            f" {columns} from {scan}"
        )
        processes.append(
            "select partition_date, host, gpu_uuid, window_start, window_end, "  # noqa: S608
            + ", ".join(f"process.{name} as {name}" for name in PROCESS_FIELDS)
            + ", window_process_count from ("  # noqa: S608
            'select "date" as partition_date, host, gpu_uuid,'
            f" {_naive_utc('window_start')}, {_naive_utc('window_end')},"
            " unnest(processes) as process,"
            " cast(len(processes) as integer) as window_process_count"
            f" from {scan})"
        )
    conn.execute("create or replace view raw.nvml_gpu_windows as " + " union all ".join(windows))
    conn.execute(
        "create or replace view raw.nvml_process_windows as " + " union all ".join(processes)
    )
