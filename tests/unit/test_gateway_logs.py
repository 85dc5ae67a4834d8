"""Request logs as gateways write them land beside the envelope's: LiteLLM's logging payloads
(fixtures written from its StandardLoggingPayload specification) and OTLP JSON spans written by
the OpenTelemetry SDK itself, serialized with the protobuf JSON mapping. Each landing's token
totals equal the files' own sums, computed here from the files."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from pipelines.defs.sources.inference import gateways, objectives
from pipelines.defs.sources.inference import load as requests
from pipelines.lib.errors import LandingError
from pipelines.lib.warehouse import connect

FIXTURES = Path(__file__).parents[1] / "fixtures" / "gateways"
DAY = date(2026, 10, 30)
START = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)


def _land(landing: Path, tmp_path: Path) -> tuple[list[dict[str, Any]], list[tuple], Any]:
    """Land DAY through the request-log landing: (rows, quarantine rows, skipped counts)."""
    files = requests.request_files(landing / "inference", DAY)
    with connect(tmp_path / "w.duckdb") as conn:
        [(day, _, _, skipped)] = list(requests.land_days(conn, [(DAY, files)], landing))
        assert day == DAY
        cursor = conn.execute(
            "select * exclude (partition_date) from raw.inference_requests"
            " order by source_file, source_line"
        )
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        quarantine = conn.execute(
            "select source_file, source_line, reason from raw.quarantine order by 1, 2"
        ).fetchall()
    return rows, quarantine, skipped


# -- LiteLLM ------------------------------------------------------------------------------------


def _payloads() -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(file, record number, payload) of every fixture payload, read here as JSON."""
    for path in sorted((FIXTURES / "litellm").rglob("*.json*")):
        name = "inference/" + path.relative_to(FIXTURES).as_posix()
        if path.suffix == ".json":
            yield name, 1, json.loads(path.read_text())
        else:
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                yield name, number, json.loads(line)


@pytest.fixture
def litellm_landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURES / "litellm", landing / "inference" / "litellm")
    (landing / "inference" / "gateways.yml").write_text(
        "litellm:\n  workload: metadata.user_api_key_team_alias\n  synthetic_tag: synthetic\n"
        "hosts:\n  http://gpu-node-07.internal:8000/v1: gpu-node-07\n"
    )
    return landing


def test_litellm_payloads_land_with_the_files_own_token_totals(
    litellm_landing: Path, tmp_path: Path
) -> None:
    rows, quarantine, skipped = _land(litellm_landing, tmp_path)
    payloads = list(_payloads())
    valid = [p for _, _, p in payloads if p["status"] in ("success", "failure")]
    # Every payload is a row but the one with a status LiteLLM never writes.
    assert len(rows) == len(valid) == len(payloads) - 1
    assert quarantine == [
        (
            "inference/litellm/2026-10-30/litellm-2026-10-30.jsonl",
            2,
            "status must be success or failure, got 'ok'",
        )
    ]
    assert not skipped
    assert sum(r["prompt_tokens"] or 0 for r in rows) == sum(
        p.get("prompt_tokens", 0) for p in valid
    )
    assert sum(r["completion_tokens"] or 0 for r in rows) == sum(
        p.get("completion_tokens", 0) for p in valid
    )
    assert {r["source_system"] for r in rows} == {"litellm"}
    by_id = {r["request_id"]: r for r in rows}
    first = by_id["chatcmpl-0001"]
    assert first["host"] == "gpu-node-07"  # through the host map
    assert first["workload"] == "search"
    assert first["model"] == "hosted_vllm/meta-llama/Llama-3.1-70B-Instruct"
    assert first["requested_at"] == datetime(2026, 10, 30, 10, 15, 3)
    assert (first["http_status"], first["finish_reason"]) == (200, "stop")
    assert first["cached_prompt_tokens"] == 256
    # Not streamed: the first token came with the response.
    assert first["time_to_first_token_ms"] == first["duration_ms"] == 2400.0
    streamed = by_id["chatcmpl-0002"]
    assert (streamed["time_to_first_token_ms"], streamed["duration_ms"]) == (350.0, 6100.0)
    assert streamed["finish_reason"] == "length"
    failed = by_id["chatcmpl-0003"]
    assert (failed["http_status"], failed["time_to_first_token_ms"]) == (429, None)
    # A payload without token counts is flagged (no usage), never zero.
    missing = by_id["chatcmpl-0004"]
    assert (missing["has_usage"], missing["prompt_tokens"], missing["completion_tokens"]) == (
        False,
        None,
        None,
    )
    assert [r["request_id"] for r in rows if r["is_synthetic"]] == ["chatcmpl-0005"]
    # A proxy request's payloads share trace_id: one retry chain, rooted there.
    assert first["retry_of"] == "trace-0001"


