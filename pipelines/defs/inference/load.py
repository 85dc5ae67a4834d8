"""Inference request logs (JSONL): OpenAI-compatible ``usage`` plus gpuledger's envelope.

A line that is not valid JSON or lacks a required envelope field goes to raw.quarantine with the
file, line number and reason; it is counted, never dropped silently.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.lib.paths import lineage_name
from pipelines.lib.warehouse import Quarantine, Rejected, replace_partition

SOURCE = "inference_requests"
REQUIRED = ("time", "request_id", "host", "workload", "model", "status")
COLUMNS: dict[str, pa.DataType] = {
    "source_file": pa.string(),
    "source_line": pa.int32(),
    "request_id": pa.string(),
    "requested_at": pa.timestamp("us"),
    "host": pa.string(),
    "endpoint": pa.string(),
    "workload": pa.string(),
    "model": pa.string(),
    "http_status": pa.int32(),
    "finish_reason": pa.string(),
    "attempt": pa.int32(),
    "retry_of": pa.string(),
    "is_synthetic": pa.bool_(),
    "has_usage": pa.bool_(),
    "prompt_tokens": pa.int64(),
    "completion_tokens": pa.int64(),
    "cached_prompt_tokens": pa.int64(),
    "reasoning_tokens": pa.int64(),
}


def request_files(root: Path, day: date) -> list[Path]:
    return sorted(root.glob(f"date={day.isoformat()}/*.jsonl"))


def request_days(root: Path) -> list[str]:
    return sorted({p.name.removeprefix("date=") for p in root.glob("date=*") if p.is_dir()})


def _int_or_none(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
    return value


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"time must be an ISO 8601 string, got {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return parsed.astimezone(UTC).replace(tzinfo=None)


def parse_record(record: Any) -> dict[str, Any]:
    """One log record to a raw row; ValueError says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError("line is not a JSON object")
    missing = [k for k in REQUIRED if record.get(k) in (None, "")]
    if missing:
        raise ValueError(f"required field missing: {', '.join(missing)}")
    status = record["status"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"status must be an HTTP status code, got {status!r}")
    usage = record.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise ValueError("usage must be an object or null")
    usage = usage or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    attempt = _int_or_none(record.get("attempt"), "attempt") or 1
    return {
        "request_id": str(record["request_id"]),
        "requested_at": _timestamp(record["time"]),
        "host": str(record["host"]),
        "endpoint": record.get("endpoint"),
        "workload": str(record["workload"]),
        "model": str(record["model"]),
        "http_status": status,
        "finish_reason": record.get("finish_reason"),
        "attempt": attempt,
        "retry_of": record.get("retry_of"),
        "is_synthetic": bool(record.get("synthetic", False)),
        "has_usage": bool(usage),
        "prompt_tokens": _int_or_none(usage.get("prompt_tokens"), "usage.prompt_tokens"),
        "completion_tokens": _int_or_none(
            usage.get("completion_tokens"), "usage.completion_tokens"
        ),
        "cached_prompt_tokens": _int_or_none(
            prompt_details.get("cached_tokens"), "usage.prompt_tokens_details.cached_tokens"
        ),
        "reasoning_tokens": _int_or_none(
            completion_details.get("reasoning_tokens"),
            "usage.completion_tokens_details.reasoning_tokens",
        ),
    }


def read_request_file(path: Path, landing: Path) -> tuple[list[dict[str, Any]], list[Rejected]]:
    rows: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    name = lineage_name(path, landing)
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = parse_record(json.loads(line))
            except json.JSONDecodeError as exc:
                rejected.append(
                    Rejected(name, number, f"invalid JSON: {exc.msg}", line.rstrip("\n"))
                )
                continue
            except ValueError as exc:
                rejected.append(Rejected(name, number, str(exc), line.rstrip("\n")))
                continue
            row["source_file"] = name
            row["source_line"] = number
            rows.append(row)
    return rows, rejected


