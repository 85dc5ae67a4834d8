"""Inference request logs (JSONL): OpenAI-compatible ``usage`` plus gpuledger's envelope.

A line that is not valid JSON or lacks a required envelope field goes to raw.quarantine with the
file, line number and reason; it is counted, never dropped silently.

A file is read whole by Arrow's JSON reader when every line is a clean record (the usual case,
about 4 times faster); any file with a line that reader or the checks refuse is read line by
line instead, which names each bad line. Both give the same rows.

Bounds: a line longer than MAX_LINE_BYTES is quarantined with its first KEPT_BYTES only (it is
never held whole); JSON nested deeper than Python's parser goes (about 1,000 levels) is
quarantined; a request whose time is more than DAY_TOLERANCE before or after its ``date=``
folder's day is quarantined (a clock or a parser gone wrong, not a request of that day).

Times: an ISO 8601 string with a UTC offset, or epoch seconds or milliseconds as a JSON number
(gateways such as LiteLLM write float seconds). A time without an offset is read in the zone
declared with GPULEDGER_REQUEST_TIME_ZONE (an IANA name such as `UTC` or `Europe/Berlin`);
without a declared zone it is quarantined, with one reason shared by every such line.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from pipelines.defs.sources.inference import gateways
from pipelines.lib import raw_files
from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name, regular_files
from pipelines.lib.warehouse import (
    Quarantine,
    Rejected,
    input_version,
    log_landing,
    replace_quarantine,
    transaction,
)

SOURCE = "inference_requests"
# Part of a kept day's name (its token): bump it when parsing changes what a line lands as, so
# that days kept before are parsed again.
CONVERSION = 7
# The zone times without a UTC offset are in, for every request-log file (an IANA zone name).
TIME_ZONE_SETTING = "GPULEDGER_REQUEST_TIME_ZONE"
# A JSON number as a time: epoch seconds below this, epoch milliseconds from it (1e11 seconds is
# the year 5138; 1e11 milliseconds is 1973-03-03).
EPOCH_MILLISECONDS_FROM = 10**11
_EPOCH = datetime(1970, 1, 1)
# Quarantine reasons of the time field: one text per kind, so the quarantine groups them.
NO_OFFSET = (
    f"time has no UTC offset; declare the source's time zone with {TIME_ZONE_SETTING}"
    " (for example UTC), or write times with an offset"
)
NOT_A_TIME = "time must be an ISO 8601 string or epoch seconds or milliseconds as a number"
NOT_ISO = "time is not a valid ISO 8601 time"
OUT_OF_RANGE = "time is outside the years 1 to 9999"
# A line above this many bytes is quarantined, with its first KEPT_BYTES only.
MAX_LINE_BYTES = 1 << 20
KEPT_BYTES = 1024
TOO_LONG = f"line is longer than {MAX_LINE_BYTES} bytes; its first {KEPT_BYTES} are kept"
TOO_DEEP = "JSON nested too deeply (more than about 1,000 levels)"
# How far a request's time may lie outside its date= folder's day: a day's log rotated at a
# local midnight or shipped late holds the hours on either side.
DAY_TOLERANCE = timedelta(days=1)
# Rows per Parquet row group of a kept day: DuckDB reads a file's row groups in parallel.
ROW_GROUP = 122_880
# A file up to this size is read whole (parsed once); a larger one in blocks of STREAM_BLOCK
# (parsed twice: a first pass decides whether Arrow can read every line), or line by line in
# tables of LINE_CHUNK rows, so that memory does not grow with a file's size.
WHOLE_FILE_BYTES = 64 << 20
STREAM_BLOCK = 16 << 20
LINE_CHUNK = 100_000
# Refused lines kept whole per read (a file, or a day's large files); beyond, their first
# KEPT_BYTES.
KEPT_RECORDS = 10_000
# Dictionary pages only for the columns with few values (ids and times are nearly all distinct:
# a dictionary there is built and then dropped), and min/max statistics only for the columns
# a scan can skip row groups by. A quarter off the write.
_WRITER_OPTIONS: dict[str, Any] = {
    "use_dictionary": ["source_file", "host", "endpoint", "workload", "model", "finish_reason"],
    "write_statistics": ["source_line", "requested_at", "http_status"],
}
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
    # Who wrote the line: gpuledger's envelope, or a gateway's own log (gateways.py).
    "source_system": pa.string(),
    "time_to_first_token_ms": pa.float64(),
    "duration_ms": pa.float64(),
}
SCHEMA = pa.schema(list(COLUMNS.items()))


_USAGE = pa.struct(
    [
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("prompt_tokens_details", pa.struct([("cached_tokens", pa.int64())])),
        ("completion_tokens_details", pa.struct([("reasoning_tokens", pa.int64())])),
    ]
)
# The record as Arrow's JSON reader reads it; a value of another JSON type fails the file over
# to the line-by-line reader.
_RECORD = pa.schema(
    [
        ("time", pa.string()),
        ("request_id", pa.string()),
        ("host", pa.string()),
        ("endpoint", pa.string()),
        ("workload", pa.string()),
        ("model", pa.string()),
        ("status", pa.int64()),
        ("finish_reason", pa.string()),
        ("attempt", pa.int64()),
        ("retry_of", pa.string()),
        ("synthetic", pa.bool_()),
        ("usage", _USAGE),
        ("time_to_first_token_ms", pa.float64()),
        ("duration_ms", pa.float64()),
    ]
)
_JSON_OPTIONS = pajson.ParseOptions(explicit_schema=_RECORD, unexpected_field_behavior="ignore")
# Files are read on several threads (Arrow lets go of the GIL), each file by one: a log file is
# a few blocks, too few to spread over the cores by itself.
_READ_OPTIONS = pajson.ReadOptions(use_threads=False)
_STREAM_OPTIONS = pajson.ReadOptions(use_threads=False, block_size=STREAM_BLOCK)
_READERS = max(1, min(8, os.cpu_count() or 1))


def request_files(root: Path, day: date) -> list[Path]:
    """The day's request logs under ``root`` (the landing zone's inference/ folder): the
    envelope's ``requests/date=<day>/*.jsonl``, and the gateway logs of the day
    (gateways.py) with the gateway settings they are read by."""
    native = root.glob(f"requests/date={day.isoformat()}/*.jsonl")
    gateway = gateways.files_of_day(root, day)
    settings = gateways.settings_path(root)
    if gateway and settings.is_file():
        gateway.append(settings)
    return regular_files([*native, *gateway], root)


def request_days(root: Path) -> list[str]:
    native = {
        p.name.removeprefix("date=") for p in (root / "requests").glob("date=*") if p.is_dir()
    }
    return sorted(native | gateways.gateway_days(root))


def _int_or_none(value: Any, field: str, bits: int = 63) -> int | None:
    """A count that fits its column (int64, or int32 for attempt), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
    if value >= 2**bits:
        raise ValueError(f"{field} must be below 2**{bits}, got {value}")
    return value