def test_litellm_retries_and_fallbacks_of_one_request_are_one_chain() -> None:
    settings = gateways.Settings()
    [(_, _, good)] = [p for p in _payloads() if p[2]["id"] == "chatcmpl-0001"]
    failed = good | {"id": "call-1", "trace_id": "req-9", "status": "failure"}
    fallback = good | {"id": "call-2", "trace_id": "req-9", "startTime": good["startTime"] + 1}
    alone = good | {"id": "call-3", "trace_id": "call-3"}
    rows = [gateways.litellm_row(p, settings) for p in (failed, fallback, alone)]
    assert [(r["request_id"], r["retry_of"]) for r in rows] == [
        ("call-1", "req-9"),
        ("call-2", "req-9"),
        ("call-3", None),
    ]


def test_litellm_without_settings_reads_the_api_base_host_and_team_alias(
    litellm_landing: Path, tmp_path: Path
) -> None:
    (litellm_landing / "inference" / "gateways.yml").unlink()
    rows, _, _ = _land(litellm_landing, tmp_path)
    assert {r["host"] for r in rows} == {"gpu-node-07.internal"}
    assert not any(r["is_synthetic"] for r in rows)


def test_litellm_payload_mapping_refuses_what_it_cannot_trust() -> None:
    settings = gateways.Settings()
    [(_, _, good)] = [p for p in _payloads() if p[2]["id"] == "chatcmpl-0001"]
    for change, reason in [
        ({"prompt_tokens": 1.5}, "prompt_tokens must be a non-negative integer, got 1.5"),
        ({"completion_tokens": True}, "completion_tokens must be a non-negative integer"),
        ({"startTime": "yesterday"}, "startTime must be epoch seconds as a number"),
        ({"api_base": None}, "api_base missing"),
        ({"id": ""}, "required field missing: id"),
        ({"endTime": good["startTime"] - 1}, "a time of the call is before its start"),
        ({"metadata": {}}, "workload field metadata.user_api_key_team_alias missing"),
    ]:
        with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            gateways.litellm_row(good | change, settings)


def test_gateway_settings_are_checked(tmp_path: Path) -> None:
    (tmp_path / "gateways.yml").write_text("litellm:\n  workload_field: team\n")
    with pytest.raises(LandingError, match="litellm is not a mapping of model, synthetic_tag"):
        gateways.read_settings(tmp_path)
    (tmp_path / "gateways.yml").write_text("litellm:\n  model: deployment\n")
    with pytest.raises(LandingError, match=r"litellm\.model is neither model nor model_group"):
        gateways.read_settings(tmp_path)


def test_a_gateway_file_without_a_date_in_its_path_is_named_not_landed(tmp_path: Path) -> None:
    root = tmp_path / "inference"
    (root / "otel").mkdir(parents=True)
    (root / "otel" / "traces.jsonl").write_text("{}\n")
    (root / "otel" / "traces-2026-10-30T10-00-00.000.jsonl").write_text("{}\n")
    assert gateways.undated_files(root) == ["otel/traces.jsonl"]
    assert gateways.gateway_days(root) == {"2026-10-30"}
    assert requests.request_days(root) == ["2026-10-30"]

    # A file's day is the first date in its path: a day's files are found in its folder alone.
    (root / "litellm" / "2026-10-29").mkdir(parents=True)
    (root / "litellm" / "2026-10-29" / "time-2026-10-30.json").write_text("{}")
    (root / "litellm" / "logs" / "2026-10-30").mkdir(parents=True)
    (root / "litellm" / "logs" / "2026-10-30" / "a.json").write_text("{}")
    (root / "litellm" / "logs" / "2026-10-30" / "notes.txt").write_text("")
    assert [p.relative_to(root).as_posix() for p in gateways.files_of_day(root, DAY)] == [
        "litellm/logs/2026-10-30/a.json",
        "otel/traces-2026-10-30T10-00-00.000.jsonl",
    ]
    assert gateways.gateway_days(root) == {"2026-10-29", "2026-10-30"}


# -- OpenTelemetry ------------------------------------------------------------------------------


def _ns(seconds: float) -> int:
    return int((START.timestamp() + seconds) * 1e9)


