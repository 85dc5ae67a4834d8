"""Request logs as gateways write them: LiteLLM's logging payloads and OpenTelemetry GenAI spans.

Each record becomes a row of the request-log envelope (``load.COLUMNS``), its ``source_system``
kept, so that the rules of allocation rule 5 (useful tokens, copies, retries, synthetic traffic)
apply to them unchanged; docs/gateway-logs.md, docs/litellm-logs.md and
docs/otel-genai-spans.md have the field mappings.

- ``inference/litellm/**/*.json`` and ``*.jsonl``: LiteLLM ``StandardLoggingPayload`` objects
  as its logging callbacks write them: one object per file (the S3 and GCS bucket loggers), or
  one per line. The ``litellm`` package is not needed to read them.
- ``inference/otel/**/*.json`` and ``*.jsonl``: OTLP JSON as the OpenTelemetry Collector's file
  exporter writes it, a ``{"resourceSpans": ...}`` document per line, parsed with the protobuf
  JSON mapping of ``opentelemetry-proto``. Spans of GenAI operations are requests; a span that
  is not one is skipped and counted; of the spans of one call seen at two tiers (a client span
  and the server span under it), the one nearest the model server is the request.

A file's day is the date in its path (a ``YYYY-MM-DD`` or ``date=YYYY-MM-DD`` folder, or a name
holding one, as LiteLLM's bucket loggers and the collector's rotated files have). The settings
(workload field, host map, synthetic marker) are read from ``inference/gateways.yml``.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from google.protobuf import json_format
from opentelemetry.proto.trace.v1 import trace_pb2

from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name
from pipelines.lib.warehouse import Rejected
from pipelines.lib.yaml_files import load_yaml

NATIVE = "gpuledger"
LITELLM = "litellm"
OTEL = "otel"
# The landing folders under inference/ and the system each holds.
FOLDERS = {"litellm": LITELLM, "otel": OTEL}
SETTINGS_FILE = "gateways.yml"
SUFFIXES = (".json", ".jsonl")
KEPT_BYTES = 1024

_DAY = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")

# gen_ai.operation.name values that are a model generating tokens for a request.
GENAI_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
SKIPPED_NOT_GENAI = "spans without a GenAI operation (chat, text_completion, generate_content)"
SKIPPED_SAME_CALL = "GenAI spans of a call counted by its span nearer the model server"


@dataclass(frozen=True)
class Settings:
    """inference/gateways.yml: how a gateway's records name their workload, host and traffic.

    ``workload``: a dotted path into a LiteLLM payload (``metadata.user_api_key_team_alias``)
    or the name of an OTel span or resource attribute (``service.name``). ``hosts``: an
    ``api_base`` or ``server.address`` (or its host name) to the host the telemetry knows.
    ``synthetic``: a LiteLLM request tag, or an OTel attribute whose value true marks
    synthetic traffic (health checks, load tests)."""

    litellm_workload: str = "metadata.user_api_key_team_alias"
    litellm_model: str = "model"
    litellm_synthetic_tag: str | None = None
    otel_workload: str = "service.name"
    otel_synthetic_attribute: str | None = None
    hosts: Mapping[str, str] = field(default_factory=dict)


def settings_path(inference_root: Path) -> Path:
    return inference_root / SETTINGS_FILE


def read_settings(inference_root: Path) -> Settings:
    path = settings_path(inference_root)
    if not path.is_file():
        return Settings()
    loaded = load_yaml(path) or {}
    if not isinstance(loaded, dict) or not set(loaded) <= {"litellm", "otel", "hosts"}:
        raise LandingError(path, "has unknown keys", expected="litellm, otel and hosts")
    litellm, otel, hosts = (loaded.get(k) or {} for k in ("litellm", "otel", "hosts"))
    for name, section, keys in (
        ("litellm", litellm, {"workload", "model", "synthetic_tag"}),
        ("otel", otel, {"workload", "synthetic_attribute"}),
    ):
        if not isinstance(section, dict) or not set(section) <= keys:
            raise LandingError(path, f"{name} is not a mapping of {', '.join(sorted(keys))}")
        if not all(isinstance(v, str) and v for v in section.values()):
            raise LandingError(path, f"{name}: every value is a non-empty text")
    if not isinstance(hosts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in hosts.items()
    ):
        raise LandingError(path, "hosts is not a mapping", expected="api_base or address: host")
    if litellm.get("model", "model") not in ("model", "model_group"):
        raise LandingError(path, "litellm.model is neither model nor model_group")
    defaults = Settings()
    return Settings(
        litellm_workload=litellm.get("workload", defaults.litellm_workload),
        litellm_model=litellm.get("model", defaults.litellm_model),
        litellm_synthetic_tag=litellm.get("synthetic_tag"),
        otel_workload=otel.get("workload", defaults.otel_workload),
        otel_synthetic_attribute=otel.get("synthetic_attribute"),
        hosts=dict(hosts),
    )


# --- files and days ----------------------------------------------------------------------------


def path_day(relative: Path) -> date | None:
    """The day a gateway file belongs to: the first date in its path (a folder's, else the
    name's). Every file under a dated folder is of that folder's day, so a day's files are
    found without entering the folders of other days (files_of_day)."""
    for part in relative.parts:
        for found in _DAY.findall(part):
            try:
                return date.fromisoformat(found)
            except ValueError:
                continue
    return None


def _gateway_files(inference_root: Path) -> Iterator[tuple[Path, str]]:
    for folder, system in FOLDERS.items():
        root = inference_root / folder
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            if path.suffix in SUFFIXES and not path.name.startswith(".") and path.is_file():
                yield path, system


def files_of_day(inference_root: Path, day: date) -> list[Path]:
    """The gateway files of ``day``: a folder dated another day is not entered, so a day of a
    bucket logger's ``<prefix>/<YYYY-MM-DD>/`` layout costs a listing of that day's folder."""
    found = []
    for folder in FOLDERS:
        for current, subdirs, names in os.walk(inference_root / folder):
            here = Path(current).relative_to(inference_root)
            subdirs[:] = [d for d in subdirs if path_day(here / d) in (None, day)]
            found += [
                inference_root / here / name
                for name in names
                if name.endswith(SUFFIXES)
                and not name.startswith(".")
                and path_day(here / name) == day
            ]
    return sorted(found)


def gateway_days(inference_root: Path) -> set[str]:
    return {
        found.isoformat()
        for path, _ in _gateway_files(inference_root)
        if (found := path_day(path.relative_to(inference_root))) is not None
    }


def undated_files(inference_root: Path) -> list[str]:
    """Gateway files without a date in their path: never landed, and named by the landing."""
    return sorted(
        path.relative_to(inference_root).as_posix()
        for path, _ in _gateway_files(inference_root)
        if path_day(path.relative_to(inference_root)) is None
    )


def system_of(path: Path, inference_root: Path) -> str:
    try:
        first = path.relative_to(inference_root).parts[0]
    except (ValueError, IndexError):
        return NATIVE
    return FOLDERS.get(first, NATIVE)


# --- values ------------------------------------------------------------------------------------


def _lookup(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for key in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _count(value: Any, name: str) -> int | None:
    """A token count: an exact non-negative integer, or None when not logged."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be epoch seconds as a number, got {value!r}")
    if not 0 < value < 253402300800:  # before 10000-01-01
        raise ValueError(f"{name} is outside the years 1970 to 9999: {value!r}")
    return float(value)


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _host(address: str | None, hosts: Mapping[str, str]) -> str | None:
    """An address (URL or name) through the host map, else its host name."""
    if not address:
        return None
    if address in hosts:
        return hosts[address]
    name = urlsplit(address if "//" in address else f"//{address}").hostname or address
    return hosts.get(name, name)