def _object_or_none(value: Any, field: str) -> dict[str, Any]:
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{field} must be an object or null, got {value!r}")
    return value or {}


def _text(value: Any, field: str) -> str:
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{field} holds a lone UTF-16 surrogate: {text!r}") from None
    return text


def _text_or_none(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string or null, got {value!r}")
    return _text(value, field)


def _flag(value: Any, field: str) -> bool:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{field} must be true, false or null, got {value!r}")
    return bool(value)


def _milliseconds_or_none(value: Any, field: str) -> float | None:
    """A latency in milliseconds: a finite non-negative number, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{field} must be a number of milliseconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{field} must not be negative, got {value!r}")
    return float(value)


def declared_zone() -> ZoneInfo | None:
    """The zone of GPULEDGER_REQUEST_TIME_ZONE, or None when it is not set."""
    name = os.environ.get(TIME_ZONE_SETTING, "").strip()
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LandingError(
            TIME_ZONE_SETTING,
            f"{name!r} is not a time zone",
            expected="an IANA time zone name such as UTC or Europe/Berlin",
        ) from None


def _epoch(value: float | int) -> datetime:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(NOT_A_TIME)
    scale = 1_000 if abs(value) >= EPOCH_MILLISECONDS_FROM else 1_000_000
    try:
        return _EPOCH + timedelta(microseconds=round(value * scale))
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None


def _timestamp(value: Any, zone: ZoneInfo | None = None) -> datetime:
    """A naive UTC datetime. An ISO 8601 string keeps its offset; one without is read in
    ``zone`` (an ambiguous local time as its first occurrence; one a daylight-saving change
    skipped is refused). A JSON number is epoch seconds, or milliseconds from 1e11."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch(value)
    if not isinstance(value, str):
        raise ValueError(NOT_A_TIME)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(NOT_ISO) from None
    if parsed.tzinfo is None:
        if zone is None:
            raise ValueError(NO_OFFSET)
        local = parsed.replace(tzinfo=zone)
        # A wall-clock time a daylight-saving change skipped does not come back unchanged.
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
            raise ValueError(f"time does not exist in {zone.key} (a daylight-saving change)")
        parsed = local
    try:
        return parsed.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None


def parse_record(record: Any, zone: ZoneInfo | None = None) -> dict[str, Any]:
    """One log record to a raw row; ValueError says what is wrong with it. ``zone``: the
    declared zone of times without an offset."""
    if not isinstance(record, dict):
        raise ValueError("line is not a JSON object")
    missing = [k for k in REQUIRED if record.get(k) in (None, "")]
    if missing:
        raise ValueError(f"required field missing: {', '.join(missing)}")
    status = record["status"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"status must be an HTTP status code, got {status!r}")
    usage = _object_or_none(record.get("usage"), "usage")
    prompt_details = _object_or_none(
        usage.get("prompt_tokens_details"), "usage.prompt_tokens_details"
    )
    completion_details = _object_or_none(
        usage.get("completion_tokens_details"), "usage.completion_tokens_details"
    )
    return {
        "request_id": _text(record["request_id"], "request_id"),
        "requested_at": _timestamp(record["time"], zone),
        "host": _text(record["host"], "host"),
        "endpoint": _text_or_none(record.get("endpoint"), "endpoint"),
        "workload": _text(record["workload"], "workload"),
        "model": _text(record["model"], "model"),
        "http_status": status,
        "finish_reason": _text_or_none(record.get("finish_reason"), "finish_reason"),
        "attempt": _int_or_none(record.get("attempt"), "attempt", bits=31),
        "retry_of": _text_or_none(record.get("retry_of"), "retry_of"),
        "is_synthetic": _flag(record.get("synthetic"), "synthetic"),
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
        "source_system": gateways.NATIVE,
        "time_to_first_token_ms": _milliseconds_or_none(
            record.get("time_to_first_token_ms"), "time_to_first_token_ms"
        ),
        "duration_ms": _milliseconds_or_none(record.get("duration_ms"), "duration_ms"),
    }


def folder_day(path: Path) -> date | None:
    """The day of the ``date=YYYY-MM-DD`` folder a log file is in, if it is in one."""
    try:
        return date.fromisoformat(path.parent.name.removeprefix("date="))
    except ValueError:
        return None


def day_window(day: date | None) -> tuple[datetime, datetime] | None:
    """The times a request in the day's folder may have: the day, DAY_TOLERANCE either side."""
    if day is None:
        return None
    start = datetime.combine(day, datetime.min.time())
    return start - DAY_TOLERANCE, start + timedelta(days=1) + DAY_TOLERANCE


def outside_day(day: date) -> str:
    return f"time is more than {DAY_TOLERANCE.days} day from its folder's day {day}"


def _lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, whole) of each line. A line above MAX_LINE_BYTES is read through
    in blocks, never held whole: its text is its first KEPT_BYTES, and whole is False."""
    with path.open("rb") as handle:
        number = 0
        while line := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            if number == 1:
                # A UTF-8 byte order mark opening the file is not part of its first line.
                line = line.removeprefix(b"\xef\xbb\xbf")
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                yield number, line[:KEPT_BYTES].decode("utf-8", errors="replace"), False
                continue
            yield number, line.decode("utf-8", errors="replace"), True


def _line_rows(
    path: Path, landing: Path, zone: ZoneInfo | None, rejected: list[Rejected]
) -> Iterator[dict[str, Any]]:
    """The rows of the file's lines, one at a time; what is refused goes to ``rejected`` (the
    line kept whole while ``rejected`` holds fewer than KEPT_RECORDS, its first KEPT_BYTES
    after that)."""
    name = lineage_name(path, landing)
    day = folder_day(path)
    window = day_window(day)

    def refuse(number: int, reason: str, line: str) -> None:
        kept = line.rstrip("\r\n")
        if len(rejected) >= KEPT_RECORDS:
            kept = kept[:KEPT_BYTES]
        rejected.append(Rejected(name, number, reason, kept))

    # Lines end at "\n" only (a "\r" elsewhere is JSON whitespace, as Arrow reads it).
    for number, line, whole in _lines(path):
        if not whole:
            refuse(number, TOO_LONG, line)
            continue
        if not line.strip():
            continue
        try:
            row = parse_record(json.loads(line), zone)
        except json.JSONDecodeError as exc:
            refuse(number, f"invalid JSON: {exc.msg}", line)
            continue
        except RecursionError:
            refuse(number, TOO_DEEP, line[:KEPT_BYTES])
            continue
        except ValueError as exc:
            refuse(number, str(exc), line)
            continue
        if window is not None and not window[0] <= row["requested_at"] < window[1]:
            assert day is not None
            refuse(number, outside_day(day), line)
            continue
        row["source_file"] = name
        row["source_line"] = number
        yield row


def read_request_file(
    path: Path, landing: Path, zone: ZoneInfo | None = None
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    rejected: list[Rejected] = []
    rows = list(_line_rows(path, landing, zone, rejected))
    return rows, rejected


def read_clean_request_file(path: Path, landing: Path) -> pa.Table | None:
    """The file's rows, read whole by Arrow, or None when any line needs ``read_request_file``
    (a line that is blank, not JSON, of another type, or fails a check of ``parse_record``).
    Times must carry an offset here: a file with a time without one, or a number, is read line
    by line (with or without a declared zone)."""
    data = path.read_bytes()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    try:
        table = pajson.read_json(
            pa.BufferReader(data), read_options=_READ_OPTIONS, parse_options=_JSON_OPTIONS
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not data or data.isspace() or table.num_rows != lines:  # isspace: no copy of the file
        return None
    if not data.isascii():  # Arrow keeps bytes that are not UTF-8; the line reader replaces them
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    requested_at = _checked_times(table, path)
    if requested_at is None:
        return None
    return _raw_columns(table, requested_at, lineage_name(path, landing), 1)


def _checked_times(table: pa.Table, path: Path) -> pa.Array | None:
    """The rows' times (naive UTC) when every row as Arrow read it passes parse_record's checks
    and lies within its folder's day; None when any row needs the line reader."""
    try:
        requested_at = pc.cast(
            pc.cast(table["time"], pa.timestamp("us", tz="UTC")), pa.timestamp("us")
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    usage = table["usage"]
    tokens = _tokens(usage)
    known = pc.or_kleene(
        pc.or_kleene(
            pc.is_valid(tokens["prompt_tokens"]), pc.is_valid(tokens["completion_tokens"])
        ),
        pc.or_kleene(
            pc.is_valid(pc.struct_field(usage, "prompt_tokens_details")),
            pc.is_valid(pc.struct_field(usage, "completion_tokens_details")),
        ),
    )
    problems = [
        # or_kleene: a null is missing (or_ would make "null or null" null, read as clean).
        *(
            pc.or_kleene(pc.is_null(table[k]), pc.equal(table[k], ""))
            for k in REQUIRED
            if k != "status"
        ),
        pc.is_null(table["status"]),
        pc.less(table["status"], 100),
        pc.greater(table["status"], 599),
        pc.less(table["attempt"], 0),
        pc.greater_equal(table["attempt"], 2**31),  # attempt is int32
        *(pc.less(column, 0) for column in tokens.values()),
        pc.less(table["time_to_first_token_ms"], 0),
        pc.less(table["duration_ms"], 0),
        # NaN and infinities are not latencies (the line reader names them).
        pc.invert(pc.is_finite(table["time_to_first_token_ms"])),
        pc.invert(pc.is_finite(table["duration_ms"])),
        # A usage object with none of the fields read: parse_record tells {} from {"x": 1}.
        pc.and_(pc.is_valid(usage), pc.invert(known)),
    ]
    if (window := day_window(folder_day(path))) is not None:
        problems += [
            pc.less(requested_at, pa.scalar(window[0], pa.timestamp("us"))),
            pc.greater_equal(requested_at, pa.scalar(window[1], pa.timestamp("us"))),
        ]
    if any(pc.any(pc.fill_null(p, False)).as_py() for p in problems):
        return None
    return requested_at


def _tokens(usage: pa.ChunkedArray) -> dict[str, pa.ChunkedArray]:
    return {
        "prompt_tokens": pc.struct_field(usage, "prompt_tokens"),
        "completion_tokens": pc.struct_field(usage, "completion_tokens"),
        "cached_prompt_tokens": pc.struct_field(usage, ["prompt_tokens_details", "cached_tokens"]),
        "reasoning_tokens": pc.struct_field(
            usage, ["completion_tokens_details", "reasoning_tokens"]
        ),
    }


def _raw_columns(table: pa.Table, requested_at: pa.Array, name: str, first_line: int) -> pa.Table:
    """The raw columns of rows _checked_times passed, the first on line ``first_line``."""
    usage = table["usage"]
    columns = {
        # Built in Arrow, not from Python lists: a tenth of the time the parse takes.
        "source_file": pa.repeat(pa.scalar(name, pa.string()), table.num_rows),
        "source_line": pc.add(
            pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int32()), table.num_rows)),
            pa.scalar(first_line - 1, pa.int32()),
        ),
        "request_id": table["request_id"],
        "requested_at": requested_at,
        "host": table["host"],
        "endpoint": table["endpoint"],
        "workload": table["workload"],
        "model": table["model"],
        "http_status": table["status"],
        "finish_reason": table["finish_reason"],
        "attempt": table["attempt"],
        "retry_of": table["retry_of"],
        "is_synthetic": pc.fill_null(table["synthetic"], False),
        "has_usage": pc.is_valid(usage),
        **_tokens(usage),
        "source_system": pa.repeat(pa.scalar(gateways.NATIVE, pa.string()), table.num_rows),
        "time_to_first_token_ms": table["time_to_first_token_ms"],
        "duration_ms": table["duration_ms"],
    }
    return pa.table(
        [pc.cast(columns[name], dtype) for name, dtype in COLUMNS.items()],
        schema=SCHEMA,
    )