def _spans() -> TracesData:
    """GenAI spans as the SDK records them: an app's client span over the model server's span
    of the same call (conventions after 1.36 on the client, up to 1.36 on the server), a failed
    completion, a span of another operation, and an HTTP span with no GenAI attributes."""
    exporter = InMemorySpanExporter()
    app = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    app.add_span_processor(SimpleSpanProcessor(exporter))
    server = TracerProvider(
        resource=Resource.create({"service.name": "vllm", "host.name": "gpu-node-07"})
    )
    server.add_span_processor(SimpleSpanProcessor(exporter))
    client_tracer, server_tracer = app.get_tracer("app"), server.get_tracer("vllm")

    with client_tracer.start_as_current_span(
        "chat llama-3.1-70b",
        kind=trace.SpanKind.CLIENT,
        start_time=_ns(0),
        end_on_exit=False,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "llama-3.1-70b",
            "server.address": "gpu-node-07",
            "gen_ai.usage.input_tokens": 900,
            "gen_ai.usage.output_tokens": 120,
        },
    ) as client:
        with server_tracer.start_as_current_span(
            "chat llama-3.1-70b",
            kind=trace.SpanKind.SERVER,
            start_time=_ns(0.01),
            end_on_exit=False,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "vllm",
                "gen_ai.request.model": "llama-3.1-70b",
                "gen_ai.response.model": "meta-llama/Llama-3.1-70B-Instruct",
                "gen_ai.usage.prompt_tokens": 900,
                "gen_ai.usage.completion_tokens": 120,
                "gen_ai.response.finish_reasons": ["stop"],
                "workload": "support-bot",
            },
        ) as served:
            served.end(end_time=_ns(1.51))
        client.end(end_time=_ns(1.52))
    with client_tracer.start_as_current_span(
        "text_completion llama-3.1-8b",
        kind=trace.SpanKind.CLIENT,
        start_time=_ns(10),
        end_on_exit=False,
        attributes={
            "gen_ai.operation.name": "text_completion",
            "gen_ai.request.model": "llama-3.1-8b",
            "server.address": "gpu-node-08",
            "gen_ai.usage.input_tokens": 50,
            "error.type": "timeout",
            "workload": "batch-summaries",
        },
    ) as failed:
        failed.set_status(Status(StatusCode.ERROR, "deadline exceeded"))
        failed.end(end_time=_ns(40))
    with client_tracer.start_as_current_span(
        "embeddings bge",
        start_time=_ns(20),
        end_on_exit=False,
        attributes={"gen_ai.operation.name": "embeddings", "gen_ai.usage.input_tokens": 7},
    ) as other:
        other.end(end_time=_ns(20.1))
    with client_tracer.start_as_current_span(
        "GET /health", start_time=_ns(30), end_on_exit=False
    ) as health:
        health.end(end_time=_ns(30.01))
    request = encode_spans(exporter.get_finished_spans())
    return TracesData(resource_spans=request.resource_spans)


