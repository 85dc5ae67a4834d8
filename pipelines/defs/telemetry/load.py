"""NVML collector spool files of one day: validate against the versioned schema and land.

Files in the collector's own column types, whose Parquet footers vouch (column statistics) that
the required columns hold no null and the schema versions are supported, are landed by DuckDB
straight from Parquet, without passing through Python. A day with any other file is read
through Arrow, which casts each column and names the file, row and column of what it refuses.
Both land the same rows.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from collectors.spool import REQUIRED_COLUMNS, SPOOL_SCHEMA
from pipelines.lib import kept_files
from pipelines.lib.arrow import (
    conform,
    read_parquet,
    read_parquet_footer,
    read_parquet_schema,
    require_columns,
)
from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name
from pipelines.lib.warehouse import input_version, log_landing, transaction

SUPPORTED_VERSIONS = {1, 2}  # version 1 files lack the columns added in 2
TS = pa.timestamp("us")
WINDOW_TYPES: dict[str, pa.DataType] = {
    f.name: (TS if pa.types.is_timestamp(f.type) else f.type)
    for f in SPOOL_SCHEMA
    if f.name != "processes"
}
PROCESS_FIELDS = [f.name for f in SPOOL_SCHEMA.field("processes").type.value_type]


def spool_files(root: Path, day: date) -> list[Path]:
    """Closed spool files of the day; dot-files are a collector's unfinished temp files."""
    return sorted(
        p
        for p in root.glob(f"host=*/date={day.isoformat()}/*.parquet")
        if not p.name.startswith(".")
    )


def spool_days(root: Path) -> list[str]:
    return sorted({p.name.removeprefix("date=") for p in root.glob("host=*/date=*") if p.is_dir()})


def require_versions(path: Path, table: pa.Table, supported: set[int], what: str) -> None:
    """Refuse a file written in a schema version this reader does not know, naming it."""
    versions = set(pc.unique(table.column("schema_version")).to_pylist())
    if not versions <= supported:
        raise LandingError(
            path,
            f"unsupported {what} schema_version {sorted(versions - supported)}",
            column="schema_version",
            expected=f"one of {sorted(supported)}",
        )


def read_spool_file(path: Path, landing: Path) -> tuple[pa.Table, pa.Table]:
    """(gpu windows, process windows) of one spool file."""
    schema = read_parquet_schema(path)
    require_columns(
        path, schema, REQUIRED_COLUMNS, f"spool file (schema v{max(SUPPORTED_VERSIONS)})"
    )
    present = [c for c in (*WINDOW_TYPES, "processes") if c in schema.names]
    table = read_parquet(path, present)
    require_versions(path, table, SUPPORTED_VERSIONS, "spool")
    windows = conform(path, table, WINDOW_TYPES, REQUIRED_COLUMNS)
    if "processes" not in table.column_names:
        processes = pa.table({"parent": pa.array([], pa.int64())})
    else:
        column = table.column("processes").combine_chunks()
        flat = pc.list_flatten(column)
        parents = pc.list_parent_indices(column)
        processes = pa.table(
            {
                "host": pc.take(windows.column("host"), parents),
                "gpu_uuid": pc.take(windows.column("gpu_uuid"), parents),
                "window_start": pc.take(windows.column("window_start"), parents),
                "window_end": pc.take(windows.column("window_end"), parents),
                **{name: flat.field(name) for name in PROCESS_FIELDS},
                "window_process_count": pc.take(
                    pc.cast(pc.list_value_length(column), pa.int32()), parents
                ),
            }
        )
    source = pa.repeat(pa.scalar(lineage_name(path, landing), pa.string()), windows.num_rows)
    return windows.append_column("source_file", source), processes