def _stream_clean(path: Path, landing: Path) -> Iterator[pa.Table] | None:
    """A file above WHOLE_FILE_BYTES read by Arrow in blocks, as read_clean_request_file reads
    a smaller one whole: None when any line needs the line reader (found in a first pass that
    keeps nothing), else the tables of its blocks. Memory: a block, whatever the file's size."""
    lines = 0
    last = b""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        while chunk := handle.read(STREAM_BLOCK):
            if lines == 0 and last == b"" and chunk.startswith(b"\xef\xbb\xbf"):
                return None  # the line reader drops the byte order mark
            lines += chunk.count(b"\n")
            last = chunk
            if not chunk.isascii():
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    return None
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    lines += 0 if last.endswith(b"\n") else 1

    def blocks() -> Iterator[tuple[pa.Table, pa.Array | None]]:
        reader = pajson.open_json(path, read_options=_STREAM_OPTIONS, parse_options=_JSON_OPTIONS)
        for batch in reader:
            table = pa.Table.from_batches([batch])
            yield table, _checked_times(table, path)

    rows = 0
    try:
        for table, times in blocks():
            if times is None:
                return None
            rows += table.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if rows != lines:  # a blank line: Arrow skips it, the lines are numbered with it
        return None

    def tables() -> Iterator[pa.Table]:
        name = lineage_name(path, landing)
        first = 1
        for table, times in blocks():
            assert times is not None
            yield _raw_columns(table, times, name, first)
            first += table.num_rows

    return tables()