# The fast path: DuckDB parses and checks every line at once. Its checks are stricter than
# parse_record's (strings must be JSON strings, counts JSON non-negative integers, times
# ISO 8601 with an offset), so a line it accepts would be accepted by parse_record with the same
# values; every other line goes through parse_record, which lands it or says what is wrong.
_INT = "json_type(line, '{path}') is null or json_type(line, '{path}') in ('NULL', 'UBIGINT')"
_TEXT = "json_type(line, '{path}') is null or json_type(line, '{path}') in ('NULL', 'VARCHAR')"
_OBJECT = "json_type(line, '{path}') is null or json_type(line, '{path}') in ('NULL', 'OBJECT')"
_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
_STRICT = " and ".join(
    [
        "json_valid(line)",
        "json_type(line) = 'OBJECT'",
        *(
            f"json_type(line, '$.{k}') = 'VARCHAR' and line->>'$.{k}' <> ''"
            for k in ("time", "request_id", "host", "workload", "model")
        ),
        "json_type(line, '$.status') = 'UBIGINT'",
        "(line->>'$.status')::bigint between 100 and 599",
        f"regexp_full_match(line->>'$.time', '{_TIME}')",
        *(_TEXT.format(path=f"$.{k}") for k in ("endpoint", "finish_reason", "retry_of")),
        "(json_type(line, '$.synthetic') is null"
        " or json_type(line, '$.synthetic') in ('NULL', 'BOOLEAN'))",
        _INT.format(path="$.attempt"),
        *(
            f"({_OBJECT.format(path=p)})"
            for p in (
                "$.usage",
                "$.usage.prompt_tokens_details",
                "$.usage.completion_tokens_details",
            )
        ),
        *(
            f"({_INT.format(path=p)})"
            for p in (
                "$.usage.prompt_tokens",
                "$.usage.completion_tokens",
                "$.usage.prompt_tokens_details.cached_tokens",
                "$.usage.completion_tokens_details.reasoning_tokens",
            )
        ),
    ]
)
_CHECK_LINES = f"""
create temp table checked as
with numbered as (
    select generate_subscripts(lines, 1)::integer as source_line, unnest(lines) as line
    from (select string_split(content, chr(10)) as lines from read_text($path))
)
select source_line, line, coalesce({_STRICT}, false) as strict
from numbered
where trim(line) <> ''
"""  # noqa: S608 - the checks are the code's own text
_FAST_SELECT = """
select
    $name as source_file,
    source_line,
    line->>'$.request_id' as request_id,
    (replace(line->>'$.time', 'Z', '+00:00')::timestamptz at time zone 'UTC')::timestamp
        as requested_at,
    line->>'$.host' as host,
    line->>'$.endpoint' as endpoint,
    line->>'$.workload' as workload,
    line->>'$.model' as model,
    (line->>'$.status')::integer as http_status,
    line->>'$.finish_reason' as finish_reason,
    coalesce(nullif((line->>'$.attempt')::integer, 0), 1) as attempt,
    line->>'$.retry_of' as retry_of,
    coalesce((line->>'$.synthetic')::boolean, false) as is_synthetic,
    coalesce(json_type(line, '$.usage') = 'OBJECT'
        and len(json_keys(line, '$.usage')) > 0, false) as has_usage,
    (line->>'$.usage.prompt_tokens')::bigint as prompt_tokens,
    (line->>'$.usage.completion_tokens')::bigint as completion_tokens,
    (line->>'$.usage.prompt_tokens_details.cached_tokens')::bigint as cached_prompt_tokens,
    (line->>'$.usage.completion_tokens_details.reasoning_tokens')::bigint as reasoning_tokens
from checked
where strict
order by source_line
"""


def read_request_file_fast(path: Path, landing: Path) -> tuple[pa.Table, list[Rejected]]:
    """The same rows and rejections as read_request_file, parsed by DuckDB where it can."""
    schema = pa.schema(list(COLUMNS.items()))
    name = lineage_name(path, landing)
    conn = duckdb.connect()
    try:
        if conn.execute(
            "select contains(content, chr(13)) from read_text(?)", [str(path)]
        ).fetchall()[0][0]:
            raise UnicodeError("carriage returns: Python's universal newlines number the lines")
        conn.execute(_CHECK_LINES, {"path": str(path)})
        fast = conn.sql(_FAST_SELECT, params={"name": name}).to_arrow_table()
        assert fast is not None
        others = conn.execute(
            "select source_line, line from checked where not strict order by source_line"
        ).fetchall()
    except (duckdb.Error, UnicodeError):
        rows, rejected = read_request_file(path, landing)  # not UTF-8, or \r line ends
        return pa.Table.from_pylist(rows, schema=schema), rejected
    finally:
        conn.close()
    rows = []
    rejected = []
    for number, line in others:
        try:
            row = parse_record(json.loads(line))
        except json.JSONDecodeError as exc:
            rejected.append(Rejected(name, number, f"invalid JSON: {exc.msg}", line))
            continue
        except ValueError as exc:
            rejected.append(Rejected(name, number, str(exc), line))
            continue
        rows.append({**row, "source_file": name, "source_line": number})
    slow = pa.Table.from_pylist(rows, schema=schema)
    table = pa.concat_tables([fast.cast(schema), slow]).sort_by("source_line")
    return table, rejected


def land_day(
    conn: duckdb.DuckDBPyConnection, day: date, files: list[Path], landing: Path
) -> tuple[int, int]:
    """Replace the day's requests (and their quarantine rows); returns (landed, quarantined)."""
    tables: list[pa.Table] = [pa.schema(list(COLUMNS.items())).empty_table()]
    rejected: list[Rejected] = []
    for path in files:
        file_rows, file_rejected = read_request_file_fast(path, landing)
        tables.append(file_rows)
        rejected += file_rejected
    table = pa.concat_tables(tables)
    table = table.add_column(0, "partition_date", pa.array([day] * table.num_rows, pa.date32()))
    replace_partition(
        conn,
        "raw.inference_requests",
        "partition_date",
        day,
        table,
        Quarantine(SOURCE, day.isoformat(), rejected),
    )
    return table.num_rows, len(rejected)