def vouched_by_footer(path: Path, footer: pq.FileMetaData | None = None) -> bool:
    """Whether the file is in the collector's column types and its footer's statistics show no
    null in a required column and only supported schema versions (checks of read_spool_file
    that then need no read of the data). ``footer``: the file's, when already read."""
    metadata = footer if footer is not None else read_parquet_footer(path)
    schema = metadata.schema.to_arrow_schema()
    require_columns(
        path, schema, REQUIRED_COLUMNS, f"spool file (schema v{max(SUPPORTED_VERSIONS)})"
    )
    if any(
        f.name in SPOOL_SCHEMA.names and f.type != SPOOL_SCHEMA.field(f.name).type for f in schema
    ):
        return False
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            if column.path_in_schema not in REQUIRED_COLUMNS:
                continue
            stats = column.statistics
            if stats is None or not stats.has_null_count or stats.null_count:
                return False
            if column.path_in_schema == "schema_version" and (
                not stats.has_min_max
                or not set(range(stats.min, stats.max + 1)) <= SUPPORTED_VERSIONS
            ):
                return False
    return True


def _land_from_parquet(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    files: list[Path],
    schemas: list[pa.Schema],
    landing: Path,
) -> tuple[int, int]:
    """Insert the files' windows and processes with DuckDB reading the Parquet itself."""
    present = [c for c in WINDOW_TYPES if any(c in s.names for s in schemas)]
    names = pa.table(
        {
            "filename": [str(p) for p in files],
            "source_file": [lineage_name(p, landing) for p in files],
        }
    )
    # The spool's instants are UTC; the warehouse keeps naive UTC timestamps.
    select = ", ".join(
        f"timezone('UTC', spool.{c})" if pa.types.is_timestamp(WINDOW_TYPES[c]) else f"spool.{c}"
        for c in present
    )
    # Columns matched by name only when the files differ (a day of v1 and v2 files), which
    # costs time on every read.
    by_name = "true" if any(not s.equals(schemas[0]) for s in schemas[1:]) else "false"
    conn.register("spool_names", names)
    try:
        windows = conn.execute(
            "insert into raw.nvml_gpu_windows_rows"  # noqa: S608
            f" (partition_date, source_file, {', '.join(present)}) "
            f"select ?, spool_names.source_file, {select} "
            f"from read_parquet(?, union_by_name = {by_name}, filename = true) as spool "
            "inner join spool_names on spool.filename = spool_names.filename",
            [day, [str(p) for p in files]],
        ).fetchone()
        with_processes = [
            str(p) for p, s in zip(files, schemas, strict=True) if "processes" in s.names
        ]
        processes: tuple[Any, ...] | None = (0,)
        if with_processes:
            fields = ", ".join(f"process.{name}" for name in PROCESS_FIELDS)
            processes = conn.execute(
                "insert into raw.nvml_process_windows_rows (partition_date, host, gpu_uuid,"  # noqa: S608
                f" window_start, window_end, {', '.join(PROCESS_FIELDS)}, window_process_count) "
                f"select ?, host, gpu_uuid, timezone('UTC', window_start),"
                f" timezone('UTC', window_end), {fields}, window_process_count "
                "from (select host, gpu_uuid, window_start, window_end,"
                " unnest(processes) as process, len(processes) as window_process_count"
                f" from read_parquet(?, union_by_name = {by_name}))",
                [day, with_processes],
            ).fetchone()
    finally:
        conn.unregister("spool_names")
    return (windows[0] if windows else 0), (processes[0] if processes else 0)


def keepable(schema: pa.Schema) -> bool:
    """Whether a vouched file can be kept as it is: exactly the current spool columns, in order,
    so that every kept file reads with the same schema (no matching by name on each read)."""
    return schema.names == SPOOL_SCHEMA.names


def _keep(
    conn: duckdb.DuckDBPyConnection, day: date, files: list[Path], landing: Path
) -> tuple[int, int]:
    """Keep the day's files as the day's telemetry (pipelines/lib/kept_files.py)."""
    kept = kept_files.root(conn, kept_files.NVML)
    assert kept is not None
    # The day's version names its copy: the same files landed again are the day as it is.
    token = input_version(files, landing)
    current = kept_files.current(conn, kept_files.NVML, day, token)
    if current is not None:
        return current.rows, current.processes or 0
    stats = kept_files.spool_day_stats(conn, files)
    folder = kept_files.incoming(kept, token)
    try:
        kept_files.copy_in(folder, files, [lineage_name(p, landing) for p in files])
        with transaction(conn):
            _replace_rows(conn, day, files, landing)
            kept_files.record(conn, kept_files.NVML, day, token, len(files), stats)
    except BaseException:
        kept_files.discard(kept, token)
        raise
    kept_files.settle(conn)
    return stats.rows, stats.processes or 0


