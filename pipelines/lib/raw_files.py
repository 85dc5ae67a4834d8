"""The raw layer: every source lands as Parquet files beside the warehouse, one folder a partition.

    <warehouse dir>/<warehouse stem>_raw/<table>/<key>=<value>/<token>/*.parquet   (partitioned)
    <warehouse dir>/<warehouse stem>_raw/<table>/<token>/*.parquet                 (replaced whole)

The folders are Hive-style, so what DuckDB reads (dbt's sources, by their external location,
dbt_project/models/staging/_sources.yml) is what Spark or any engine reads. The files hold the
columns of ``sql/raw_tables.sql`` in its types, the partition key in the folder name only; the
NVML spool keeps the collector's own files, copied byte for byte (docs/spool-schema.md).

``raw.partitions`` (in the warehouse) records which token holds each partition. A partition is
replaced in its landing transaction: the new files wait under ``<table>/_incoming/<token>``
until ``raw.partitions`` names the token, and only then move into place (``settle``). Every
writing connection (``pipelines.lib.warehouse.connect``) settles what an interrupted landing
left: a token the table names is moved into place, anything it does not name is removed. A
landing that fails before its commit therefore leaves the raw layer as it was.

Each table also holds one file of no rows (``schema``, under a partition no data has), so
that a source nothing has landed in yet reads as empty, with its columns, rather than failing.
``raw.<table>`` in the warehouse is a view of the files, for SQL users and the pipeline's own
checks.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from urllib.parse import quote

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from collectors.spool import SPOOL_SCHEMA
from pipelines.lib.paths import raw_root

SQL_DIR = Path(__file__).parent / "sql"
INCOMING = "_incoming"
SCHEMA = "schema"


@dataclass(frozen=True)
class RawTable:
    """One raw table: its folder, and the partition key in the folder names (None: whole)."""

    name: str
    key: str | None = None
    key_type: str = "varchar"
    # raw.landing_log's name for the source, where the landing records its input's version.
    log_source: str | None = None

    @property
    def placeholder(self) -> str:
        """The partition value of the schema file: one no data has."""
        return "0001-01-01" if self.key_type == "date" else SCHEMA

    def glob(self, root: Path) -> str:
        depth = "*/*/*.parquet" if self.key else "*/*.parquet"
        return f"{(root / self.name).as_posix()}/{depth}"


NVML = "nvml_spool"
REQUESTS = "inference_requests"
TABLES = {
    table.name: table
    for table in (
        RawTable("aws_cur_line_items", "billing_period"),
        RawTable(NVML, "partition_date", "date", log_source="nvml"),
        RawTable("dcgm_samples", "partition_date", "date", log_source="dcgm_samples"),
        RawTable(
            "inference_metric_samples",
            "partition_date",
            "date",
            log_source="inference_metric_samples",
        ),
        RawTable(REQUESTS, "partition_date", "date", log_source=REQUESTS),
        RawTable("focus_charges", "billing_period", log_source="focus_charges"),
        RawTable("gcp_billing_export", "invoice_month", log_source="gcp_billing_export"),
        RawTable("gcp_billing_credits", "invoice_month"),
        RawTable("list_prices", "provider"),
        RawTable("exchange_rates"),
        RawTable("contracts"),
        RawTable("contract_resources"),
        RawTable("api_prices"),
        RawTable("api_equivalents"),
        RawTable("service_objectives"),
        RawTable("host_aliases"),
    )
}
WINDOW_COLUMNS = [f.name for f in SPOOL_SCHEMA if f.name != "processes"]
PROCESS_FIELDS = [f.name for f in SPOOL_SCHEMA.field("processes").type.value_type]


def root(conn: duckdb.DuckDBPyConnection) -> Path:
    """The raw folder of the warehouse ``conn`` has open."""
    rows = conn.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    # fetchall, not fetchone, here and below: DuckDB refuses to register a table on a connection
    # with a result not fetched to its end.
    if not rows or not rows[0][0]:
        raise ValueError("the raw layer is files beside a warehouse file: open a file, not memory")
    return raw_root(Path(rows[0][0]).resolve())


@cache
def column_types(table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a raw table's files, as sql/raw_tables.sql declares them."""
    conn = duckdb.connect()
    try:
        conn.execute((SQL_DIR / "raw_tables.sql").read_text())
        rows = conn.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    finally:
        conn.close()
    key = TABLES[table].key
    return [(str(name), str(kind)) for name, kind in rows if name != key]


