"""dcgm-exporter scrapes standing in for a host's missing NVML spool, and server token counters
reconciling the request logs, through the real pipeline."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from collectors.daemon import Collector
from collectors.fake_nvml import FakeNvml, scenario
from collectors.nvml import Sampler
from collectors.scrape import DCGM_SCHEMA, INFERENCE_METRICS_SCHEMA, Scraper, Target
from collectors.spool import write_spool_file
from collectors.window import WindowAggregator
from collectors.writer import SpoolWriter
from tests.conftest import SAMPLES, Pipeline
from tests.fixtures.json_server import http_server

pytestmark = pytest.mark.integration
MIB = 1024**2


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


EXPORTER_POD = "dcgm-exporter-x2x9k"  # the Hostname dcgm-exporter reports from its pod
UNMAPPED_POD = "dcgm-exporter-q7wzp"
CAPTURE_DAY_HOUR = 10


def _dcgm_rows(windows: pa.Table, host: str) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """What dcgm-exporter would have shown for these spool windows, under the Hostname
    ``host`` and without a cloud resource id (an exporter knows neither), and the busy
    GPU-hours per workload the samples imply."""
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
                        "schema_version": 2,
                        "scraped_at": at,
                        "host": host,
                        "cloud_resource_id": None,
                        "gpu_uuid": w["gpu_uuid"],
                        "gpu_index": w["gpu_index"],
                        "gpu_model": w["gpu_model"],
                        "mig_instance_id": None,
                        "mig_profile": None,
                        "k8s_namespace": "inference" if pod else None,
                        "k8s_pod": pod,
                        "container": "vllm" if pod else None,
                        "metric": metric,
                        "value": value,
                    }
                )
    return rows, dict(busy_hours)


def _write_dcgm(landing: Path, folder: str, rows: list[dict[str, Any]]) -> None:
    by_day: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_day[row["scraped_at"].date()].append(row)
    for day, day_rows in by_day.items():
        path = landing / "telemetry" / "dcgm" / f"host={folder}" / f"date={day}" / "s.parquet"
        write_spool_file(pa.Table.from_pylist(day_rows, DCGM_SCHEMA), path, DCGM_SCHEMA)


def _replace_spool_with_dcgm(pipeline: Pipeline) -> tuple[str, dict[str, float]]:
    """Write what dcgm-exporter, running in a pod, would have shown for the fleet's first
    host, from its spool, then remove the spool; the host map names the pod's host and its
    cloud resource id. Returns the host and the busy GPU-hours per workload it implies."""
    spool = pipeline.landing / "telemetry" / "nvml"
    host_dir = sorted(spool.glob("host=*"))[0]
    host = host_dir.name.removeprefix("host=")
    windows = pa.concat_tables([pq.read_table(p) for p in host_dir.rglob("*.parquet")])
    rows, busy_hours = _dcgm_rows(windows, EXPORTER_POD)
    _write_dcgm(pipeline.landing, EXPORTER_POD, rows)
    [resource] = set(windows.column("cloud_resource_id").to_pylist())
    (pipeline.landing / "telemetry" / "hosts.csv").write_text(
        f"alias,host,cloud_resource_id\n{EXPORTER_POD},{host},{resource}\n"
    )
    shutil.rmtree(host_dir)
    return host, busy_hours


def _unmapped_exporter(pipeline: Pipeline) -> None:
    """Another host of the fleet keeps its spool; an exporter in a pod reports its GPU for an
    hour too, under the pod's name, which the host map does not know."""
    host_dir = sorted((pipeline.landing / "telemetry" / "nvml").glob("host=*"))[1]
    windows = pa.concat_tables([pq.read_table(p) for p in host_dir.rglob("*.parquet")])
    first = min(windows.column("window_start").to_pylist())
    hour = windows.filter(
        pc.less(windows.column("window_start"), pa.scalar(first + timedelta(hours=1)))
    )
    _write_dcgm(pipeline.landing, UNMAPPED_POD, _dcgm_rows(hour, UNMAPPED_POD)[0])