def land_day(
    conn: duckdb.DuckDBPyConnection, day: date, files: list[Path], landing: Path
) -> tuple[int, int]:
    """Replace the day's telemetry with what these files hold; returns (windows, processes)."""
    footers = [read_parquet_footer(p) for p in files]
    if files and all(vouched_by_footer(p, f) for p, f in zip(files, footers, strict=True)):
        schemas = [f.schema.to_arrow_schema() for f in footers]
        if kept_files.root(conn, kept_files.NVML) is not None and all(keepable(s) for s in schemas):
            return _keep(conn, day, files, landing)
        with transaction(conn):
            _replace_rows(conn, day, files, landing)
            counts = _land_from_parquet(conn, day, files, schemas, landing)
        kept_files.settle(conn)
        return counts
    read = [
        read_spool_file(p, landing) for p in files
    ]  # validate every file before touching the warehouse
    windows = [w for w, _ in read]
    processes = [p for _, p in read if p.num_rows]
    window_count = sum(w.num_rows for w in windows)
    process_count = sum(p.num_rows for p in processes)
    with transaction(conn):
        _replace_rows(conn, day, files, landing)
        window_columns = ", ".join(["source_file", *WINDOW_TYPES])
        for table in windows:
            conn.register("spool_windows", table)
            conn.execute(
                f"insert into raw.nvml_gpu_windows_rows (partition_date, {window_columns}) "  # noqa: S608
                f"select ?, {window_columns} from spool_windows",
                [day],
            )
            conn.unregister("spool_windows")
        process_columns = ", ".join(
            [
                "host",
                "gpu_uuid",
                "window_start",
                "window_end",
                *PROCESS_FIELDS,
                "window_process_count",
            ]
        )
        for table in processes:
            conn.register("spool_processes", table)
            conn.execute(
                f"insert into raw.nvml_process_windows_rows (partition_date, {process_columns}) "  # noqa: S608
                f"select ?, {process_columns} from spool_processes",
                [day],
            )
            conn.unregister("spool_processes")
    kept_files.settle(conn)
    return window_count, process_count


def _replace_rows(
    conn: duckdb.DuckDBPyConnection, day: date, files: list[Path], landing: Path
) -> None:
    """Inside the landing transaction: log the day and clear what it held, rows or kept files."""
    log_landing(conn, "nvml", day, files, landing)
    conn.execute("delete from raw.nvml_gpu_windows_rows where partition_date = ?", [day])
    conn.execute("delete from raw.nvml_process_windows_rows where partition_date = ?", [day])
    kept_files.record(conn, kept_files.NVML, day)


# -- scrapes (collectors/scrape.py): dcgm-exporter samples and inference token counters --------

SCRAPE_VERSIONS = {1}


def land_scrapes(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    schema: pa.Schema,
    day: date,
    files: list[Path],
    landing: Path,
) -> int:
    """Replace the day's rows of ``raw.<table>`` with these scrape files; returns rows landed."""
    required = tuple(f.name for f in schema if not f.nullable)
    types = {f.name: (TS if pa.types.is_timestamp(f.type) else f.type) for f in schema}
    tables = []
    for path in files:  # validate every file before touching the warehouse
        require_columns(path, read_parquet_schema(path), required, f"{table} scrape file")
        data = read_parquet(path, [c for c in types if c in read_parquet_schema(path).names])
        require_versions(path, data, SCRAPE_VERSIONS, "scrape")
        data = conform(path, data, types, required)
        source = pa.repeat(pa.scalar(lineage_name(path, landing), pa.string()), data.num_rows)
        tables.append(data.append_column("source_file", source))
    columns = ", ".join(["source_file", *types])
    with transaction(conn):
        log_landing(conn, table, day, files, landing)
        conn.execute(f"delete from raw.{table} where partition_date = ?", [day])  # noqa: S608
        for data in tables:
            conn.register("scrape_rows", data)
            conn.execute(
                f"insert into raw.{table} (partition_date, {columns}) "  # noqa: S608
                f"select ?, {columns} from scrape_rows",
                [day],
            )
            conn.unregister("scrape_rows")
    return sum(t.num_rows for t in tables)