@dataclass(frozen=True)
class DayStats:
    """What the landing learnt of a partition (see raw.partitions); the last three: NVML only."""

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


def new_token() -> str:
    return uuid.uuid4().hex[:20]


def incoming(conn: duckdb.DuckDBPyConnection, table: str, token: str) -> Path:
    """An empty folder where a partition's files wait for the landing's commit, as ``token``."""
    folder = root(conn) / table / INCOMING / token
    shutil.rmtree(folder, ignore_errors=True)  # what an interrupted landing left
    folder.mkdir(parents=True)
    return folder


def copy_in(folder: Path, files: list[Path], names: list[str]) -> None:
    """Copy files, byte for byte, under their landing-relative names (quoted, one level)."""
    for path, name in zip(files, names, strict=True):
        shutil.copyfile(path, folder / quote(name, safe=""))


def write_rows(rows: pa.Table, table: str, path: Path) -> None:
    """Write ``rows`` as ``path`` in the table's declared column types (a column ``rows`` lacks
    is null), in their order: the same rows give the same bytes."""
    present = set(rows.column_names)
    select = ", ".join(
        f'cast("{name}" as {kind}) as "{name}"' if name in present else f'null::{kind} as "{name}"'
        for name, kind in column_types(table)
    )
    # A connection of its own, one thread and insertion order kept: deterministic files.
    conn = duckdb.connect(config={"threads": 1, "preserve_insertion_order": True})
    try:
        conn.register("raw_rows", rows)
        conn.execute(
            f"copy (select {select} from raw_rows) to '{_quoted(path)}' (format parquet)"  # noqa: S608 - declared names
        )
    finally:
        conn.close()


def _quoted(path: Path) -> str:
    return path.as_posix().replace("'", "''")


def partition_folder(base: Path, table: str, value: str | None) -> Path:
    """The folder of a partition (``base``: the raw folder); a whole table's is its own."""
    spec = TABLES[table]
    return base / table / f"{spec.key}={value}" if spec.key else base / table


def current(
    conn: duckdb.DuckDBPyConnection, table: str, value: str | date, token: str
) -> DayStats | None:
    """The stats of the partition's files if they are ``token``'s and in place."""
    key = str(value) if value is not None else ""
    rows = conn.execute(
        "select rows, processes, repeated_windows, shared_windows from raw.partitions"
        " where table_name = ? and partition_key = ? and token = ?",
        [table, key, token],
    ).fetchall()
    if not rows or not (partition_folder(root(conn), table, key or None) / token).is_dir():
        return None
    return DayStats(*rows[0])


def discard(conn: duckdb.DuckDBPyConnection, table: str, token: str) -> None:
    """Remove files written for a landing that did not commit."""
    shutil.rmtree(root(conn) / table / INCOMING / token, ignore_errors=True)


def record(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    value: str | date | None,
    token: str | None = None,
    files: int = 0,
    stats: DayStats | None = None,
) -> None:
    """Inside the landing transaction: the partition is now ``token``'s (None: it is empty)."""
    key = str(value) if value is not None else ""
    conn.execute(
        "delete from raw.partitions where table_name = ? and partition_key = ?", [table, key]
    )
    if token is not None:
        assert stats is not None
        conn.execute(
            "insert into raw.partitions values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                table,
                key,
                token,
                files,
                stats.rows,
                stats.processes,
                stats.repeated_windows,
                stats.shared_windows,
            ],
        )