def _large_file_tables(
    path: Path, landing: Path, zone: ZoneInfo | None, rejected: list[Rejected]
) -> Iterator[pa.Table]:
    """A file above WHOLE_FILE_BYTES as tables, its refused lines added to ``rejected``: in
    Arrow's blocks when it is clean, else in chunks of LINE_CHUNK lines."""
    streamed = _stream_clean(path, landing)
    if streamed is not None:
        yield from streamed
        return
    rows: list[dict[str, Any]] = []
    for row in _line_rows(path, landing, zone, rejected):
        rows.append(row)
        if len(rows) == LINE_CHUNK:
            yield pa.Table.from_pylist(rows, schema=SCHEMA)
            rows = []
    yield pa.Table.from_pylist(rows, schema=SCHEMA)


def read_request_table(
    path: Path, landing: Path, zone: ZoneInfo | None = None
) -> tuple[pa.Table, list[Rejected]]:
    """The file's rows and rejected lines, read whole when it is clean, else line by line."""
    table = read_clean_request_file(path, landing)
    if table is not None:
        return table, []
    rows, rejected = read_request_file(path, landing, zone)
    return pa.Table.from_pylist(rows, schema=SCHEMA), rejected


def _gateway_tables(
    files: list[Path],
    landing: Path,
    rejected: list[Rejected],
    skipped: Counter[str] | None,
) -> Iterator[pa.Table]:
    """The rows of a day's gateway logs (gateways.py): each LiteLLM file, then the OTLP files
    together (a call's spans may be in several files). A row more than DAY_TOLERANCE from the
    day in its file's path is refused, as an envelope line outside its folder's day is."""
    root = landing / "inference"
    settings = gateways.read_settings(root)
    by_system: dict[str, list[Path]] = {}
    for path in files:
        if path != gateways.settings_path(root):
            by_system.setdefault(gateways.system_of(path, root), []).append(path)
    reads: list[tuple[list[dict[str, Any]], list[Rejected]]] = [
        gateways.read_litellm(path, landing, settings)
        for path in by_system.get(gateways.LITELLM, [])
    ]
    if by_system.get(gateways.OTEL):
        rows, refused, passed_over = gateways.read_otel(by_system[gateways.OTEL], landing, settings)
        reads.append((rows, refused))
        if skipped is not None:
            skipped.update(passed_over)
    for rows, refused in reads:
        rejected += refused
        kept = []
        for row in rows:
            day = gateways.path_day(Path(row["source_file"]))
            window = day_window(day)
            if window is not None and not window[0] <= row["requested_at"] < window[1]:
                assert day is not None
                rejected.append(
                    Rejected(
                        row["source_file"],
                        row["source_line"],
                        outside_day(day),
                        f"request {row['request_id']} at {row['requested_at']}",
                    )
                )
                continue
            kept.append(row)
        yield pa.Table.from_pylist(kept, schema=SCHEMA)