def _hex_ids(document: Any) -> Any:
    """The document with its ids in hex, as OTLP JSON (and the Collector) writes them."""
    if isinstance(document, dict):
        return {
            k: base64.b64decode(v).hex()
            if k in ("traceId", "spanId", "parentSpanId") and v
            else _hex_ids(v)
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [_hex_ids(v) for v in document]
    return document


@pytest.mark.parametrize("ids", ["protobuf base64", "OTLP hex"])
def test_otel_genai_spans_land_once_per_call_with_old_and_new_attribute_names(
    tmp_path: Path, ids: str
) -> None:
    landing = tmp_path / "landing"
    folder = landing / "inference" / "otel"
    folder.mkdir(parents=True)
    (landing / "inference" / "gateways.yml").write_text("otel:\n  workload: workload\n")
    document = json.loads(json_format.MessageToJson(_spans(), indent=None))
    if ids == "OTLP hex":
        document = _hex_ids(document)
    path = folder / "traces-2026-10-30T09-00-00.000.jsonl"
    # The Collector's file exporter writes a document per line; here the batch is split in two.
    first, *rest = document["resourceSpans"]
    path.write_text(
        json.dumps({"resourceSpans": [first]}) + "\n" + json.dumps({"resourceSpans": rest}) + "\n"
    )

    rows, quarantine, skipped = _land(landing, tmp_path)

    assert quarantine == []
    assert dict(skipped) == {gateways.SKIPPED_NOT_GENAI: 2, gateways.SKIPPED_SAME_CALL: 1}
    assert {r["source_system"] for r in rows} == {"otel"}
    served, timed_out = sorted(rows, key=lambda r: r["requested_at"])
    # The call counts once, as its server span: the client's tokens are the same tokens.
    assert (served["prompt_tokens"], served["completion_tokens"]) == (900, 120)
    assert served["host"] == "gpu-node-07" and served["workload"] == "support-bot"
    assert served["model"] == "meta-llama/Llama-3.1-70B-Instruct"
    assert (served["http_status"], served["finish_reason"]) == (200, "stop")
    assert served["duration_ms"] == pytest.approx(1500.0, abs=0.01)
    assert served["time_to_first_token_ms"] is None  # spans carry none: never assumed
    assert served["requested_at"] == datetime(2026, 10, 30, 9, 0, 0, 10000)
    spans = document["resourceSpans"]
    server_span = next(
        s
        for rs in spans
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
        if s["kind"] == "SPAN_KIND_SERVER"
    )
    trace_id = server_span["traceId"]
    if ids == "protobuf base64":
        trace_id = base64.b64decode(trace_id).hex()
    assert served["request_id"].startswith(trace_id + "-")
    # A failed call: an error status with no HTTP status is an error of unknown status.
    assert (timed_out["http_status"], timed_out["completion_tokens"]) == (None, None)
    assert timed_out["prompt_tokens"] == 50 and timed_out["workload"] == "batch-summaries"
    # The totals equal the spans' own, counted once per call (the server span's).
    assert sum(r["prompt_tokens"] for r in rows) == 900 + 50
    # Rows are numbered by span within the file, so every row has its own place.
    assert len({(r["source_file"], r["source_line"]) for r in rows}) == len(rows)


def test_an_otlp_line_that_is_not_otlp_is_quarantined_with_its_line(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    folder = landing / "inference" / "otel" / "2026-10-30"
    folder.mkdir(parents=True)
    (folder / "spans.jsonl").write_text('{"resourceSpans": [{"scopeSpans": 3}]}\nnot json\n')
    rows, quarantine, _ = _land(landing, tmp_path)
    assert rows == []
    assert [(line, reason.split(":")[0]) for _, line, reason in quarantine] == [
        (1, "not OTLP JSON"),
        (2, "not OTLP JSON"),
    ]


# -- the envelope's own latency ----------------------------------------------------------------


def test_the_envelopes_latency_fields_land_and_a_negative_one_is_quarantined(
    tmp_path: Path,
) -> None:
    landing = tmp_path / "landing"
    folder = landing / "inference" / "requests" / f"date={DAY}"
    folder.mkdir(parents=True)
    line = {
        "time": "2026-10-30T12:00:00Z",
        "host": "h",
        "workload": "w",
        "model": "m",
        "status": 200,
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 10, "completion_tokens": 2},
    }
    (folder / "gw.jsonl").write_text(
        "\n".join(
            json.dumps(line | {"request_id": rid} | latency)
            for rid, latency in [
                ("a", {"time_to_first_token_ms": 180, "duration_ms": 950.5}),
                ("b", {}),
                ("c", {"duration_ms": -1}),
            ]
        )
        + "\n"
    )
    rows, quarantine, _ = _land(landing, tmp_path)
    assert [
        (r["request_id"], r["time_to_first_token_ms"], r["duration_ms"], r["source_system"])
        for r in rows
    ] == [("a", 180.0, 950.5, "gpuledger"), ("b", None, None, "gpuledger")]
    assert [(line, reason) for _, line, reason in quarantine] == [
        (3, "duration_ms must not be negative, got -1")
    ]


# -- service objectives -------------------------------------------------------------------------


def test_objectives_are_read_per_workload_and_a_wrong_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "inference" / "objectives.yml"
    path.parent.mkdir()
    assert objectives.read_objectives(tmp_path).num_rows == 0  # no file: no objectives
    path.write_text(
        "workloads:\n  chat:\n    time_to_first_token_ms: 500\n    duration_ms: 9000\n"
        "  batch:\n    duration_ms: 600000\n"
    )
    assert objectives.read_objectives(tmp_path).to_pylist() == [
        {
            "workload": "chat",
            "time_to_first_token_ms": 500.0,
            "time_per_output_token_ms": None,
            "duration_ms": 9000.0,
            "source_file": "inference/objectives.yml",
        },
        {
            "workload": "batch",
            "time_to_first_token_ms": None,
            "time_per_output_token_ms": None,
            "duration_ms": 600000.0,
            "source_file": "inference/objectives.yml",
        },
    ]
    for text, problem in [
        ("workloads:\n  chat:\n    duration_ms: 1\n  chat:\n    duration_ms: 2\n", "named twice"),
        ("workloads:\n  chat:\n    duration_ms: -5\n", "duration_ms is -5"),
        ("workloads:\n  chat:\n    latency_ms: 5\n", "'chat': objectives"),
        ("chat:\n  duration_ms: 5\n", "is not a mapping of workloads"),
    ]:
        path.write_text(text)
        with pytest.raises(LandingError, match=problem):
            objectives.read_objectives(tmp_path)
