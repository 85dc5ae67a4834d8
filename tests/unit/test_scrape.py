"""dcgm-exporter and inference-server /metrics, parsed with prometheus_client's parser."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from collectors.scrape import Scraper, Target, parse_dcgm, parse_inference
from tests.fixtures.json_server import http_server

# /metrics pages as dcgm-exporter 3.x ("Hostname" label) and 4.x ("hostname", MIG), vLLM and
# TGI serve them; both host label spellings appear in real fleets.
METRICS = Path(__file__).resolve().parents[1] / "fixtures" / "metrics"
DCGM_3 = (METRICS / "dcgm-exporter-3.txt").read_text()
DCGM_4_MIG = (METRICS / "dcgm-exporter-4-mig.txt").read_text()
VLLM = (METRICS / "vllm.txt").read_text()
TGI = (METRICS / "tgi.txt").read_text()
AT = datetime(2026, 11, 28, 12, 0, 15, tzinfo=UTC)
UUID = "GPU-8f6a3c2e-1b4d-4e5f-9a8b-7c6d5e4f3a2b"


def test_dcgm_rows_carry_gpu_pod_and_value_and_blank_sentinels_are_null() -> None:
    rows = parse_dcgm(DCGM_3, AT, "scraper-host")
    by_metric = {(r["metric"], r["gpu_index"]): r for r in rows}
    sm = by_metric[("DCGM_FI_PROF_SM_ACTIVE", 0)]
    assert (sm["host"], sm["gpu_uuid"], sm["gpu_model"], sm["value"]) == (
        "gpu-node-7",
        UUID,
        "NVIDIA H100 80GB HBM3",
        0.412345,
    )
    assert (sm["k8s_namespace"], sm["k8s_pod"], sm["container"]) == (
        "inference",
        "vllm-chat-6c9f7d8b5-q7x2m",
        "vllm",
    )
    assert by_metric[("DCGM_FI_DEV_FB_USED", 0)]["value"] == 61440
    # int64 blank (0x7ffffffffffffff2) and FP64 blank (2^47): no reading, not a number.
    assert by_metric[("DCGM_FI_PROF_SM_ACTIVE", 1)]["value"] is None
    assert by_metric[("DCGM_FI_DEV_POWER_USAGE", 1)]["value"] is None
    assert by_metric[("DCGM_FI_PROF_SM_ACTIVE", 1)]["k8s_pod"] is None
    assert len(rows) == 5


def test_dcgm_4_lowercase_hostname_and_mig_instances() -> None:
    rows = parse_dcgm(DCGM_4_MIG, AT, "scraper-host")
    gr, energy = rows
    assert (gr["host"], gr["mig_instance_id"], gr["value"]) == ("gpu-node-8", "2", 0.25)
    assert (energy["metric"], energy["value"]) == (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        8123456789,
    )


def test_vllm_and_tgi_token_counters() -> None:
    vllm = parse_inference(VLLM, AT, "gpu-node-7")
    assert [(r["server"], r["model"], r["metric"], r["value"]) for r in vllm] == [
        ("vllm", "meta-llama/Llama-3.1-8B-Instruct", "prompt_tokens", 123456.0),
        ("vllm", "meta-llama/Llama-3.1-8B-Instruct", "generation_tokens", 65432.0),
    ]
    assert vllm[0]["labels"] == '{"engine": "0"}'
    tgi = parse_inference(TGI, AT, "gpu-node-7", model="mistral-7b")
    assert [(r["server"], r["model"], r["metric"], r["value"]) for r in tgi] == [
        ("tgi", "mistral-7b", "prompt_tokens", 51234.0),
        ("tgi", "mistral-7b", "generation_tokens", 20480.0),
    ]


@contextmanager
def metrics_server(pages: dict[str, str]) -> Iterator[str]:
    def route(path: str, query: dict[str, list[str]]) -> tuple[str, bytes] | None:
        body = pages.get(path)
        return None if body is None else ("text/plain; version=0.0.4", body.encode())

    with http_server(route, missing_status=503) as base:
        yield base


def test_scraper_lands_both_kinds_and_counts_a_failing_target(tmp_path: Path) -> None:
    with metrics_server({"/dcgm": DCGM_3, "/vllm": VLLM}) as base:
        targets = [
            Target("dcgm", f"{base}/dcgm"),
            Target("inference", f"{base}/vllm"),
            Target("inference", f"{base}/down"),
        ]
        scraper = Scraper(targets, tmp_path, "gpu-node-7", interval_s=0.05, rotate_s=0)
        scraper.run(duration_s=0.12)
    assert targets[2].errors == targets[2].scrapes >= 2
    assert "503" in (targets[2].last_error or "")
    dcgm = [pq.read_table(p) for p in tmp_path.glob("telemetry/dcgm/host=gpu-node-7/date=*/*")]
    metrics = [pq.read_table(p) for p in tmp_path.glob("inference/metrics/host=*/date=*/*")]
    assert sum(t.num_rows for t in dcgm) == 5 * targets[0].scrapes
    assert sum(t.num_rows for t in metrics) == 2 * targets[1].scrapes


def test_sglang_counters() -> None:
    text = (
        "# TYPE sglang:prompt_tokens_total counter\n"
        'sglang:prompt_tokens_total{model_name="qwen2.5-7b"} 900.0\n'
        "# TYPE sglang:generation_tokens_total counter\n"
        'sglang:generation_tokens_total{model_name="qwen2.5-7b"} 300.0\n'
    )
    rows = parse_inference(text, AT, "gpu-node-9")
    assert [(r["server"], r["model"], r["metric"], r["value"]) for r in rows] == [
        ("sglang", "qwen2.5-7b", "prompt_tokens", 900.0),
        ("sglang", "qwen2.5-7b", "generation_tokens", 300.0),
    ]