def _mig_pod_capture(text: str) -> str:
    """NVIDIA's MIG capture as another A100 would send it with a pod on its instance."""
    text = text.replace("GPU-34319582-d595-d1c7-d1d2-179bcfa61660", MIG_POD_GPU)
    text = text.replace('Hostname="ub20-a100-k8s"', 'Hostname="a100-node-2"')
    return text.replace(
        'GPU_I_ID="13",', 'GPU_I_ID="13",namespace="ml",pod="trainer-6b8f9c7d4-k2x7q",'
    )


MIG_POD_GPU = "GPU-5a1e0b7c-2d3f-4e5a-8b9c-0d1e2f3a4b5c"


def _scrape_captures(pipeline: Pipeline, day: date) -> dict[str, Target]:
    """Every capture in ../shared/samples/metrics served on 127.0.0.1 and scraped by
    gpuledger-scrape into the landing zone, 8 times 15 s apart from CAPTURE_DAY_HOUR:00."""
    pages = {f"/{p.name}": p.read_text() for p in sorted((SAMPLES / "metrics").glob("*.prom"))}
    pages["/mig-pod.prom"] = _mig_pod_capture(pages["/dcgm_A100_MIG_nvidia_docs.prom"])
    start = datetime(day.year, day.month, day.day, CAPTURE_DAY_HOUR, tzinfo=UTC).timestamp()
    clock = [start]

    def route(path: str, _: dict[str, list[str]]) -> tuple[str, bytes] | None:
        text = pages.get(path)
        return None if text is None else ("text/plain; version=0.0.4", text.encode())

    with http_server(route) as base:
        targets = {
            name: Target(
                "dcgm" if name.startswith("/dcgm") or name == "/mig-pod.prom" else "inference",
                f"{base}{name}",
            )
            for name in pages
        }
        scraper = Scraper(
            list(targets.values()), pipeline.landing, "scrape-node", wall=lambda: clock[0]
        )
        for _ in range(8):
            scraper.scrape_once()
            clock[0] += 15
        for writer in scraper.writers.values():
            writer.flush()
    return targets


MIG_HOST = "mig-host"
MIG_NVML_GPU = "GPU-fake0000-0000-4000-8000-000000000000"


def _collect_mig(pipeline: Pipeline, day: date) -> None:
    """The NVML collector (fake NVML, MIG scenario: two 3g.71gb instances of an H200, one
    process 80 % busy on the first) samples three minutes from CAPTURE_DAY_HOUR:00."""
    start = datetime(day.year, day.month, day.day, CAPTURE_DAY_HOUR, tzinfo=UTC).timestamp()
    t = [5000.0]
    nvml = FakeNvml(scenario("mig"), clock=lambda: t[0])
    collector = Collector(
        Sampler(nvml),
        WindowAggregator(MIG_HOST, 60, None),
        SpoolWriter(
            pipeline.landing / "telemetry" / "nvml", MIG_HOST, clock=lambda: start + t[0] - 5000
        ),
        wall=lambda: start + t[0] - 5000,
        monotonic=lambda: t[0],
    )
    collector.sampler.start()
    for _ in range(180):
        collector.tick()
        t[0] += 1.0
    collector.shutdown()


@pytest.fixture(scope="module")
def scraped(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Pipeline, Pipeline, str, dict[str, float]]:
    base = pipeline_factory(gpus=4, days=1, seed=11)
    pipeline = base.copy_to(tmp_path_factory.mktemp("scraped"))
    host, busy = _replace_spool_with_dcgm(pipeline)
    _unmapped_exporter(pipeline)
    day = pipeline.query(
        "select min(cast(hour_start_at as date)) from marts.fct_gpu_utilization_hourly"
    )[0][0]
    targets = _scrape_captures(pipeline, day)
    _collect_mig(pipeline, day)
    assert {name: (t.errors, t.scrapes) for name, t in targets.items()} == {
        name: (0, 8) for name in targets
    }
    pipeline.run()
    return base, pipeline, host, busy


