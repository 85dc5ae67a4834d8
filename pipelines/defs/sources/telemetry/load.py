"""NVML collector spool files of one day: validate against the versioned schema and land.

Files in the collector's own column types, whose Parquet footers vouch (column statistics) that
the required columns hold no null and the schema versions are supported, are checked by DuckDB
straight from Parquet and, when nothing in them is refused, kept in the raw layer as they are
(pipelines/lib/raw_files.py). A day with any other file is read through Arrow, which casts each
column and names the file, row and column of what it refuses; its files are then written again
in the current spool schema, less the rows refused. Both read as the same rows.

Rows that cannot be true go to raw.quarantine with file, row and reason, and the rest of the day
lands: a required value null or empty, a window whose end is not after its start or that starts
on another day than its ``date=`` folder, an activity figure (``UNIT_COLUMNS``) or a process's
busy share that is NaN or outside 0..1, and a window (host, GPU, start) already landed from an
earlier file or row of the day (a spool file shipped twice under two names).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from collectors.spool import REQUIRED_COLUMNS, SPOOL_SCHEMA
from pipelines.lib import raw_files
from pipelines.lib.arrow import (
    conform,
    read_parquet,
    read_parquet_footer,
    read_parquet_schema,
    require_columns,
)
from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name, regular_files
from pipelines.lib.warehouse import (
    Quarantine,
    Rejected,
    input_version,
    log_landing,
    replace_quarantine,
    replacing,
    transaction,
)

SOURCE = "nvml"

SUPPORTED_VERSIONS = {1, 2}  # version 1 files lack the columns added in 2
TS = pa.timestamp("us")
WINDOW_TYPES: dict[str, pa.DataType] = {
    f.name: (TS if pa.types.is_timestamp(f.type) else f.type)
    for f in SPOOL_SCHEMA
    if f.name != "processes"
}
PROCESS_FIELDS = [f.name for f in SPOOL_SCHEMA.field("processes").type.value_type]
# Shares of the window, 0..1.
UNIT_COLUMNS = ("util_mean", "sm_active_mean", "gr_engine_active_mean", "gpu_util_mean")


def _not_a_share(value: str) -> str:
    """SQL: ``value`` is NaN, infinite or outside 0..1 (false for null). isfinite, not isnan:
    DuckDB 2.0.1 answers isnan() false for a NaN read from Parquet when the column's statistics
    (which leave NaN out) bound it."""
    return f"(not isfinite({value}) or not {value} between 0 and 1)"


def spool_files(root: Path, day: date) -> list[Path]:
    """Closed spool files of the day; dot-files are a collector's unfinished temp files."""
    return regular_files(root.glob(f"host=*/date={day.isoformat()}/*.parquet"), root)


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
    windows = conform(path, table, WINDOW_TYPES)
    source = pa.repeat(pa.scalar(lineage_name(path, landing), pa.string()), windows.num_rows)
    rows = pa.array(range(1, windows.num_rows + 1), pa.int64())
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
                "source_file": pc.take(source, parents),
                "source_row": pc.take(rows, parents),
            }
        )
    return windows.append_column("source_file", source).append_column("source_row", rows), processes


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


def keepable(schema: pa.Schema) -> bool:
    """Whether a vouched file can be kept as it is: exactly the current spool columns, in order,
    so that every kept file reads with the same schema (no matching by name on each read)."""
    return schema.names == SPOOL_SCHEMA.names


