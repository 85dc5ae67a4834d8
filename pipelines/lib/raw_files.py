"""Landed days kept as Parquet files beside the warehouse, read by raw views in place of rows.

Copying every telemetry window and every request into DuckDB tables cost about as much as all
the modelling downstream of them. Two sources are kept as files instead:

- ``nvml``: a day of collector spool files whose footers vouch for them (telemetry/load.py) is
  copied byte for byte, each file under its landing-relative name, quoted;
- ``inference_requests``: a day of request logs, once parsed and checked (inference/load.py),
  is written as one Parquet file of the raw columns.

    <warehouse dir>/<warehouse stem>_raw/<source>/date=<day>/<token>/...

``raw.file_days`` records which token holds each source-day: the day's input version (the one
raw.landing_log records), so landing the same files again copies and parses nothing. The raw
views (``raw.nvml_gpu_windows``, ``raw.nvml_process_windows``, ``raw.inference_requests``)
union the rows landed the other way (``raw.*_rows``: spool files read through Arrow, and rows
landed before files were kept) with these files, read with the rows' column types, and with
``date=`` as the partition date, so that a day's filter opens only that day's files.

A day is replaced in its landing transaction: the new files wait under ``_incoming/<token>``
until ``raw.file_days`` names the token, and only then move into place (``settle``). Every
writing connection (``pipelines.lib.warehouse.connect``) settles what an interrupted landing
left: a token the table names is moved into place, anything it does not name is removed. A
landing that fails before its commit therefore leaves the warehouse as it was.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

import duckdb

from collectors.spool import SPOOL_SCHEMA

NVML = "nvml"
REQUESTS = "inference_requests"
SOURCES = (NVML, REQUESTS)
# Raw tables that became views of their rows table and the kept files.
VIEWS = {
    "nvml_gpu_windows": NVML,
    "nvml_process_windows": NVML,
    "inference_requests": REQUESTS,
}
WINDOW_COLUMNS = [f.name for f in SPOOL_SCHEMA if f.name != "processes"]
PROCESS_FIELDS = [f.name for f in SPOOL_SCHEMA.field("processes").type.value_type]
_TIMESTAMPS = {"window_start", "window_end"}


def root(conn: duckdb.DuckDBPyConnection, source: str) -> Path | None:
    """Where this warehouse keeps the source's files; None for an in-memory database."""
    rows = conn.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    # fetchall, not fetchone, here and below: DuckDB refuses to register a table on a connection
    # with a result not fetched to its end.
    if not rows or not rows[0][0]:
        return None
    database = Path(rows[0][0]).resolve()
    return database.parent / f"{database.stem}_raw" / source


@dataclass(frozen=True)
class DayStats:
    """What the landing learnt of a kept day (see raw.file_days); the last three: NVML only."""

    rows: int
    processes: int | None = None
    repeated_windows: int | None = None
    shared_windows: int | None = None


def spool_day_stats(conn: duckdb.DuckDBPyConnection, files: list[Path]) -> DayStats:
    """One read of the spool files' keys and process lists. Repeats are counted on a hash of the
    key, so a collision can only report a repeat that is not one: the exact check then runs."""
    rows = conn.execute(
        "select count(*), coalesce(sum(len(processes)), 0),"
        " count(*) - count(distinct hash(gpu_uuid, mig_instance_id, window_start)),"
        " count(*) filter (where len(processes) > 1)"
        " from read_parquet(?)",
        [[str(p) for p in files]],
    ).fetchall()
    return DayStats(*(int(v) for v in rows[0]))


def incoming(kept: Path, token: str) -> Path:
    """An empty folder where the day's files wait for the landing's commit, as ``token``."""
    folder = kept / "_incoming" / token
    shutil.rmtree(folder, ignore_errors=True)  # what an interrupted landing left
    folder.mkdir(parents=True)
    return folder


def copy_in(folder: Path, files: list[Path], names: list[str]) -> None:
    """Copy files, byte for byte, under their landing-relative names (quoted, one level)."""
    for path, name in zip(files, names, strict=True):
        shutil.copyfile(path, folder / quote(name, safe=""))


def current(conn: duckdb.DuckDBPyConnection, source: str, day: date, token: str) -> DayStats | None:
    """The stats of the source-day's kept files if they are ``token``'s and in place."""
    kept = root(conn, source)
    rows = conn.execute(
        "select rows, processes, repeated_windows, shared_windows from raw.file_days"
        " where source = ? and partition_date = ? and token = ?",
        [source, day, token],
    ).fetchall()
    if kept is None or not rows or not (kept / f"date={day.isoformat()}" / token).is_dir():
        return None
    return DayStats(*rows[0])


def discard(kept: Path, token: str) -> None:
    """Remove files written for a landing that did not commit."""
    shutil.rmtree(kept / "_incoming" / token, ignore_errors=True)