class Staged:
    """Partitions written by one landing, waiting for its transaction (see replace)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.written: list[tuple[str, str | None, str | None, int]] = []

    def rows(self, table: str, value: str | date | None, rows: pa.Table) -> None:
        """Write a partition's rows (none: the partition becomes empty). The token is a hash of
        the file, so landing the same rows again names the partition as it is."""
        key = None if value is None else str(value)
        if rows.num_rows == 0:
            self.written.append((table, key, None, 0))
            return
        folder = incoming(self.conn, table, new_token())
        write_rows(rows, table, folder / "part-0.parquet")
        token = hashlib.sha256((folder / "part-0.parquet").read_bytes()).hexdigest()[:20]
        waiting = folder.with_name(token)
        shutil.rmtree(waiting, ignore_errors=True)
        folder.rename(waiting)
        self.written.append((table, key, token, rows.num_rows))

    def record(self) -> None:
        """Inside the landing transaction: the partitions written are now the tables'."""
        for table, key, token, count in self.written:
            record(self.conn, table, key, token, 1 if token else 0, DayStats(rows=count))

    def partitions(self) -> list[tuple[str, str | None]]:
        return [(table, key) for table, key, _, _ in self.written]

    def discard(self) -> None:
        for table, _, token, _ in self.written:
            if token is not None:
                discard(self.conn, table, token)


def settle(
    conn: duckdb.DuckDBPyConnection, only: list[tuple[str, str | None]] | None = None
) -> list[tuple[str, str]]:
    """Make the files match raw.partitions, every table readable, and the raw views exist:
    every partition (a connection's first settle), or ``only`` these (table, key), after their
    landing. Returns the partitions whose files had gone missing: their landing is forgotten
    (raw.landing_log), so the next run lands them again."""
    base = root(conn)
    recorded: dict[str, dict[str, str]] = {name: {} for name in TABLES}
    for table, key, token in conn.execute(
        "select table_name, partition_key, token from raw.partitions"
    ).fetchall():
        if table in recorded:
            recorded[table][key] = token
    missing: list[tuple[str, str]] = []
    if only is not None:
        for table, value in only:  # every move first: _remove_others clears _incoming
            token = recorded[table].get(value or "")
            if token is not None and not _move_into_place(base, table, value or "", token):
                missing.append((table, value or ""))
        for table, value in only:
            token = recorded[table].get(value or "")
            _remove_others(TABLES[table], partition_folder(base, table, value), token)
    else:
        for spec in TABLES.values():
            tokens = recorded[spec.name]
            missing += [
                (spec.name, key)
                for key, token in tokens.items()
                if not _move_into_place(base, spec.name, key, token)
            ]
            gone = {k for t, k in missing if t == spec.name}
            _remove_unrecorded(spec, base / spec.name, tokens, gone)
            _write_placeholder(spec, base / spec.name)
    for table, key in missing:
        conn.execute(
            "delete from raw.partitions where table_name = ? and partition_key = ?", [table, key]
        )
        source = TABLES[table].log_source
        if source is not None:
            conn.execute(
                "delete from raw.landing_log where source = ?"
                " and starts_with(cast(partition_date as varchar), ?)",
                [source, key],
            )
    create_views(conn)
    return missing


def _move_into_place(base: Path, table: str, key: str, token: str) -> bool:
    """Move a committed token's waiting files into place; False when they are nowhere."""
    target = partition_folder(base, table, key or None) / token
    if target.is_dir():
        return True
    waiting = base / table / INCOMING / token
    if not waiting.is_dir():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    waiting.rename(target)
    return True


def _remove_others(spec: RawTable, folder: Path, token: str | None) -> None:
    """After a partition's landing: the files of its other tokens, and what waits unrecorded."""
    if spec.key is not None and token is None:
        shutil.rmtree(folder, ignore_errors=True)
    elif folder.is_dir():
        keep = {token, SCHEMA} if spec.key is None else {token}
        for child in folder.iterdir():
            if child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)
    incoming = folder.parent / INCOMING if spec.key else folder / INCOMING
    shutil.rmtree(incoming, ignore_errors=True)


