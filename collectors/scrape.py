"""Scrapers: dcgm-exporter and inference-server (vLLM, TGI, SGLang) ``/metrics`` into Parquet.

``gpuledger-scrape`` (or ``python -m collectors.scrape``) fetches each target every
``--interval`` seconds, parses the Prometheus text with prometheus_client's parser and lands
long rows (one per sample) in the landing layout:

  telemetry/dcgm/host=<host>/date=<day>/<name>.parquet      (DCGM_SCHEMA)
  inference/metrics/host=<host>/date=<day>/<name>.parquet   (INFERENCE_METRICS_SCHEMA)

dcgm-exporter: the host is the Kubernetes node where a label names it (``node``,
``kubernetes_node``, ``node_name``: added by a Prometheus relabelling or the exporter's
``NODE_NAME``), else the ``Hostname`` or ``hostname`` label (versions differ; inside a pod it is
often the exporter pod's own name, which the host map resolves: docs/host-identity.md), else
``--host``. ``UUID`` names the GPU, ``gpu`` its index, ``GPU_I_ID`` and ``GPU_I_PROFILE`` a MIG
instance and its profile, ``namespace``/``pod``/``container`` the Kubernetes workload when the
exporter maps GPUs to pods. DCGM's blank sentinels (int64 values from 0x7ffffffffffffff0 up, FP64
values from 2^47 up to 2^47 + 16) become null.

Inference servers: prompt and generation token counters, by model (vLLM ``vllm:prompt_tokens``
/ ``vllm:generation_tokens``, SGLang ``sglang:...``, TGI the ``_sum`` of
``tgi_request_input_length`` / ``tgi_request_generated_tokens``, which has no model label:
``--model`` names it). Counters are landed as read; staging turns them into reset-safe deltas.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families

from collectors.labels import cloud_resource_id
from collectors.writer import SpoolWriter

log = logging.getLogger("gpuledger.scrape")

SCHEMA_VERSION = 2  # 2: mig_profile (version 1 files read with it null)
INT64_BLANK = 0x7FFFFFFFFFFFFFF0  # DCGM_INT64_BLANK and the sentinels above it
FP64_BLANK = 140737488355328.0  # DCGM_FP64_BLANK (2^47), sentinels up to + 16

DCGM_SCHEMA = pa.schema(
    [
        pa.field("schema_version", pa.int16(), nullable=False),
        pa.field("scraped_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("host", pa.string(), nullable=False),
        # The host's cloud resource id (--resource-id, or IMDSv2 / GCP metadata): joins the bill.
        pa.field("cloud_resource_id", pa.string()),
        pa.field("gpu_uuid", pa.string()),
        pa.field("gpu_index", pa.int16()),
        pa.field("gpu_model", pa.string()),
        pa.field("mig_instance_id", pa.string()),
        # The MIG instance's profile (GPU_I_PROFILE, e.g. 1g.10gb): its share of the GPU.
        pa.field("mig_profile", pa.string()),
        pa.field("k8s_namespace", pa.string()),
        pa.field("k8s_pod", pa.string()),
        pa.field("container", pa.string()),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
    ]
)

INFERENCE_METRICS_SCHEMA = pa.schema(
    [
        pa.field("schema_version", pa.int16(), nullable=False),
        pa.field("scraped_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("host", pa.string(), nullable=False),
        pa.field("server", pa.string(), nullable=False),
        pa.field("model", pa.string()),
        # prompt_tokens | generation_tokens: the counter's value since the server started
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("labels", pa.string()),
    ]
)

# (server, sample name) -> our metric
INFERENCE_COUNTERS = {
    ("vllm", "vllm:prompt_tokens_total"): "prompt_tokens",
    ("vllm", "vllm:generation_tokens_total"): "generation_tokens",
    ("sglang", "sglang:prompt_tokens_total"): "prompt_tokens",
    ("sglang", "sglang:generation_tokens_total"): "generation_tokens",
    ("tgi", "tgi_request_input_length_sum"): "prompt_tokens",
    ("tgi", "tgi_request_generated_tokens_sum"): "generation_tokens",
}
# Labels naming the Kubernetes node, preferred to the exporter's Hostname (a pod's name there).
NODE_LABELS = ("node", "kubernetes_node", "node_name", "nodename")


def dcgm_value(value: float) -> float | None:
    """None for DCGM's blank / not-found / not-supported sentinels."""
    if value >= INT64_BLANK or FP64_BLANK <= value < FP64_BLANK + 16:
        return None
    return value


def parse_dcgm(
    text: str, scraped_at: datetime, host: str, cloud_resource_id: str | None = None
) -> list[dict[str, Any]]:
    rows = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith("DCGM_FI_"):
                continue
            labels = sample.labels
            index = labels.get("gpu")
            node = next((labels[k] for k in NODE_LABELS if labels.get(k)), None)
            rows.append(
                {
                    "schema_version": SCHEMA_VERSION,
                    "scraped_at": scraped_at,
                    "host": node or labels.get("Hostname") or labels.get("hostname") or host,
                    "cloud_resource_id": cloud_resource_id,
                    "gpu_uuid": labels.get("UUID") or labels.get("uuid"),
                    "gpu_index": int(index) if index else None,
                    "gpu_model": labels.get("modelName"),
                    "mig_instance_id": labels.get("GPU_I_ID") or None,
                    "mig_profile": labels.get("GPU_I_PROFILE") or None,
                    "k8s_namespace": labels.get("namespace") or None,
                    "k8s_pod": labels.get("pod") or None,
                    "container": labels.get("container") or None,
                    "metric": sample.name.removesuffix("_total"),  # the parser adds it to counters
                    "value": dcgm_value(float(sample.value)),
                }
            )
    return rows