def _ms(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    if later < earlier:
        raise ValueError("a time of the call is before its start")
    return round((later - earlier) * 1000.0, 3)


def _row(
    *,
    system: str,
    request_id: str,
    requested_at: datetime,
    host: str,
    endpoint: str | None,
    workload: str,
    model: str,
    http_status: int | None,
    finish_reason: str | None,
    synthetic: bool,
    retry_of: str | None = None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    cached_prompt_tokens: int | None,
    reasoning_tokens: int | None,
    time_to_first_token_ms: float | None,
    duration_ms: float | None,
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "requested_at": requested_at,
        "host": host,
        "endpoint": endpoint,
        "workload": workload,
        "model": model,
        "http_status": http_status,
        "finish_reason": finish_reason,
        "attempt": None,
        "retry_of": retry_of,
        "is_synthetic": synthetic,
        "has_usage": prompt_tokens is not None or completion_tokens is not None,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cached_prompt_tokens": cached_prompt_tokens,
        "reasoning_tokens": reasoning_tokens,
        "source_system": system,
        "time_to_first_token_ms": time_to_first_token_ms,
        "duration_ms": duration_ms,
    }


# --- LiteLLM -----------------------------------------------------------------------------------

LITELLM_REQUIRED = ("id", "startTime", "status")


def litellm_row(record: Any, settings: Settings) -> dict[str, Any]:
    """One StandardLoggingPayload to a request row; ValueError says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError("payload is not a JSON object")
    missing = [k for k in LITELLM_REQUIRED if record.get(k) in (None, "")]
    if missing:
        raise ValueError(f"required field missing: {', '.join(missing)}")
    status = record["status"]
    if status not in ("success", "failure"):
        raise ValueError(f"status must be success or failure, got {status!r}")
    start = _seconds(record["startTime"], "startTime")
    end = None if record.get("endTime") is None else _seconds(record["endTime"], "endTime")
    first = record.get("completionStartTime")
    first = None if first is None else _seconds(first, "completionStartTime")
    host = _host(record.get("api_base"), settings.hosts)
    if host is None:
        raise ValueError("api_base missing: the request's host is unknown")
    workload = _lookup(record, settings.litellm_workload)
    if workload in (None, "") or not isinstance(workload, str):
        raise ValueError(f"workload field {settings.litellm_workload} missing or not text")
    model = record.get(settings.litellm_model) or record.get("model")
    if not model or not isinstance(model, str):
        raise ValueError(f"required field missing: {settings.litellm_model}")
    usage = _lookup(record, "metadata.usage_object")
    usage = usage if isinstance(usage, dict) else {}
    if status == "success":
        http_status: int | None = 200
    else:
        code = _lookup(record, "error_information.error_code")
        http_status = int(code) if str(code or "").isdigit() and 100 <= int(code) <= 599 else None
    response = record.get("response")
    choices = response.get("choices") if isinstance(response, dict) else None
    finish = None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        finish = choices[0].get("finish_reason")
        finish = finish if isinstance(finish, str) and finish else None
    # The payloads of one proxy request (its retries and fallbacks) share trace_id: each is
    # an attempt of the chain rooted there, and only the last counts (allocation rule 5).
    trace_id = record.get("trace_id")
    retry_of = (
        trace_id if isinstance(trace_id, str) and trace_id and trace_id != record["id"] else None
    )
    tags = record.get("request_tags") or []
    synthetic = settings.litellm_synthetic_tag is not None and (
        isinstance(tags, list) and settings.litellm_synthetic_tag in tags
    )
    return _row(
        system=LITELLM,
        request_id=str(record["id"]),
        requested_at=_instant(start),
        host=host,
        endpoint=record.get("call_type") if isinstance(record.get("call_type"), str) else None,
        workload=workload,
        model=model,
        http_status=http_status,
        finish_reason=finish,
        synthetic=synthetic,
        retry_of=retry_of,
        prompt_tokens=_count(record.get("prompt_tokens"), "prompt_tokens"),
        completion_tokens=_count(record.get("completion_tokens"), "completion_tokens"),
        cached_prompt_tokens=_count(
            _lookup(usage, "prompt_tokens_details.cached_tokens"),
            "usage_object.prompt_tokens_details.cached_tokens",
        ),
        reasoning_tokens=_count(
            _lookup(usage, "completion_tokens_details.reasoning_tokens"),
            "usage_object.completion_tokens_details.reasoning_tokens",
        ),
        # A success's first token: completionStartTime (for a call that did not stream, the
        # response's arrival, which is its first token).
        time_to_first_token_ms=_ms(first, start) if status == "success" else None,
        duration_ms=_ms(end, start),
    )


def _records(path: Path) -> Iterator[tuple[int, str]]:
    """(record number, text): a .jsonl file's lines, a .json file's one object (or, when it
    holds an array, its elements, numbered from 1)."""
    text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                yield number, line
        return
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        yield 1, text
        return
    if isinstance(whole, list):
        for number, item in enumerate(whole, start=1):
            yield number, json.dumps(item)
    else:
        yield 1, text


def _kept(text: str) -> str:
    return text.rstrip("\r\n")[:KEPT_BYTES] if len(text) > KEPT_BYTES else text.rstrip("\r\n")


def read_litellm(
    path: Path, landing: Path, settings: Settings
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    name = lineage_name(path, landing)
    rows: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for number, text in _records(path):
        try:
            row = litellm_row(json.loads(text), settings)
        except json.JSONDecodeError as exc:
            rejected.append(Rejected(name, number, f"invalid JSON: {exc.msg}", _kept(text)))
            continue
        except ValueError as exc:
            rejected.append(Rejected(name, number, str(exc), _kept(text)))
            continue
        row["source_file"] = name
        row["source_line"] = number
        rows.append(row)
    return rows, rejected


# --- OpenTelemetry -----------------------------------------------------------------------------


def _hex_id(raw: bytes, size: int) -> str:
    """A trace or span id as hex. OTLP JSON writes ids as hex, which the protobuf JSON mapping
    reads as base64 (24 bytes for a 16-byte id): those bytes give the hex text back. The
    mapping's own base64 ids (as the SDK's protobuf serializes) are the id's bytes."""
    if len(raw) == size:
        return raw.hex()
    text = base64.b64encode(raw).decode("ascii")
    if len(text) == 2 * size and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    raise ValueError(f"id is neither {size} bytes nor {2 * size} hex digits")


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind)


