"""dcgm-exporter scrapes standing in for a host's missing NVML spool, and server token counters
reconciling the request logs, through the real pipeline."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from collectors.scrape import DCGM_SCHEMA, INFERENCE_METRICS_SCHEMA
from collectors.spool import write_spool_file
from tests.conftest import Pipeline

pytestmark = pytest.mark.integration
MIB = 1024**2


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _replace_spool_with_dcgm(pipeline: Pipeline) -> tuple[str, dict[str, float]]:
    """Write what dcgm-exporter would have shown for the fleet's first host, from its spool,
    then remove the spool. Returns the host and the busy GPU-hours per workload it implies."""
    spool = pipeline.landing / "telemetry" / "nvml"
    host_dir = sorted(spool.glob("host=*"))[0]
    host = host_dir.name.removeprefix("host=")
    windows = pa.concat_tables([pq.read_table(p) for p in host_dir.rglob("*.parquet")])
    rows, busy_hours = [], defaultdict(float)
    energy: dict[str, float] = defaultdict(float)
    for w in sorted(windows.to_pylist(), key=lambda r: (r["gpu_uuid"], r["window_start"])):
        processes = sorted(w["processes"] or [], key=lambda p: -(p["busy_share"] or 0))
        workload = processes[0]["workload"] if processes else None
        pod = f"{workload}-7d9f8b6c4-x2x9k" if workload else None
        util = w["util_mean"] or 0.0
        if workload:
            busy_hours[workload] += util * 60 / 3600
        energy[w["gpu_uuid"]] += w["energy_mj"] or 0
        for second in (0, 15, 30, 45):
            at = _utc(w["window_start"]) + timedelta(seconds=second)
            values = {
                "DCGM_FI_PROF_SM_ACTIVE": util,
                "DCGM_FI_DEV_GPU_UTIL": 100.0 if util > 0 else 0.0,
                "DCGM_FI_DEV_FB_USED": (w["memory_used_bytes_max"] or 0) / MIB,
                "DCGM_FI_DEV_POWER_USAGE": (w["power_mw_mean"] or 0) / 1000,
                "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": energy[w["gpu_uuid"]],
            }
            for metric, value in values.items():
                rows.append(
                    {
                        "schema_version": 1,
                        "scraped_at": at,
                        "host": host,
                        "cloud_resource_id": w["cloud_resource_id"],
                        "gpu_uuid": w["gpu_uuid"],
                        "gpu_index": w["gpu_index"],
                        "gpu_model": w["gpu_model"],
                        "mig_instance_id": None,
                        "k8s_namespace": "inference" if pod else None,
                        "k8s_pod": pod,
                        "container": "vllm" if pod else None,
                        "metric": metric,
                        "value": value,
                    }
                )
    by_day: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_day[row["scraped_at"].date()].append(row)
    for day, day_rows in by_day.items():
        path = (
            pipeline.landing / "telemetry" / "dcgm" / f"host={host}" / f"date={day}" / "s.parquet"
        )
        write_spool_file(pa.Table.from_pylist(day_rows, DCGM_SCHEMA), path, DCGM_SCHEMA)
    shutil.rmtree(host_dir)
    return host, dict(busy_hours)


@pytest.fixture(scope="module")
def scraped(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Pipeline, Pipeline, str, dict[str, float]]:
    base = pipeline_factory(gpus=4, days=1, seed=11)
    pipeline = base.copy_to(tmp_path_factory.mktemp("scraped"))
    host, busy = _replace_spool_with_dcgm(pipeline)
    pipeline.run()
    return base, pipeline, host, busy


def test_a_host_without_the_nvml_spool_is_measured_from_dcgm(
    scraped: tuple[Pipeline, Pipeline, str, dict[str, float]],
) -> None:
    base, pipeline, host, busy = scraped
    sources = pipeline.query(
        "select telemetry_source, util_source, count(*) from marts.fct_gpu_utilization_hourly"
        " where host = ? group by 1, 2",
        [host],
    )
    [(telemetry, util_source, hours)] = sources
    assert (telemetry, util_source) == ("dcgm", "dcgm_prof_sm_active")
    assert hours == 24  # one GPU, one day
    # The other hosts keep their spool.
    assert pipeline.query(
        "select distinct telemetry_source from marts.fct_gpu_utilization_hourly where host <> ?",
        [host],
    ) == [("nvml",)]
    # Utilization equals what the spool said (the scrapes carry the same SM activity).
    compare = (
        "select hour_start_at, gpu_uuid, round(util_mean, 9) from marts.fct_gpu_utilization_hourly"
        " where host = ? order by 1, 2"
    )
    assert pipeline.query(compare, [host]) == base.query(compare, [host])
    # Busy GPU-hours go to the pod's workload: the scrapes' SM activity x 60 s per window.
    measured = dict(
        pipeline.query(
            "select workload, sum(busy_gpu_hours) from marts.fct_cost_per_useful_token"
            " where host = ? and busy_gpu_hours > 0 group by 1",
            [host],
        )
    )
    assert measured == {w: pytest.approx(h, rel=1e-9) for w, h in busy.items()}
    # What the host's GPUs cost is the bill's, whichever telemetry split it.
    total = "select sum(cost_usd) from marts.fct_cost_per_useful_token where resource_id = ?"
    resource = pipeline.query(
        "select max(cloud_resource_id) from marts.fct_gpu_utilization_hourly where host = ?",
        [host],
    )[0][0]
    assert pipeline.query(total, [resource]) == base.query(total, [resource])


def test_server_token_counters_reconcile_the_request_logs(
    scraped: tuple[Pipeline, Pipeline, str, dict[str, float]], tmp_path: Path
) -> None:
    _, scraped_pipeline, _, _ = scraped
    pipeline = scraped_pipeline.copy_to(tmp_path)
    host, model, day = pipeline.query(
        "select host, model, cast(min(requested_at) as date) from staging.stg_inference__requests"
        " group by 1, 2 order by count(*) desc limit 1"
    )[0]
    requests = pipeline.query(
        "select requested_at, coalesce(prompt_tokens, 0), coalesce(completion_tokens, 0)"
        " from staging.stg_inference__requests where host = ? and model = ? order by 1",
        [host, model],
    )
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    scrape_times = [
        start + timedelta(hours=h, minutes=m) for h in range(24) for m in (15, 30, 45, 59.99)
    ]
    rows = []
    prompt = generation = 0
    index = 0
    for at in scrape_times:
        while index < len(requests) and _utc(requests[index][0]) <= at:
            prompt += requests[index][1]
            generation += requests[index][2]
            index += 1
        # Hour 5: the server counted 10 % more generation tokens than the logs hold.
        extra = int(generation * 0.1) if at.hour == 5 and at.minute == 59 else 0
        for metric, value in (("prompt_tokens", prompt), ("generation_tokens", generation + extra)):
            rows.append(
                {
                    "schema_version": 1,
                    "scraped_at": at,
                    "host": host,
                    "server": "vllm",
                    "model": model,
                    "metric": metric,
                    "value": float(value),
                    "labels": '{"engine": "0"}',
                }
            )
    path = pipeline.landing / "inference" / "metrics" / f"host={host}" / f"date={day}" / "m.parquet"
    write_spool_file(
        pa.Table.from_pylist(rows, INFERENCE_METRICS_SCHEMA), path, INFERENCE_METRICS_SCHEMA
    )
    # A line of hour 1 shipped again in another log: one request, which the server counted once.
    logs = pipeline.landing / "inference" / "requests" / f"date={day}"
    shipped = next(
        line
        for log in sorted(logs.glob("*.jsonl"))
        for line in log.read_text().splitlines()
        if f'"model": "{model}"' in line.replace('":"', '": "')
        and f'"host": "{host}"' in line.replace('":"', '": "')
        and "T01:" in line
        and '"prompt_tokens"' in line
    )
    (logs / "shipped-again.jsonl").write_text(shipped + "\n")
    pipeline.run()
    assert pipeline.query(
        "select count(*) from intermediate.int_request_exceptions where kind = 'later_copy'"
    ) == [(1,)]
    statuses = pipeline.query(
        "select hour(hour_start_at), status from marts.fct_token_reconciliation_hourly"
        " where host = ? and model = ? order by 1",
        [host, model],
    )
    expected = {0: "incomplete", 5: "mismatch", 6: "mismatch"}
    assert statuses == [(h, expected.get(h, "ok")) for h in range(24)]
    # Hour 5 counted 10 % of the cumulative generation tokens more; hour 6 gave it back (the
    # counter fell, read as a restart: its whole value counts), both flagged, never hidden.
    hour_1 = pipeline.query(
        "select logged_prompt_tokens, counted_prompt_tokens, logged_completion_tokens,"
        " counted_generation_tokens from marts.fct_token_reconciliation_hourly"
        " where host = ? and model = ? and hour(hour_start_at) = 1",
        [host, model],
    )
    [(logged_prompt, counted_prompt, logged_completion, counted_generation)] = hour_1
    assert logged_prompt > 0
    assert (float(counted_prompt), float(counted_generation)) == (
        float(logged_prompt),
        float(logged_completion),
    )