def day_tables(
    files: list[Path],
    landing: Path,
    zone: ZoneInfo | None,
    rejected: list[Rejected],
    skipped: Counter[str] | None = None,
) -> Iterator[pa.Table]:
    """The day's rows as tables, file by file in order, refused lines added to ``rejected``
    (and gateway records passed over counted in ``skipped``). Envelope files up to
    WHOLE_FILE_BYTES are parsed on several threads (Arrow lets go of the GIL), at most _READERS
    at a time ahead of the consumer; larger ones are read in blocks."""
    root = landing / "inference"
    settings = gateways.settings_path(root)
    is_gateway = [
        gateways.system_of(path, root) != gateways.NATIVE or path == settings for path in files
    ]
    gateway = [path for path, flag in zip(files, is_gateway, strict=True) if flag]
    files = [path for path, flag in zip(files, is_gateway, strict=True) if not flag]
    if gateway:
        yield from _gateway_tables(gateway, landing, rejected, skipped)
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        ahead: list[tuple[Path, Future[tuple[pa.Table, list[Rejected]]] | None]] = []
        queue = iter(files)
        while True:
            while len(ahead) < _READERS and (path := next(queue, None)) is not None:
                small = path.stat().st_size <= WHOLE_FILE_BYTES
                future = pool.submit(read_request_table, path, landing, zone) if small else None
                ahead.append((path, future))
            if not ahead:
                return
            path, future = ahead.pop(0)
            if future is None:
                yield from _large_file_tables(path, landing, zone, rejected)
            else:
                table, refused = future.result()
                rejected += refused
                yield table