def detect_server(names: set[str]) -> str | None:
    for server, prefix in (("vllm", "vllm:"), ("sglang", "sglang:"), ("tgi", "tgi_")):
        if any(n.startswith(prefix) for n in names):
            return server
    return None


def parse_inference(
    text: str, scraped_at: datetime, host: str, model: str | None = None
) -> list[dict[str, Any]]:
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    server = detect_server({s.name for s in samples})
    rows = []
    for sample in samples:
        metric = INFERENCE_COUNTERS.get((server or "", sample.name))
        if metric is None:
            continue
        labels = dict(sample.labels)
        rows.append(
            {
                "schema_version": SCHEMA_VERSION,
                "scraped_at": scraped_at,
                "host": host,
                "server": server,
                "model": labels.pop("model_name", None) or labels.pop("model", None) or model,
                "metric": metric,
                "value": float(sample.value),
                "labels": json.dumps(labels, sort_keys=True) if labels else None,
            }
        )
    return rows


@dataclass
class Target:
    kind: str  # "dcgm" | "inference"
    url: str
    model: str | None = None
    errors: int = 0
    scrapes: int = 0
    last_error: str | None = None
    rows: int = field(default=0)


class Scraper:
    def __init__(
        self,
        targets: list[Target],
        landing: Path,
        host: str,
        interval_s: float = 15.0,
        timeout_s: float = 5.0,
        rotate_s: float = 300.0,
        fetch: Callable[[str, float], str] | None = None,
        wall: Callable[[], float] = time.time,
        cloud_resource_id: str | None = None,
    ) -> None:
        self.targets, self.host = targets, host
        self.cloud_resource_id = cloud_resource_id
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self._fetch = fetch or _http_get
        self.wall = wall
        self.writers = {
            kind: SpoolWriter(
                landing / folder,
                host,
                rotate_s=rotate_s,
                schema=schema,
                time_column="scraped_at",
                clock=wall,
            )
            for kind, folder, schema in (
                ("dcgm", "telemetry/dcgm", DCGM_SCHEMA),
                ("inference", "inference/metrics", INFERENCE_METRICS_SCHEMA),
            )
        }
        self.stop_event = threading.Event()

    def scrape_once(self) -> None:
        at = datetime.fromtimestamp(self.wall(), UTC)
        for target in self.targets:
            target.scrapes += 1
            try:
                text = self._fetch(target.url, self.timeout_s)
                if target.kind == "dcgm":
                    rows = parse_dcgm(text, at, self.host, self.cloud_resource_id)
                else:
                    rows = parse_inference(text, at, self.host, target.model)
            except (OSError, ValueError) as exc:
                target.errors += 1
                target.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("scrape of %s failed: %s", target.url, exc)
                continue
            target.rows += len(rows)
            self.writers[target.kind].add(rows)

    def run(self, duration_s: float | None = None) -> int:
        started = next_at = time.monotonic()
        try:
            while not self.stop_event.is_set():
                self.scrape_once()
                if duration_s is not None and time.monotonic() - started >= duration_s:
                    break
                next_at += self.interval_s
                self.stop_event.wait(max(0.0, next_at - time.monotonic()))
        finally:
            for writer in self.writers.values():
                writer.flush()
        return 0

    def stop(self, *_: object) -> None:
        self.stop_event.set()


def _http_get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gpuledger-scrape",
        description="Scrape dcgm-exporter and inference-server /metrics into the landing zone.",
    )
    parser.add_argument("--landing", type=Path, default=Path("warehouse/landing"))
    parser.add_argument("--host", default=socket.gethostname())
    parser.add_argument("--dcgm", action="append", default=[], help="dcgm-exporter /metrics URL")
    parser.add_argument(
        "--inference",
        action="append",
        default=[],
        help="vLLM/TGI/SGLang /metrics URL, optionally URL=MODEL (TGI has no model label)",
    )
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--resource-id", help="cloud resource id (default: ask IMDSv2 / GCP)")
    parser.add_argument("--no-metadata", action="store_true")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    targets = [Target("dcgm", url) for url in args.dcgm]
    for spec in args.inference:
        url, _, model = spec.partition("=")
        targets.append(Target("inference", url, model or None))
    if not targets:
        parser.error("give at least one --dcgm or --inference URL")
    resource_id = (
        args.resource_id
        if args.no_metadata
        else cloud_resource_id(
            args.resource_id, args.landing / "telemetry" / "dcgm" / "_host_identity.json"
        )
    )
    scraper = Scraper(
        targets, args.landing, args.host, args.interval, cloud_resource_id=resource_id
    )
    signal.signal(signal.SIGTERM, scraper.stop)
    signal.signal(signal.SIGINT, scraper.stop)
    return scraper.run(args.duration)


if __name__ == "__main__":
    sys.exit(main())
