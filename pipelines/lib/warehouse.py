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

from pipelines.lib import raw_files
from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name, raw_root

SQL_DIR = Path(__file__).parent / "sql"
LOG = logging.getLogger(__name__)


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


# The raw layer's layout: raised when a table or column of raw_schema.sql changes (a warehouse of
# another layout is refused with the command that rebuilds it, see connect).
LAYOUT_VERSION = 6

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
        _check_layout(conn, path)
        conn.execute(read_sql("raw_schema.sql"))
        conn.execute(
            "insert into raw.layout select ? where not exists (select 1 from raw.layout)",
            [LAYOUT_VERSION],
        )
        for table, key in raw_files.settle(conn):
            LOG.warning("the raw files of %s %s are missing; they land again", table, key)
        yield conn
    finally:
        conn.close()


def _check_layout(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    """WarehouseUnusable when the warehouse holds raw tables of another layout than this
    version's (raw.layout): nothing is migrated in place, the warehouse is rebuilt."""
    layout = layout_version(conn)
    if layout is not None and layout != LAYOUT_VERSION:
        raw = raw_root(path)
        raise WarehouseUnusable(
            f"{path} holds raw tables of layout {layout or 'from before layouts were numbered'},"
            f" this version reads layout {LAYOUT_VERSION}. Move {path} and {raw} aside (or"
            " delete them) and run again: the warehouse is rebuilt from the landing zone"
        )


def layout_version(conn: duckdb.DuckDBPyConnection) -> int | None:
    """The warehouse's raw layout; 0 for raw tables of before layouts were numbered, None for
    a warehouse without raw tables."""
    tables = {
        str(name)
        for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }
    if not tables:
        return None
    if "layout" not in tables:
        return 0
    rows = conn.execute("select max(version) from raw.layout").fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def input_version(files: list[Path], landing: Path) -> str:
    """A day partition's version: its files' landing-relative names, sizes and mtimes (a copy
    made with its times kept, as a backup restore or `cp -p` does, is the same version)."""
    stats = [(lineage_name(p, landing), p.stat()) for p in files]
    listing = sorted(f"{name}:{stat.st_size}:{stat.st_mtime_ns}" for name, stat in stats)
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()[:20]


# Sources whose data may vanish on purpose: comma-separated raw.landing_log sources (nvml,
# inference_requests, dcgm_samples, inference_metric_samples, contracts, ...) or "all".
ALLOW_REMOVAL = "GPULEDGER_ALLOW_REMOVAL"


def removal_allowed(source: str) -> bool:
    allowed = {s.strip() for s in os.environ.get(ALLOW_REMOVAL, "").split(",")}
    return bool(allowed & {source, "all"})


def refuse_removal(where: Path | str, source: str, what: str, held: str) -> None:
    """Fail a landing that would empty what the warehouse holds, unless ALLOW_REMOVAL says so:
    a folder that vanished (an unmounted share, a moved landing zone) must not lower a cost."""
    if removal_allowed(source):
        return
    raise LandingError(
        where,
        f"holds no {what}, but the warehouse holds {held} landed before; a folder that"
        " vanished would silently drop them",
        expected=(
            "the files back in place, or, when the removal is intended,"
            f" `gpuledger run --allow-removal {source}` ({ALLOW_REMOVAL}={source})"
        ),
    )


def log_landing(
    conn: duckdb.DuckDBPyConnection, source: str, day: date, files: list[Path], landing: Path
) -> None:
    """Record the version of a day just landed (call inside the landing transaction). A day
    landed from files before and from none now is refused (refuse_removal)."""
    if not files:
        before = conn.execute(
            "select files from raw.landing_log where source = ? and partition_date = ?",
            [source, day],
        ).fetchone()
        if before is not None and before[0]:
            refuse_removal(landing, source, f"{source} file of {day}", f"{before[0]} file(s)")
    conn.execute(
        "insert or replace into raw.landing_log values (?, ?, ?, ?)",
        [source, day, input_version(files, landing), len(files)],
    )


class WarehouseUnusable(Exception):
    """The warehouse path cannot be opened for writing; the message says why and what to do."""


def lock_holder(path: Path) -> str | None:
    """Who holds the warehouse open for writing (DuckDB's words), or None if nobody does.
    WarehouseUnusable when the path is a folder, not a DuckDB file, damaged, or not writable."""
    if path.is_dir():
        raise WarehouseUnusable(
            f"{path} is a folder, not a DuckDB file: point --warehouse (GPULEDGER_WAREHOUSE) at"
            f" a file, such as {path / 'gpuledger.duckdb'}"
        )
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseUnusable(
            f"cannot create the warehouse folder {folder} ({exc.strerror}): choose a folder you"
            " can write to with --warehouse (GPULEDGER_WAREHOUSE)"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.R_OK | os.W_OK)
    ):
        raise WarehouseUnusable(
            f"cannot write {path} (permission denied): choose a folder you can write to with"
            " --warehouse (GPULEDGER_WAREHOUSE), or fix the permissions"
        )
    if not path.exists():
        return None
    try:
        conn = duckdb.connect(str(path), config=SETTINGS)
    except duckdb.Error as exc:
        message = str(exc)
        if "lock" in message.lower():
            held = message.split("Conflicting lock is held in", 1)[-1].split(". See also")[0]
            return held.strip() or message
        raise WarehouseUnusable(
            f"{path} is not a DuckDB database this DuckDB can open, or it is damaged"
            f" ({message.removeprefix('IO Error: ')}). Move it aside and run again: the"
            " warehouse is rebuilt from the landing zone"
        ) from None
    try:
        _check_layout(conn, path)
    finally:
        conn.close()
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


@contextmanager
def replacing(conn: duckdb.DuckDBPyConnection) -> Iterator[raw_files.Staged]:
    """One landing, all or nothing: the partitions it writes (``staged.rows``) and what it
    executes on ``conn`` inside the block commit together; on any error neither the files nor
    the tables change."""
    staged = raw_files.Staged(conn)
    try:
        with transaction(conn):
            yield staged
            staged.record()
    except BaseException:
        staged.discard()
        raise
    raw_files.settle(conn, staged.partitions())


def replace_partition(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    partition_value: str | date | None,
    rows: pa.Table,
    quarantine: Quarantine | None = None,
    landed: tuple[str, date, list[Path], Path] | None = None,
    also: dict[str, pa.Table] | None = None,
) -> None:
    """Replace one partition of a raw table's files (and its quarantined rows), all or nothing.

    ``table``: a raw table of pipelines/lib/raw_files.py; ``partition_value``: its partition
    (None: a table replaced whole). ``landed`` (source, day, files, landing zone) records the
    day's version in raw.landing_log too. ``also``: more raw tables with the same partition,
    replaced with it.
    """
    with replacing(conn) as staged:
        for name, table_rows in {table: rows, **(also or {})}.items():
            staged.rows(name, partition_value, table_rows)
        if landed is not None:
            log_landing(conn, *landed)
        if quarantine is not None:
            replace_quarantine(conn, quarantine)


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
