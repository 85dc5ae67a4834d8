"""Reading input files into Arrow tables with errors that name the file and the column."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lib.errors import LandingError


def read_parquet_schema(path: Path) -> pa.Schema:
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise LandingError(path, f"not a readable Parquet file ({exc})") from exc


def read_parquet_footer(path: Path) -> pq.FileMetaData:
    """The file's footer: its schema and every row group's column statistics."""
    try:
        return pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        raise LandingError(path, f"not a readable Parquet file ({exc})") from exc


def read_parquet(path: Path, columns: Sequence[str]) -> pa.Table:
    try:
        return pq.read_table(path, columns=list(columns))
    except (pa.ArrowException, OSError) as exc:
        raise LandingError(path, f"not a readable Parquet file ({exc})") from exc


def require_columns(
    path: Path | str, schema: pa.Schema, required: Sequence[str], what: str
) -> None:
    missing = [c for c in required if c not in schema.names]
    if missing:
        raise LandingError(
            path,
            f"required column missing ({len(missing)} of {len(required)}: {', '.join(missing)})",
            column=missing[0],
            expected=f"a {what} with columns {', '.join(required)}",
        )


def conform(
    path: Path | str,
    table: pa.Table,
    target: Mapping[str, pa.DataType],
    not_null: Sequence[str] = (),
) -> pa.Table:
    """Cast to the target types (absent optional columns become nulls), naming what fails."""
    arrays = []
    for name, dtype in target.items():
        if name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, dtype))
            continue
        column = table.column(name)
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            # Stored as UTC instants; the warehouse keeps naive UTC timestamps.
            column = column.cast(pa.timestamp(column.type.unit))
        try:
            arrays.append(column.cast(dtype))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LandingError(
                path, f"cannot read column as {dtype} ({exc})", column=name, expected=str(dtype)
            ) from exc
        if name in not_null and column.null_count:
            first = pc.index(pc.is_null(column), True).as_py()
            raise LandingError(
                path, "value is null", row=first + 1, column=name, expected="a value"
            )
    return pa.Table.from_arrays(arrays, names=list(target))