def read_day(
    files: list[Path], landing: Path, zone: ZoneInfo | None = None
) -> tuple[pa.Table, list[Rejected]]:
    """The day's rows (the raw columns but partition_date) and rejected lines, in memory."""
    rejected: list[Rejected] = []
    tables = list(day_tables(files, landing, zone, rejected))
    return (pa.concat_tables(tables) if tables else SCHEMA.empty_table()), rejected


def write_day(
    files: list[Path],
    landing: Path,
    zone: ZoneInfo | None,
    target: Path,
    skipped: Counter[str] | None = None,
) -> tuple[int, list[Rejected]]:
    """Write the day's rows to one Parquet file as they are read, a row group at a time (memory:
    a few row groups, whatever the day's size); (rows, rejected lines)."""
    rejected: list[Rejected] = []
    rows = 0
    pending: list[pa.Table] = []
    with pq.ParquetWriter(target, SCHEMA, **_WRITER_OPTIONS) as writer:
        for table in day_tables(files, landing, zone, rejected, skipped):
            pending.append(table)
            if sum(t.num_rows for t in pending) >= ROW_GROUP:
                whole = pa.concat_tables(pending)
                full = whole.num_rows - whole.num_rows % ROW_GROUP
                writer.write_table(whole.slice(0, full), row_group_size=ROW_GROUP)
                pending = [whole.slice(full)]
                rows += full
        whole = pa.concat_tables(pending) if pending else SCHEMA.empty_table()
        if whole.num_rows:  # a day of no rows is a file of the schema alone
            writer.write_table(whole, row_group_size=ROW_GROUP)
        rows += whole.num_rows
    return rows, rejected


