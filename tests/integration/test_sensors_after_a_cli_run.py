"""Sensors start from what the warehouse holds: after `gpuledger run` (the runner) landed a
fleet, a first evaluation with no cursor proposes nothing; a changed day is proposed alone."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
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