def _attributes(pairs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


@dataclass
class _Span:
    source_file: str
    # A row's source_line: the span's number in its file (a line holds a batch of spans).
    source_line: int
    line: int
    text: str
    trace_id: str
    span_id: str
    parent_id: str
    span: Any
    attributes: dict[str, Any]
    resource: dict[str, Any]


def _first(attributes: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if attributes.get(name) is not None:
            return attributes[name]
    return None


def otel_row(item: _Span, settings: Settings) -> dict[str, Any]:
    """One GenAI span to a request row; ValueError says what is wrong with it."""
    attrs, span = item.attributes, item.span
    if not span.start_time_unix_nano:
        raise ValueError("span has no start time")
    start = span.start_time_unix_nano / 1e9
    end = span.end_time_unix_nano / 1e9 if span.end_time_unix_nano else None
    host = _host(_first(attrs, "server.address"), settings.hosts) or _host(
        item.resource.get("host.name"), settings.hosts
    )
    if host is None:
        raise ValueError("neither server.address nor the resource's host.name: host unknown")
    workload = _first(attrs, settings.otel_workload)
    if workload is None:
        workload = item.resource.get(settings.otel_workload)
    if workload in (None, "") or not isinstance(workload, str):
        raise ValueError(f"workload attribute {settings.otel_workload} missing or not text")
    model = _first(attrs, "gen_ai.response.model", "gen_ai.request.model")
    if not model or not isinstance(model, str):
        raise ValueError("gen_ai.response.model and gen_ai.request.model missing")
    failed = span.status.code == trace_pb2.Status.STATUS_CODE_ERROR or attrs.get("error.type")
    code = attrs.get("http.response.status_code")
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
        http_status: int | None = code
    else:
        http_status = None if failed else 200
    if failed and http_status is not None and 200 <= http_status < 300:
        http_status = None  # an error the HTTP status does not show
    reasons = attrs.get("gen_ai.response.finish_reasons")
    finish = reasons[0] if isinstance(reasons, list) and reasons else None
    synthetic_value = None
    if settings.otel_synthetic_attribute is not None:
        synthetic_value = _first(attrs, settings.otel_synthetic_attribute)
        if synthetic_value is None:
            synthetic_value = item.resource.get(settings.otel_synthetic_attribute)
    return _row(
        system=OTEL,
        request_id=f"{item.trace_id}-{item.span_id}",
        requested_at=_instant(start),
        host=host,
        endpoint=attrs.get("gen_ai.operation.name"),
        workload=workload,
        model=model,
        http_status=http_status,
        finish_reason=finish if isinstance(finish, str) and finish else None,
        synthetic=synthetic_value is True or str(synthetic_value).lower() == "true",
        # The names of conventions up to 1.36 (prompt / completion) and after (input / output).
        prompt_tokens=_count(
            _first(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
            "gen_ai.usage.input_tokens",
        ),
        completion_tokens=_count(
            _first(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
            "gen_ai.usage.output_tokens",
        ),
        cached_prompt_tokens=_count(
            attrs.get("gen_ai.usage.cache_read.input_tokens"),
            "gen_ai.usage.cache_read.input_tokens",
        ),
        reasoning_tokens=None,
        # Spans carry no time to first token (GenAI conventions have it as a metric only).
        time_to_first_token_ms=None,
        duration_ms=_ms(end, start),
    )


def read_otel(
    paths: list[Path], landing: Path, settings: Settings
) -> tuple[list[dict[str, Any]], list[Rejected], Counter[str]]:
    """The GenAI spans of a day's OTLP files as request rows, the lines or spans refused, and
    the spans skipped by reason. Of GenAI spans of one call at two tiers (an ancestor GenAI
    span in the same trace, found through any spans between them), the deepest counts."""
    rejected: list[Rejected] = []
    skipped: Counter[str] = Counter()
    parents: dict[tuple[str, str], str] = {}
    genai: list[_Span] = []
    for path in paths:
        name = lineage_name(path, landing)
        ordinal = 0
        for number, text in _records(path):
            data = trace_pb2.TracesData()
            try:
                json_format.Parse(text, data)
            except (json_format.ParseError, ValueError) as exc:
                rejected.append(Rejected(name, number, f"not OTLP JSON: {exc}", _kept(text)))
                continue
            for resource_spans in data.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        ordinal += 1
                        try:
                            trace_id = _hex_id(span.trace_id, 16)
                            span_id = _hex_id(span.span_id, 8)
                            parent = _hex_id(span.parent_span_id, 8) if span.parent_span_id else ""
                        except ValueError as exc:
                            rejected.append(
                                Rejected(name, number, f"span {span.name!r}: {exc}", _kept(text))
                            )
                            continue
                        parents[(trace_id, span_id)] = parent
                        attrs = _attributes(span.attributes)
                        if attrs.get("gen_ai.operation.name") not in GENAI_OPERATIONS:
                            skipped[SKIPPED_NOT_GENAI] += 1
                            continue
                        genai.append(
                            _Span(
                                name,
                                ordinal,
                                number,
                                text,
                                trace_id,
                                span_id,
                                parent,
                                span,
                                attrs,
                                resource,
                            )
                        )
    ancestors: set[tuple[str, str]] = set()
    for item in genai:
        seen: set[str] = set()
        parent = item.parent_id
        while parent and parent not in seen:
            seen.add(parent)
            ancestors.add((item.trace_id, parent))
            parent = parents.get((item.trace_id, parent), "")
    rows: list[dict[str, Any]] = []
    for item in genai:
        if (item.trace_id, item.span_id) in ancestors:
            skipped[SKIPPED_SAME_CALL] += 1
            continue
        try:
            row = otel_row(item, settings)
        except ValueError as exc:
            rejected.append(
                Rejected(
                    item.source_file,
                    item.line,
                    f"span {item.span_id}: {exc}",
                    _kept(item.text),
                )
            )
            continue
        row["source_file"] = item.source_file
        row["source_line"] = item.source_line
        rows.append(row)
    return rows, rejected, skipped