# The result of write_day started earlier (land_days): the file written, rows, rejected lines,
# gateway records passed over.
DayWriter = Callable[[], tuple[Path, int, list[Rejected], Counter[str]]]


def _write_ahead(
    files: list[Path], landing: Path, zone: ZoneInfo | None, target: Path
) -> tuple[Path, int, list[Rejected], Counter[str]]:
    skipped: Counter[str] = Counter()
    try:
        rows, rejected = write_day(files, landing, zone, target, skipped)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, rows, rejected, skipped


def land_days(
    conn: duckdb.DuckDBPyConnection, days: list[tuple[date, list[Path]]], landing: Path
) -> Iterator[tuple[date, int, int, Counter[str]]]:
    """land_day for each day in turn: (day, landed, quarantined, gateway records passed over,
    by reason: counted when the day is parsed, none when it is kept as it was). The next day's
    files are
    parsed and written on a second thread while a day is committed, to a file beside the raw
    folder (removed if the day does not land)."""
    zone = declared_zone()
    kept = raw_files.root(conn) / raw_files.REQUESTS
    # What a landing killed mid-write left (one writer: none is running).
    for leftover in kept.parent.glob(f".{kept.name}-*.parquet"):
        leftover.unlink(missing_ok=True)
    with ThreadPoolExecutor(max_workers=1) as writer:

        def start(
            day: date, files: list[Path]
        ) -> Future[tuple[Path, int, list[Rejected], Counter[str]]] | None:
            if _kept_as_is(conn, day, files, landing, zone) is not None:
                return None  # nothing to parse
            target = kept.parent / f".{kept.name}-{_token(files, landing, zone)}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            return writer.submit(_write_ahead, files, landing, zone, target)

        ahead = start(*days[0]) if days else None
        try:
            for index, (day, files) in enumerate(days):
                current = ahead
                ahead = start(*days[index + 1]) if index + 1 < len(days) else None
                skipped: Counter[str] = Counter()
                landed, quarantined = land_day(
                    conn,
                    day,
                    files,
                    landing,
                    written=current.result if current else None,
                    skipped=skipped,
                )
                yield day, landed, quarantined, skipped
        finally:
            # A write started for a day that will not land now: cancelled, or its file removed.
            if ahead is not None and not ahead.cancel():
                with contextlib.suppress(BaseException):
                    ahead.result()[0].unlink(missing_ok=True)


