"""Sensors start from what the warehouse holds: after `gpuledger run` (the runner) landed a
fleet, a first evaluation with no cursor proposes nothing; a changed day is proposed alone."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from pipelines.defs.sources.aws_cur.sensors import aws_cur_new_delivery
from pipelines.defs.sources.sensors import landing_new_files
from tests.conftest import SAMPLES, Pipeline

pytestmark = pytest.mark.integration


def _proposed(sensor: dg.SensorDefinition, pipeline: Pipeline) -> list[tuple[str, str | None]]:
    context = dg.build_sensor_context(cursor=None, resources={"warehouse": pipeline.resource()})
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return [(r.job_name or sensor.job_name, r.partition_key) for r in result.run_requests or []]


def test_a_sensor_evaluation_after_a_cli_run_proposes_nothing(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    pipeline = pipeline_factory(gpus=4, days=2, seed=11, start=date(2026, 3, 31)).copy_to(tmp_path)
    assert _proposed(landing_new_files, pipeline) == []
    assert _proposed(aws_cur_new_delivery, pipeline) == []

    # A request log of one day shipped again (new modification time): that day alone.
    log = sorted((pipeline.landing / "inference" / "requests").rglob("date=2026-04-01/*.jsonl"))[0]
    stat = log.stat()
    os.utime(log, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert _proposed(landing_new_files, pipeline) == [("ingest_daily", "2026-04-01")]

    # Without a warehouse (a new install), everything present is proposed, as before.
    pipeline.warehouse.unlink()
    assert _proposed(landing_new_files, pipeline) == [
        ("ingest_daily", "2026-03-31"),
        ("ingest_daily", "2026-04-01"),
    ]
    assert [p for _, p in _proposed(aws_cur_new_delivery, pipeline)] == [
        "2026-03-01",
        "2026-04-01",
    ]


def test_billing_exports_the_cli_landed_are_not_proposed_again(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    """FOCUS and GCP exports: a period the warehouse holds at its files' versions is not landed
    again; a file shipped again re-lands its periods, a removed file the periods it held."""
    pipeline = pipeline_factory(gpus=4, days=2, seed=11, start=date(2026, 3, 31)).copy_to(tmp_path)
    focus = pipeline.landing / "focus" / "focus_sample.csv"
    focus.parent.mkdir()
    shutil.copy2(SAMPLES / "focus" / "FOCUS-1.0" / "focus_sample.csv", focus)
    gcp = pipeline.landing / "gcp_billing"
    gcp.mkdir()
    for name in (
        "202011_30c31bca571d9b7f3b2c8459dd8bc34a_2020-11-08_2020-11-11.csv",
        "2022-08-01_5.csv",
    ):
        shutil.copy2(SAMPLES / "gcp-billing-export" / name, gcp / name)
    pipeline.run()
    assert _proposed(landing_new_files, pipeline) == []

    stat = focus.stat()
    os.utime(focus, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    focus_periods = _proposed(landing_new_files, pipeline)
    assert focus_periods and {job for job, _ in focus_periods} == {"billing_monthly"}
    assert all(p is not None and p.startswith("2024-") for _, p in focus_periods), focus_periods

    pipeline.run()
    (gcp / "2022-08-01_5.csv").unlink()
    proposed = _proposed(landing_new_files, pipeline)
    # Without a cursor: every month landed from the GCP files as they were, the removed
    # file's included, is landed again.
    assert proposed == [("billing_monthly", "2020-11-01"), ("billing_monthly", "2022-08-01")]


def test_a_bill_restated_from_the_ui_builds_the_day_it_changed_and_publishes(
    demo_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI's chain of runs: a billing run, then (reference_after_landing) an ingest_reference
    run, then (build_after_reference) a build of the days the billing run's landing changed, which
    publishes; each sensor is evaluated on the run before it."""
    from pipelines.definitions import defs
    from pipelines.defs.transform.schedules import (
        build_after_reference,
        reference_after_landing,
    )
    from pipelines.lib.paths import export_environment
    from pipelines.runner import partition_tags, run_config
    from tests.restated_bills import restate_october_hour

    pipeline = demo_pipeline.copy_to(tmp_path)
    for name in ("GPULEDGER_LANDING", "GPULEDGER_WAREHOUSE"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    export_environment(pipeline.landing, pipeline.warehouse)
    restate_october_hour(pipeline.landing, "2026-10-30 05", "66666666-6666-6666-6666-666666666666")

    definitions = defs()
    instance = dg.DagsterInstance.ephemeral()

    def execute(job: str, request: dg.RunRequest | None) -> dg.ExecuteInProcessResult:
        key, tags = None, {}
        if request is not None:
            tags = dict(request.tags)
            key = request.partition_key
        result = definitions.resolve_job_def(job).execute_in_process(
            run_config=run_config("WARNING"), partition_key=key, tags=tags, instance=instance
        )
        assert result.success, job
        return result

    def after(sensor: dg.RunStatusSensorDefinition, result: dg.ExecuteInProcessResult) -> Any:
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_success_event(),
        )
        return sensor(context)

    billing = definitions.resolve_job_def("billing_monthly").execute_in_process(
        run_config=run_config("WARNING"), partition_key="2026-10-01", instance=instance
    )
    reference = execute("ingest_reference", after(reference_after_landing, billing))
    [build] = after(build_after_reference, reference)
    assert build.job_name == "build_daily"
    assert partition_tags("2026-10-30...2026-10-30")[1] == dict(build.tags)
    built = execute("build_daily", build)
    assert {
        event.partition
        for event in built.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(["marts", "fct_cost_per_useful_token"])
    } == {"2026-10-30"}
    # The restated dollar reached the served snapshot.
    query = (
        "select round(sum(cost_usd), 2) from marts.fct_cost_per_useful_token"
        " where cast(hour_start_at as date) = '2026-10-30' and workload <> '(unused commitment)'"
    )
    served = duckdb.connect(str(pipeline.warehouse.parent / "serving" / "gpuledger.duckdb"))
    try:
        assert served.execute(query).fetchall() == [(demo_pipeline.query(query)[0][0] + 1,)]
    finally:
        served.close()

    # An ingest_reference run that changed nothing (no landing before it) publishes at once.
    reference = execute("ingest_reference", None)
    assert [r.job_name for r in after(build_after_reference, reference)] == ["publish"]