def _remove_unrecorded(
    spec: RawTable, folder: Path, tokens: dict[str, str], missing: set[str]
) -> None:
    if not folder.is_dir():
        return
    if spec.key is None:
        whole = tokens.get("")
        for child in folder.iterdir():
            if child.name not in (whole, SCHEMA):
                shutil.rmtree(child, ignore_errors=True)
        return
    prefix = f"{spec.key}="
    schema_folder = f"{prefix}{spec.placeholder}"
    for partition in folder.iterdir():
        value = partition.name.removeprefix(prefix)
        if partition.name == schema_folder:
            continue
        token = tokens.get(value) if partition.name.startswith(prefix) else None
        if token is None or value in missing:  # _incoming, or a partition no longer held
            shutil.rmtree(partition, ignore_errors=True)
            continue
        for child in partition.iterdir():
            if child.name != token:
                shutil.rmtree(child, ignore_errors=True)


def _write_placeholder(spec: RawTable, folder: Path) -> None:
    holder = folder / (f"{spec.key}={spec.placeholder}" if spec.key else "") / SCHEMA
    path = holder / "part-0.parquet"
    if path.is_file():
        return
    holder.mkdir(parents=True, exist_ok=True)
    if spec.name == NVML:
        pq.write_table(SPOOL_SCHEMA.empty_table(), path)
        return
    write_rows(pa.table({"_": pa.array([], pa.int8())}), spec.name, path)


def scan(conn: duckdb.DuckDBPyConnection, table: str, filename: bool = False) -> str:
    """read_parquet of a raw table's files, its partition key a column (dbt's sources read the
    same, _sources.yml)."""
    spec = TABLES[table]
    options = ""
    if spec.key:
        options = f", hive_partitioning = true, hive_types = {{'{spec.key}': {spec.key_type}}}"
    if filename:
        options += ", filename = true"
    return f"read_parquet('{_quoted(Path(spec.glob(root(conn))))}'{options})"


def _naive_utc(column: str) -> str:
    """The spool's UTC instant as the warehouse's naive UTC timestamp. Through the epoch, not
    timezone('UTC', ...): the same value, without a time zone lookup per row."""
    return f"make_timestamp(epoch_us({column})) as {column}"


def views(conn: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, str]]:
    """(view, query) of the raw views: each table's files; the NVML spool as its GPU windows
    and as one row per process of a window."""
    for table in TABLES:
        if table != NVML:
            yield table, f"select * from {scan(conn, table)}"  # noqa: S608 - the code's names
    spool = scan(conn, NVML, filename=True)
    columns = ", ".join(
        _naive_utc(c) if c in ("window_start", "window_end") else c for c in WINDOW_COLUMNS
    )
    yield (
        "nvml_gpu_windows",
        "select partition_date,"  # noqa: S608 - the code's own names
        " url_decode(regexp_extract(filename, '[^/]+$')) as source_file,"
        f" {columns} from {spool}",
    )
    fields = ", ".join(f"process.{name} as {name}" for name in PROCESS_FIELDS)
    yield (
        "nvml_process_windows",
        f"select partition_date, host, gpu_uuid, window_start, window_end, {fields},"  # noqa: S608
        " window_process_count from (select partition_date, host, gpu_uuid,"
        f" {_naive_utc('window_start')}, {_naive_utc('window_end')},"
        " unnest(processes) as process,"
        f" cast(len(processes) as integer) as window_process_count from {spool})",
    )


def create_views(conn: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the raw views where missing, or once a process for a warehouse (a moved
    warehouse's views read the raw folder beside it). Binding a view lists its files: views this
    process made already are left as they are."""
    held = {
        str(name)
        for (name,) in conn.execute(
            "select view_name from duckdb_views() where schema_name = 'raw'"
        ).fetchall()
    }
    base = root(conn)
    for view, query in views(conn):
        if view in held and _created.get((base, view)) == query:
            continue
        conn.execute(f"create or replace view raw.{view} as {query}")
        _created[(base, view)] = query


_created: dict[tuple[Path, str], str] = {}