def _token(files: list[Path], landing: Path, zone: ZoneInfo | None) -> str:
    """A kept day's name: the version of the files it was parsed from, by which CONVERSION, and
    in which declared zone (a zone declared or changed parses the day again)."""
    token = f"{input_version(files, landing)}-c{CONVERSION}"
    if zone is not None:
        token += "-z" + hashlib.sha256(zone.key.encode()).hexdigest()[:8]
    return token


def _kept_as_is(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    files: list[Path],
    landing: Path,
    zone: ZoneInfo | None,
) -> raw_files.DayStats | None:
    """The day's kept file when it was parsed from these very files."""
    return raw_files.current(conn, raw_files.REQUESTS, day, _token(files, landing, zone))


def land_day(
    conn: duckdb.DuckDBPyConnection,
    day: date,
    files: list[Path],
    landing: Path,
    written: DayWriter | None = None,
    skipped: Counter[str] | None = None,
) -> tuple[int, int]:
    """Replace the day's requests (and their quarantine rows); returns (landed, quarantined).
    ``skipped``: where the gateway records passed over are counted (gateways.py).

    The day is kept as one Parquet file of the raw columns (pipelines/lib/raw_files.py), named
    by the files' version and CONVERSION: landing the same files again parses nothing.
    ``written``: the result of a write_day started by land_days."""
    zone = declared_zone()
    token = _token(files, landing, zone)
    stats = raw_files.current(conn, raw_files.REQUESTS, day, token)
    if stats is not None:  # the day as it is (raw.landing_log has its version already)
        [(quarantined,)] = conn.execute(
            "select count(*) from raw.quarantine where source = ? and partition_key = ?",
            [SOURCE, day.isoformat()],
        ).fetchall()
        return stats.rows, int(quarantined)
    folder = raw_files.incoming(conn, raw_files.REQUESTS, token)
    try:
        if written is None:
            rows, rejected = write_day(files, landing, zone, folder / "requests.parquet", skipped)
        else:
            path, rows, rejected, passed_over = written()
            path.replace(folder / "requests.parquet")
            if skipped is not None:
                skipped.update(passed_over)
        with transaction(conn):
            log_landing(conn, SOURCE, day, files, landing)
            replace_quarantine(conn, Quarantine(SOURCE, day.isoformat(), rejected))
            raw_files.record(
                conn, raw_files.REQUESTS, day, token, len(files), raw_files.DayStats(rows=rows)
            )
    except BaseException:
        raw_files.discard(conn, raw_files.REQUESTS, token)
        raise
    raw_files.settle(conn, [(raw_files.REQUESTS, str(day))])
    return rows, len(rejected)
