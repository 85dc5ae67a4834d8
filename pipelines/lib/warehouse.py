"""DuckDB access for the raw assets: one writer, partitions replaced in one transaction."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.lib import kept_files
from pipelines.lib.paths import lineage_name

SQL_DIR = Path(__file__).parent / "sql"
LOG = logging.getLogger(__name__)


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


# DuckDB takes 80 % of the machine's memory by default; the pipeline bounds it (and spills to
# disk beyond it) so that a fleet's history fits beside everything else on the host.
MEMORY_LIMIT = os.environ.get("GPULEDGER_DUCKDB_MEMORY_LIMIT", "1.5GB")
# Rows land in no particular order (every reader filters and sorts by its columns), which lets
# DuckDB write them from all threads without putting them back in order: landing a day is
# 15-25 % faster. dbt's connection has the same settings (dbt_project/profiles.yml).
SETTINGS: dict[str, str | bool | int | float | list[str]] = {
    "memory_limit": MEMORY_LIMIT,
    "preserve_insertion_order": False,
}


@contextmanager
def connect(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path), config=SETTINGS)
    try:
        kept_files.migrate(conn)
        conn.execute(read_sql("raw_schema.sql"))
        for source, day in kept_files.settle(conn):
            LOG.warning("the kept %s files of %s are missing; the day lands again", source, day)
        yield conn
    finally:
        conn.close()


def input_version(files: list[Path], landing: Path) -> str:
    """A day partition's version: its files' landing-relative names, sizes and mtimes (a copy
    made with its times kept, as a backup restore or `cp -p` does, is the same version)."""
    stats = [(lineage_name(p, landing), p.stat()) for p in files]
    listing = sorted(f"{name}:{stat.st_size}:{stat.st_mtime_ns}" for name, stat in stats)
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()[:20]


def log_landing(
    conn: duckdb.DuckDBPyConnection, source: str, day: date, files: list[Path], landing: Path
) -> None:
    """Record the version of a day just landed (call inside the landing transaction)."""
    conn.execute(
        "insert or replace into raw.landing_log values (?, ?, ?, ?)",
        [source, day, input_version(files, landing), len(files)],
    )


def lock_holder(path: Path) -> str | None:
    """Who holds the warehouse open for writing (DuckDB's words), or None if nobody does."""
    if not path.exists():
        return None
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" not in message.lower():
            raise
        held = message.split("Conflicting lock is held in", 1)[-1].split(". See also")[0]
        return held.strip() or message
    return None


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: on any error the partition keeps what it had before."""
    conn.execute("begin transaction")
    try:
        yield conn
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


@dataclass(frozen=True)
class Rejected:
    """An input record that could not be landed, and why."""

    source_file: str
    source_row: int
    reason: str
    raw_record: str


@dataclass(frozen=True)
class Quarantine:
    source: str
    partition_key: str
    rows: list[Rejected]
    # True: the source's quarantine is replaced whole (its files are all re-read every run).
    whole_source: bool = False


def replace_partition(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    partition_column: str,
    partition_value: object,
    rows: pa.Table,
    quarantine: Quarantine | None = None,
    landed: tuple[str, date, list[Path], Path] | None = None,
) -> None:
    """Replace one partition of a raw table (and its quarantined rows) in one transaction.

    ``table`` and ``partition_column`` are the code's own identifiers, never input. ``landed``
    (source, day, files, landing zone) records the day's version in raw.landing_log too.
    """
    columns = ", ".join(f'"{name}"' for name in rows.column_names)
    conn.register("landing_rows", rows)
    try:
        with transaction(conn):
            if landed is not None:
                log_landing(conn, *landed)
            conn.execute(
                f"delete from {table} where {partition_column} = ?",  # noqa: S608
                [partition_value],
            )
            if quarantine is not None:
                replace_quarantine(conn, quarantine)
            conn.execute(
                f"insert into {table} ({columns}) select {columns} from landing_rows"  # noqa: S608
            )
    finally:
        conn.unregister("landing_rows")


def replace_quarantine(conn: duckdb.DuckDBPyConnection, quarantine: Quarantine) -> None:
    """Inside a landing transaction: the source's (or partition's) quarantined rows, replaced."""
    if quarantine.whole_source:
        conn.execute("delete from raw.quarantine where source = ?", [quarantine.source])
    else:
        conn.execute(
            "delete from raw.quarantine where source = ? and partition_key = ?",
            [quarantine.source, quarantine.partition_key],
        )
    if quarantine.rows:
        conn.executemany(
            "insert into raw.quarantine values (?, ?, ?, ?, ?, ?)",
            [
                [
                    quarantine.source,
                    quarantine.partition_key,
                    r.source_file,
                    r.source_row,
                    r.reason,
                    r.raw_record,
                ]
                for r in quarantine.rows
            ],
        )