def spool_table(path: Path, rejected_rows: set[int]) -> pa.Table:
    """A validated spool file in the current spool schema (columns it lacks are null), less the
    rows (1-based) that went to quarantine."""
    table = pq.read_table(path)
    arrays = []
    for field in SPOOL_SCHEMA:
        if field.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, field.type))
            continue
        try:
            arrays.append(table.column(field.name).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LandingError(
                path,
                f"cannot read column as {field.type} ({exc})",
                column=field.name,
                expected=str(field.type),
            ) from exc
    spool = pa.Table.from_arrays(arrays, schema=SPOOL_SCHEMA)
    if rejected_rows:
        keep = [row not in rejected_rows for row in range(1, spool.num_rows + 1)]
        spool = spool.filter(pa.array(keep))
    return spool


def _store(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    files: list[Path],
    landing: Path,
    rejected: list[Rejected],
) -> tuple[int, int]:
    """Replace the day's spool files (pipelines/lib/raw_files.py) with these: as they are when
    they can be (``keepable``, nothing rejected), else each rewritten in the current schema
    less its rejected rows. The day's version names the copy, so landing the same files again
    copies nothing."""
    token = input_version(files, landing)
    kept = not rejected and all(keepable(read_parquet_schema(p)) for p in files)
    if kept:
        current = raw_files.current(conn, raw_files.NVML, day, token)
        if current is not None:
            return current.rows, current.processes or 0
    else:
        token += "-w"  # rewritten, not copied
    folder = raw_files.incoming(conn, raw_files.NVML, token)
    names = [lineage_name(p, landing) for p in files]
    try:
        if kept:
            raw_files.copy_in(folder, files, names)
        else:
            for path, name in zip(files, names, strict=True):
                rows = {r.source_row for r in rejected if r.source_file == name}
                pq.write_table(
                    spool_table(path, rows), folder / quote(name, safe=""), compression="zstd"
                )
        written = sorted(folder.iterdir())
        stats = raw_files.spool_day_stats(conn, written) if written else raw_files.DayStats(0, 0)
        with transaction(conn):
            log_landing(conn, SOURCE, day, files, landing)
            replace_quarantine(conn, Quarantine(SOURCE, day.isoformat(), rejected))
            raw_files.record(
                conn, raw_files.NVML, day, token if written else None, len(written), stats
            )
    except BaseException:
        raw_files.discard(conn, raw_files.NVML, token)
        raise
    raw_files.settle(conn, [(raw_files.NVML, str(day))])
    return stats.rows, stats.processes or 0


def _problems(
    conn: duckdb.DuckDBPyConnection, spool: str, params: list[Any], columns: set[str], day: date
) -> list[Rejected]:
    """The rows of ``spool`` (a query of the window columns present, with source_file,
    source_row and bad_busy_share) that cannot be true, with the reason (module docstring)."""
    checks = []
    for name in REQUIRED_COLUMNS:
        empty = f" or {name} = ''" if pa.types.is_string(WINDOW_TYPES[name]) else ""
        checks.append(f"when {name} is null{empty} then '{name} is null or empty'")
    checks += [
        "when window_end <= window_start then 'window_end is not after window_start'",
        "when cast(window_start as date) <> ? then 'window starts on another day than its"
        " date= folder'",
    ]
    for name in UNIT_COLUMNS:
        if name in columns:
            checks.append(
                f"when not isfinite({name}) then '{name} is NaN or infinite'"
                f" when {_not_a_share(name)} then '{name} is outside 0..1'"
            )
    checks.append("when bad_busy_share then 'a process busy_share is not within 0..1'")
    checks.append(
        "when copy > 1 then 'window (host, gpu_uuid, window_start) already in '"
        " || first_file || ' row ' || first_row"
    )
    record = ", ".join(f"{name} := {name}" for name in WINDOW_TYPES if name in columns)
    rows = conn.execute(
        f"with spool as ({spool}), "  # noqa: S608 (the code's own column names)
        "ranked as (select *, row_number() over same_window as copy,"
        " first_value(source_file) over same_window as first_file,"
        " first_value(source_row) over same_window as first_row from spool"
        " window same_window as (partition by host, gpu_uuid, window_start"
        " order by source_file, source_row)) "
        "select source_file, source_row, reason, record from ("
        f"select source_file, source_row, case {' '.join(checks)} end as reason,"
        f" to_json(struct_pack({record}))::varchar as record from ranked"
        ") where reason is not null order by source_file, source_row",
        [*params, day],
    ).fetchall()
    return [Rejected(file, int(row), reason, record) for file, row, reason, record in rows]


def _file_problems(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    files: list[Path],
    schemas: list[pa.Schema],
    landing: Path,
) -> list[Rejected]:
    """_problems of vouched files, read by DuckDB straight from Parquet."""
    columns = {c for s in schemas for c in s.names if c in WINDOW_TYPES}
    select = ", ".join(
        f"timezone('UTC', spool.{c}) as {c}" if pa.types.is_timestamp(WINDOW_TYPES[c]) else c
        for c in WINDOW_TYPES
        if c in columns
    )
    busy = (
        f"len(list_filter(processes, lambda p: {_not_a_share('p.busy_share')})) > 0"
        if any("processes" in s.names for s in schemas)
        else "false"
    )
    return _problems(
        conn,
        f"select spool_names.source_file, spool.file_row_number + 1 as source_row, {select},"  # noqa: S608
        f" coalesce({busy}, false) as bad_busy_share"
        " from read_parquet(?, union_by_name = true, filename = true,"
        " file_row_number = true) as spool"
        " inner join (select unnest(?) as filename, unnest(?) as source_file) as spool_names"
        " on spool.filename = spool_names.filename",
        [
            [str(p) for p in files],
            [str(p) for p in files],
            [lineage_name(p, landing) for p in files],
        ],
        columns,
        day,
    )


def land_day(
    conn: duckdb.DuckDBPyConnection, day: date, files: list[Path], landing: Path
) -> tuple[int, int]:
    """Replace the day's telemetry with what these files hold (rows that cannot be true go to
    raw.quarantine); returns (windows, processes) landed."""
    footers = [read_parquet_footer(p) for p in files]
    if files and all(vouched_by_footer(p, f) for p, f in zip(files, footers, strict=True)):
        schemas = [f.schema.to_arrow_schema() for f in footers]
        if not _file_problems(conn, day, files, schemas, landing):
            return _store(conn, day, files, landing, [])
    # validate every file before touching the warehouse
    read = [read_spool_file(p, landing) for p in files]
    schema = pa.schema([*((c, t) for c, t in WINDOW_TYPES.items()), ("source_file", pa.string())])
    schema = schema.append(pa.field("source_row", pa.int64()))
    windows = pa.concat_tables([w for w, _ in read]) if read else schema.empty_table()
    processes = [p for _, p in read if p.num_rows]
    conn.register("spool_windows", windows)
    if processes:
        conn.register("spool_processes", pa.concat_tables(processes))
    try:
        busy = (
            f"select source_file, source_row, bool_or({_not_a_share('busy_share')}) as bad"  # noqa: S608
            " from spool_processes group by all"
            if processes
            else "select null::varchar as source_file, null::bigint as source_row,"
            " false as bad limit 0"
        )
        rejected = _problems(
            conn,
            "select spool_windows.*, coalesce(busy.bad, false) as bad_busy_share"  # noqa: S608
            f" from spool_windows left join ({busy}) as busy using (source_file, source_row)",
            [],
            set(WINDOW_TYPES),
            day,
        )
    finally:
        for view in ("spool_windows", "spool_processes"):
            conn.unregister(view)
    return _store(conn, day, files, landing, rejected)


# -- scrapes (collectors/scrape.py): dcgm-exporter samples and inference token counters --------

SCRAPE_VERSIONS = {1, 2}


def land_scrapes(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    schema: pa.Schema,
    day: date,
    files: list[Path],
    landing: Path,
) -> int:
    """Replace the day's rows of ``raw.<table>`` with these scrape files; returns rows landed.
    A row with a required value null or empty, or a value that is NaN or infinite, goes to
    raw.quarantine (source ``<table>``) with its file, row and reason."""
    required = tuple(f.name for f in schema if not f.nullable)
    types = {f.name: (TS if pa.types.is_timestamp(f.type) else f.type) for f in schema}
    tables = []
    rejected: list[Rejected] = []
    for path in files:  # validate every file before touching the warehouse
        require_columns(path, read_parquet_schema(path), required, f"{table} scrape file")
        data = read_parquet(path, [c for c in types if c in read_parquet_schema(path).names])
        require_versions(path, data, SCRAPE_VERSIONS, "scrape")
        data = conform(path, data, types)
        name = lineage_name(path, landing)
        bad = pa.array([False] * data.num_rows)
        for column in types:
            values = data.column(column)
            reason = None
            if column in required:
                empty = pc.is_null(values)
                if pa.types.is_string(values.type):
                    empty = pc.or_kleene(empty, pc.equal(values, ""))
                reason, problem = f"{column} is null or empty", pc.fill_null(empty, True)
            if pa.types.is_floating(values.type):
                infinite = pc.fill_null(pc.invert(pc.is_finite(values)), False)
                if reason is None:
                    reason, problem = f"{column} is NaN or infinite", infinite
                else:
                    problem = pc.or_(problem, infinite)
                    reason = f"{column} is null, NaN or infinite"
            if reason is None:
                continue
            new = pc.and_(problem, pc.invert(bad))
            for row in pc.indices_nonzero(new).to_pylist():
                record = {k: str(v) for k, v in data.slice(row, 1).to_pylist()[0].items()}
                rejected.append(Rejected(name, row + 1, reason, json.dumps(record)))
            bad = pc.or_(bad, problem)
        data = data.filter(pc.invert(bad))
        source = pa.repeat(pa.scalar(name, pa.string()), data.num_rows)
        tables.append(data.append_column("source_file", source))
    rows = pa.concat_tables(tables, promote_options="default") if tables else pa.table({})
    with replacing(conn) as staged:
        staged.rows(table, day, rows)
        log_landing(conn, table, day, files, landing)
        replace_quarantine(conn, Quarantine(table, day.isoformat(), rejected))
    return rows.num_rows
