"""A fleet of any size written straight to the landing zone, one host-day at a time.

The demo generator (synth) models every GPU-minute in Python and computes the exact
truth; that is right for checking numbers and far too slow for a thousand GPUs. This one is
vectorized (numpy and Arrow) and streams: memory stays at one host-day of telemetry and one
day of requests, whatever the size of the fleet.

What it writes, in the layouts the pipeline reads:
* the NVML spool: one file per host and day, 60-second windows, one serving process per GPU;
* request logs: one JSON Lines file per host and day, OpenAI-style ``usage``, 2 % failed;
* the AWS CUR 2.0 delivery of each billing period: one BoxUsage line per host and hour.

Hosts are p4d.24xlarge (8 A100s; a fleet smaller than 8 GPUs is one host with that many GPUs
reporting), each serving one of the demo's workloads and models, so the price book knows them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from collectors.spool import PROCESS_TYPE, SCHEMA_VERSION, SPOOL_SCHEMA, spool_path
from synth.fleet import ACCOUNT_ID, INSTANCE_TYPES, MODELS, REGION
from synth.writers import CUR2_SCHEMA, write_cur_delivery

ITYPE = INSTANCE_TYPES["p4d.24xlarge"]
WINDOWS_PER_DAY = 1440
WORKLOADS = ("chat-assistant", "rag-search", "code-complete", "doc-summarize")


@dataclass(frozen=True)
class BenchFleet:
    gpus: int
    days: int
    start: date
    requests_per_day: int
    seed: int = 7

    @property
    def hosts(self) -> list[tuple[str, str, int, str]]:
        """(host, instance id, GPUs reporting, workload) per host."""
        out = []
        left = self.gpus
        for i in range(-(-self.gpus // ITYPE.gpu_count)):
            name = f"p4d-{i:04d}"
            count = min(ITYPE.gpu_count, left)
            left -= count
            instance = f"i-{uuid.uuid5(uuid.NAMESPACE_DNS, f'{self.seed}-{name}').hex[:17]}"
            out.append((name, instance, count, WORKLOADS[i % len(WORKLOADS)]))
        return out

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=d) for d in range(self.days)]

    def rng(self, *key: object) -> np.random.Generator:
        text = "/".join(map(str, (self.seed, *key)))
        return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8]))


def _spool_table(
    fleet: BenchFleet, host: str, instance: str, gpus: int, workload: str, day: date
) -> pa.Table:
    """One host-day of 60-second windows for ``gpus`` GPUs, as the collector writes them."""
    rng = fleet.rng("spool", host, day)
    n = gpus * WINDOWS_PER_DAY
    gpu_index = np.repeat(np.arange(gpus, dtype=np.int16), WINDOWS_PER_DAY)
    minute = np.tile(np.arange(WINDOWS_PER_DAY, dtype=np.int64), gpus)
    day_start_us = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**6
    start_us = day_start_us + minute * 60 * 10**6
    # A diurnal load: busier in the working hours, with noise per window.
    hour = minute // 60
    base = 0.25 + 0.35 * np.sin(np.pi * np.clip(hour - 6, 0, 12) / 12)
    busy = np.clip(base + rng.normal(0, 0.08, n), 0.0, 1.0).round(4)
    power_w = ITYPE.idle_power_w + (ITYPE.max_power_w - ITYPE.idle_power_w) * busy
    memory = np.full(n, 30 * 1024**3, dtype=np.int64)
    uuids = np.array([f"GPU-{uuid.uuid5(uuid.NAMESPACE_DNS, f'{host}-{g}')}" for g in range(gpus)])
    processes = pa.ListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32)),
        pa.StructArray.from_arrays(
            [
                pa.array(1000 + gpu_index.astype(np.int64)),
                pa.nulls(n, pa.string()),
                pa.array(["inference"] * n),
                pa.array([f"{workload}-{host}"] * n),
                pa.array([workload] * n),
                pa.array(busy),
                pa.array(memory),
            ],
            fields=list(PROCESS_TYPE),
        ),
    )
    ts = pa.timestamp("us", tz="UTC")
    columns = {
        "schema_version": pa.array(np.full(n, SCHEMA_VERSION, dtype=np.int16)),
        "host": pa.array([host] * n),
        "cloud_resource_id": pa.array([instance] * n),
        "gpu_uuid": pa.array(uuids[gpu_index]),
        "gpu_index": pa.array(gpu_index),
        "gpu_model": pa.array([ITYPE.gpu_model] * n),
        "mig_instance_id": pa.nulls(n, pa.string()),
        "window_start": pa.array(start_us, ts),
        "window_end": pa.array(start_us + 60 * 10**6, ts),
        "sample_count": pa.array(np.full(n, 60, dtype=np.int32)),
        "util_mean": pa.array(busy),
        "util_source": pa.array([ITYPE.util_source] * n),
        "sm_active_mean": pa.nulls(n, pa.float64()),
        "gr_engine_active_mean": pa.array(busy),
        "gpu_util_mean": pa.array(busy),
        "memory_used_bytes_max": pa.array(memory + 512 * 1024**2),
        "memory_total_bytes": pa.array(np.full(n, ITYPE.gpu_memory_bytes, dtype=np.int64)),
        "power_mw_mean": pa.array((power_w * 1000).round(1)),
        "energy_mj": pa.array((power_w * 1000 * 60).round().astype(np.int64)),
        "sm_clock_mhz_mean": pa.array(np.where(busy > 0, 1410.0, 210.0)),
        "mem_clock_mhz_mean": pa.array(np.full(n, 1215.0)),
        "temperature_c_max": pa.array((35 + 40 * busy).astype(np.int32)),
        "clocks_event_reasons": pa.array(np.where(busy > 0, 0, 1).astype(np.int64)),
        "unsupported": pa.nulls(n, pa.string()),
        "processes": processes,
    }
    return pa.table(columns, schema=SPOOL_SCHEMA)


def _requests_frame(
    fleet: BenchFleet, host: str, workload: str, day: date, count: int
) -> pl.DataFrame:
    rng = fleet.rng("requests", host, day)
    day_start = datetime(day.year, day.month, day.day)
    offsets_us = np.sort(rng.integers(0, 86_400 * 10**6, count))
    prompt = rng.integers(200, 4000, count)
    completion = rng.integers(20, 800, count)
    failed = rng.random(count) < 0.02
    index = pl.Series("i", np.arange(count)).cast(pl.String)
    frame = pl.DataFrame(
        {
            "time": pl.Series(offsets_us).cast(pl.Duration("us")) + day_start,
            "status": np.where(failed, 500, 200),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
        }
    )
    usage = pl.struct(
        pl.col("prompt_tokens"),
        pl.col("completion_tokens"),
        (pl.col("prompt_tokens") + pl.col("completion_tokens")).alias("total_tokens"),
    )
    return frame.select(
        pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
        (pl.lit(f"{host}-{day:%Y%m%d}-") + index).alias("request_id"),
        pl.lit(host).alias("host"),
        pl.lit(f"http://{host}:8000/v1/chat/completions").alias("endpoint"),
        pl.lit(workload).alias("workload"),
        pl.lit(MODELS[workload]).alias("model"),
        pl.col("status"),
        pl.when(pl.col("status") == 200).then(pl.lit("stop")).alias("finish_reason"),
        pl.when(pl.col("status") == 200).then(usage).alias("usage"),
    )


def _cur_delivery(fleet: BenchFleet, root: Path, period: str, hosts: list[tuple[str, str]]) -> None:
    """One CUR 2.0 delivery: a BoxUsage line per host-hour of the fleet's days in ``period``."""
    first = datetime.strptime(period + "-01", "%Y-%m-%d")
    end = (first + timedelta(days=32)).replace(day=1)
    hours = [
        datetime(d.year, d.month, d.day) + timedelta(hours=h)
        for d in fleet.dates
        if d.isoformat()[:7] == period
        for h in range(24)
    ]
    n = len(hours) * len(hosts)
    starts = np.repeat(np.array(hours, dtype="datetime64[ms]"), len(hosts))
    names = [h for _ in hours for h, _ in hosts]
    ids = [i for _ in hours for _, i in hosts]
    cost = float(ITYPE.on_demand_usd_per_hour)
    values = {
        "bill_bill_type": ["Anniversary"] * n,
        "bill_billing_entity": ["AWS"] * n,
        "bill_billing_period_start_date": pa.array([first] * n, pa.timestamp("ms")),
        "bill_billing_period_end_date": pa.array([end] * n, pa.timestamp("ms")),
        "bill_invoice_id": [f"EUINUS{period.replace('-', '')}1"] * n,
        "bill_payer_account_id": [ACCOUNT_ID] * n,
        "bill_payer_account_name": ["Acme AI Platform"] * n,
        "identity_line_item_id": [f"{period}-{k:09d}" for k in range(n)],
        "identity_time_interval": [
            f"{s:%Y-%m-%dT%H:%M:%SZ}/{s + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"
            for s in starts.astype(datetime)
        ],
        "line_item_currency_code": ["USD"] * n,
        "line_item_usage_account_id": [ACCOUNT_ID] * n,
        "line_item_usage_start_date": pa.array(starts, pa.timestamp("ms")),
        "line_item_usage_end_date": pa.array(
            starts + np.timedelta64(1, "h").astype("timedelta64[ms]"), pa.timestamp("ms")
        ),
        "line_item_resource_id": ids,
        "line_item_product_code": ["AmazonEC2"] * n,
        "product_servicecode": ["AmazonEC2"] * n,
        "line_item_line_item_type": ["Usage"] * n,
        "line_item_usage_amount": [1.0] * n,
        "line_item_availability_zone": ["us-east-1a"] * n,
        "pricing_unit": ["Hrs"] * n,
        "pricing_term": ["OnDemand"] * n,
        "product_instance_type": [ITYPE.name] * n,
        "product_product_family": ["Compute Instance"] * n,
        "product_region_code": [REGION] * n,
        "product": pa.array([[("region", REGION)]] * n, pa.map_(pa.string(), pa.string())),
        "line_item_usage_type": [f"USE1-BoxUsage:{ITYPE.name}"] * n,
        "line_item_operation": ["RunInstances"] * n,
        "line_item_unblended_cost": [cost] * n,
        "line_item_unblended_rate": [str(cost)] * n,
        "line_item_net_unblended_cost": [cost] * n,
        "pricing_public_on_demand_cost": [cost] * n,
        "line_item_line_item_description": [f"${cost} per On Demand Linux {ITYPE.name}"] * n,
        "resource_tags": pa.array(
            [[("user_host", h)] for h in names], pa.map_(pa.string(), pa.string())
        ),
    }
    table = pa.table(
        {
            f.name: pa.array(values[f.name], f.type) if f.name in values else pa.nulls(n, f.type)
            for f in CUR2_SCHEMA
        },
        schema=CUR2_SCHEMA,
    )
    executed = end + timedelta(days=2, hours=3)
    execution_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{fleet.seed}-{period}"))
    write_cur_delivery(root, period, table, executed, execution_id)


def write_days(fleet: BenchFleet, root: Path, days: list[date]) -> Iterator[tuple[int, int]]:
    """Write the telemetry and request logs of ``days``; yields (windows, requests) per day."""
    hosts = fleet.hosts
    for day in days:
        windows = requests = 0
        for host, instance, gpus, workload in hosts:
            table = _spool_table(fleet, host, instance, gpus, workload, day)
            path = spool_path(root / "telemetry" / "nvml", host, day, f"{host}-{day:%Y%m%d}T0000Z")
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path, compression="zstd")
            windows += table.num_rows
            count = max(1, round(fleet.requests_per_day * gpus / fleet.gpus))
            frame = _requests_frame(fleet, host, workload, day, count)
            log = root / "inference" / "requests" / f"date={day.isoformat()}" / f"{host}.jsonl"
            log.parent.mkdir(parents=True, exist_ok=True)
            frame.write_ndjson(log)
            requests += frame.height
        yield windows, requests


def write_billing(fleet: BenchFleet, root: Path) -> None:
    hosts = [(h, i) for h, i, _, _ in fleet.hosts]
    for period in sorted({d.isoformat()[:7] for d in fleet.dates}):
        _cur_delivery(fleet, root / "aws_cur", period, hosts)