def test_a_host_without_the_nvml_spool_is_measured_from_dcgm_under_its_mapped_name(
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
    # The other hosts of the fleet keep their spool (the pod's hour of the second host too).
    others = [h for (h,) in base.query("select distinct host from marts.dim_gpu") if h != host]
    assert pipeline.query(
        "select distinct telemetry_source from marts.fct_gpu_utilization_hourly"
        " where host in (select unnest(?))",
        [others],
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


MIB_TOTAL = {  # used + free + reserved, as each capture reports them
    "GPU-c2f76b33-7953-256e-8f33-1343419b1a1c": 0 + 22563 + 470,
    "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a": 5120 + 9791 + 447,
    "GPU-0946f70c-659b-4c39-8b78-7e7600000000": 0 + 37739 + 3220,
    "GPU-34319582-d595-d1c7-d1d2-179bcfa61660": 4845 + 35690,  # no FB_RESERVED sent
    MIG_POD_GPU: 4845 + 35690,
}


def test_each_real_capture_lands_with_its_host_counter_and_memory(
    scraped: tuple[Pipeline, Pipeline, str, dict[str, float]],
) -> None:
    _, pipeline, _, _ = scraped
    rows = pipeline.query(
        "select gpu_uuid, host, cloud_resource_id, round(util_mean, 9), util_source,"
        " util_is_upper_bound, memory_total_bytes, round(coverage * 3600)"
        " from marts.fct_gpu_utilization_hourly"
        f" where hour(hour_start_at) = {CAPTURE_DAY_HOUR} and gpu_uuid in (select unnest(?))"
        " order by 1",
        [list(MIB_TOTAL)],
    )
    mig_gpu = round(0.995687 * 1 / 7, 9)  # instance 13, 1g.5gb: 1 of the A100's 7 slices
    expected = {
        # L4 on EC2: the Hostname is the instance id, which is the bill's resource id.
        "GPU-c2f76b33-7953-256e-8f33-1343419b1a1c": (
            "i-030791dc5a37cd257",
            "i-030791dc5a37cd257",
            0.0,
            "dcgm_prof_gr_engine_active",
            False,
        ),
        # T4 under load: graphics-engine activity 0.156, not GPU_UTIL's 91 %.
        "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a": (
            "cp-bm14r7",
            None,
            0.156205,
            "dcgm_prof_gr_engine_active",
            False,
        ),
        # vGPU: no profiling counters; GPU_UTIL, the flagged upper bound.
        "GPU-0946f70c-659b-4c39-8b78-7e7600000000": (
            "test-ai-1-node-pool-40c-d5ds8-br9r6-9tb2c",
            None,
            0.0,
            "dcgm_gpu_util",
            True,
        ),
        # MIG: the GPU's activity is its instance's, weighted by the instance's share.
        "GPU-34319582-d595-d1c7-d1d2-179bcfa61660": (
            "ub20-a100-k8s",
            None,
            mig_gpu,
            "dcgm_prof_gr_engine_active",
            False,
        ),
        MIG_POD_GPU: ("a100-node-2", None, mig_gpu, "dcgm_prof_gr_engine_active", False),
    }
    assert [r[:6] for r in rows] == [(g, *expected[g]) for g in sorted(expected)]
    # The inference servers' captures: their token counters, as the pages hold them.
    assert pipeline.query(
        "select server, model, metric, max(counter_value)"
        " from staging.stg_inference__metric_samples"
        " where host = 'scrape-node' group by all order by all"
    ) == [
        ("sglang", "meta-llama/Llama-3.1-8B-Instruct", "generation_tokens", 7557572.0),
        ("sglang", "meta-llama/Llama-3.1-8B-Instruct", "prompt_tokens", 8128902.0),
        ("vllm", "Qwen/Qwen2.5-0.5B-Instruct", "generation_tokens", 0.0),
        ("vllm", "Qwen/Qwen2.5-0.5B-Instruct", "prompt_tokens", 0.0),
    ]
    # Memory totals include the reserved framebuffer; two one-minute windows were scraped.
    assert [(r[0], r[6], r[7]) for r in rows] == [
        (g, MIB_TOTAL[g] * MIB, 120) for g in sorted(MIB_TOTAL)
    ]


def test_a_pod_on_a_mig_instance_holds_its_instances_share_of_the_gpu(
    scraped: tuple[Pipeline, Pipeline, str, dict[str, float]],
) -> None:
    _, pipeline, _, _ = scraped
    attributed = pipeline.query(
        "select workload, round(busy_seconds, 6)::double, round(held_idle_seconds, 6)::double"
        " from intermediate.int_gpu_seconds_attributed where gpu_uuid = ?",
        [MIG_POD_GPU],
    )
    # 120 s measured; the instance (1 of 7 slices) was active 0.995687 of them.
    assert attributed == [
        ("trainer", round(120 * 0.995687 / 7, 6), round(120 * (1 - 0.995687) / 7, 6))
    ]


def test_the_nvml_spools_mig_instances_follow_the_same_rule(
    scraped: tuple[Pipeline, Pipeline, str, dict[str, float]],
) -> None:
    _, pipeline, _, _ = scraped
    share = 3 / 7  # each 3g.71gb instance: 3 of the H200's 7 slices
    [(util, seconds)] = pipeline.query(
        "select util_mean, round(coverage * 3600) from marts.fct_gpu_utilization_hourly"
        " where gpu_uuid = ?",
        [MIG_NVML_GPU],
    )
    assert (util, seconds) == (pytest.approx(0.8 * share + 0.0 * share), 180)
    attributed = pipeline.query(
        "select gpu_uuid, workload, busy_seconds::double, held_idle_seconds::double"
        " from intermediate.int_gpu_seconds_attributed where host = ?",
        [MIG_HOST],
    )
    # The process on instance 1 is charged on the GPU: 80 % busy and the rest of its
    # instance's share held, for 180 s; instance 2's idle share is nobody's.
    assert attributed == [
        (
            MIG_NVML_GPU,
            "(unlabeled)",
            pytest.approx(180 * 0.8 * share, abs=1e-6),
            pytest.approx(180 * 0.2 * share, abs=1e-6),
        )
    ]


def test_a_machine_seen_under_two_names_is_reported_not_counted_twice(
    scraped: tuple[Pipeline, Pipeline, str, dict[str, float]],
) -> None:
    import dagster as dg

    from pipelines.defs.serving.health import telemetry_checks

    base, pipeline, _, _ = scraped
    [(gpu, host)] = pipeline.query(
        "select distinct gpu_uuid, (select max(host) from staging.stg_nvml__gpu_windows as n"
        " where n.gpu_uuid = d.gpu_uuid) from staging.stg_dcgm__samples as d where host = ?",
        [UNMAPPED_POD],
    )
    # The unmapped pod's hour is the collector's: counted once, from the spool.
    same = (
        "select round(sum(busy_gpu_hours), 9), round(sum(cost_usd), 6)"
        " from marts.fct_cost_per_useful_token where host = ?"
    )
    assert pipeline.query(same, [host]) == base.query(same, [host])
    job = dg.Definitions(
        asset_checks=[telemetry_checks],
        jobs=[dg.define_asset_job("check", selection=dg.AssetSelection.checks(telemetry_checks))],
        resources={"warehouse": pipeline.resource()},
    ).resolve_job_def("check")
    [evaluation] = [
        e
        for e in job.execute_in_process().get_asset_check_evaluations()
        if e.check_name == "one_name_per_host"
    ]
    seen = str(evaluation.metadata["seen"].value)
    assert (evaluation.passed, evaluation.metadata["split_machines"].value) == (False, 1)
    assert f"gpu {gpu}" in seen and ", ".join(sorted([host, UNMAPPED_POD])) in seen
    assert EXPORTER_POD not in seen  # mapped: one machine, one name


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