def record(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    day: date,
    token: str | None = None,
    files: int = 0,
    stats: DayStats | None = None,
) -> None:
    """Inside the landing transaction: the day's files are now ``token``'s (None: none kept)."""
    conn.execute("delete from raw.file_days where source = ? and partition_date = ?", [source, day])
    if token is not None:
        assert stats is not None
        conn.execute(
            "insert into raw.file_days values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                source,
                day,
                token,
                files,
                stats.rows,
                stats.processes,
                stats.repeated_windows,
                stats.shared_windows,
            ],
        )


def settle(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, date]]:
    """Make the kept files match raw.file_days, and the raw views read them. Returns the
    source-days whose files had gone missing: their landing is forgotten (raw.landing_log), so
    the next run lands them again."""
    missing: list[tuple[str, date]] = []
    for source in SOURCES:
        kept = root(conn, source)
        if kept is not None:
            missing += [(source, day) for day in _settle(conn, source, kept)]
    refresh_views(conn)
    return missing


def _settle(conn: duckdb.DuckDBPyConnection, source: str, kept: Path) -> list[date]:
    tokens: dict[date, str] = dict(
        conn.execute(
            "select partition_date, token from raw.file_days where source = ?", [source]
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
        for table in ("file_days", "landing_log"):
            conn.execute(
                f"delete from raw.{table}"  # noqa: S608 - the code's own table names
                " where source = ? and list_contains(?, partition_date)",
                [source, missing],
            )
    if kept.is_dir():
        for folder in kept.iterdir():
            folder_day = _day_of(folder.name)
            keep = tokens.get(folder_day) if folder_day and folder_day not in missing else None
            if keep is None:  # _incoming, or a day no longer kept
                shutil.rmtree(folder, ignore_errors=True)
                continue
            for child in folder.iterdir():
                if child.name != keep:
                    shutil.rmtree(child, ignore_errors=True)
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


def _scan(conn: duckdb.DuckDBPyConnection, source: str, filename: bool = False) -> str | None:
    """read_parquet of the source's kept files, or None when no day of it is kept."""
    kept = root(conn, source)
    count = conn.execute("select count(*) from raw.file_days where source = ?", [source]).fetchall()
    if kept is None or not count[0][0]:
        return None
    files = _literal(f"{kept.as_posix()}/date=*/*/*.parquet")
    return f"read_parquet({files}, hive_partitioning = true, hive_types = {{'date': date}}" + (
        ", filename = true)" if filename else ")"
    )


def refresh_views(conn: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the raw views: each rows table, plus the source's kept files if any."""
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
    spool = _scan(conn, NVML, filename=True)
    if spool is not None:
        columns = ", ".join(_naive_utc(c) if c in _TIMESTAMPS else c for c in WINDOW_COLUMNS)
        windows.append(
            'select "date" as partition_date,'  # noqa: S608
            " url_decode(regexp_extract(filename, '[^/]+$')) as source_file,"
            f" {columns} from {spool}"
        )
        processes.append(
            "select partition_date, host, gpu_uuid, window_start, window_end, "  # noqa: S608
            + ", ".join(f"process.{name} as {name}" for name in PROCESS_FIELDS)
            + ", window_process_count from ("  # noqa: S608
            'select "date" as partition_date, host, gpu_uuid,'
            f" {_naive_utc('window_start')}, {_naive_utc('window_end')},"
            " unnest(processes) as process,"
            " cast(len(processes) as integer) as window_process_count"
            f" from {spool})"
        )
    request_columns = [
        row[0]
        for row in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'raw'"
            " and table_name = 'inference_requests_rows' and column_name <> 'partition_date'"
            " order by ordinal_position"
        ).fetchall()
    ]
    requests = [
        f"select partition_date, {', '.join(request_columns)}"  # noqa: S608
        " from raw.inference_requests_rows"
    ]
    logs = _scan(conn, REQUESTS)
    if logs is not None:
        requests.append(
            f'select "date" as partition_date, {", ".join(request_columns)} from {logs}'  # noqa: S608
        )
    database = root(conn, "") or Path(":memory:")
    for view, parts in (
        ("nvml_gpu_windows", windows),
        ("nvml_process_windows", processes),
        ("inference_requests", requests),
    ):
        sql = f"create or replace view raw.{view} as " + " union all ".join(parts)
        # Binding a view over the kept files lists them all: skip what this process already
        # created (a landing settles after every day it lands).
        if _created.get((database, view)) != sql or not _exists(conn, view):
            conn.execute(sql)
            _created[(database, view)] = sql


_created: dict[tuple[Path, str], str] = {}


def _exists(conn: duckdb.DuckDBPyConnection, view: str) -> bool:
    return bool(
        conn.execute(
            "select count(*) from duckdb_views() where schema_name = 'raw' and view_name = ?",
            [view],
        ).fetchall()[0][0]
    )
