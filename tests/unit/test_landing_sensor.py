"""The landing sensor asks for runs of exactly what changed, and nothing when nothing did."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.defs.transform.sensors import landing_new_files
from pipelines.lib.resources import WarehouseResource
from pipelines.synth import build_fleet, write_landing_zone
from tests.conftest import SAMPLES


def evaluate(landing: Path, cursor: str | None) -> tuple[list[tuple[str, Any]], str]:
    resource = WarehouseResource(
        landing=str(landing), warehouse=str(landing / "w.duckdb"), aws_cur=str(landing / "aws_cur")
    )
    context = dg.build_sensor_context(cursor=cursor, resources={"warehouse": resource})
    result = landing_new_files(context)
    assert isinstance(result, dg.SensorResult)
    requests = [(r.job_name, r.partition_key) for r in result.run_requests or []]
    return requests, result.cursor or ""


def test_new_days_periods_and_inputs_each_request_just_their_run(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_landing_zone(build_fleet(gpus=1, days=2, seed=3), landing)
    first, cursor = evaluate(landing, None)
    assert first == [("ingest_daily", "2026-10-30"), ("ingest_daily", "2026-10-31")]
    # Nothing new: no run.
    assert evaluate(landing, cursor)[0] == []

    # A late spool file for one day: that day only.
    day = landing / "telemetry" / "nvml"
    spool = sorted(day.rglob("date=2026-10-31/*.parquet"))[0]
    shutil.copy2(spool, spool.with_name("late.parquet"))
    requests, cursor = evaluate(landing, cursor)
    assert requests == [("ingest_daily", "2026-10-31")]

    # A GCP export: the billing periods it holds, read from that file only.
    export = landing / "gcp_billing" / "2022-08-01_5.csv"
    export.parent.mkdir()
    shutil.copy2(SAMPLES / "gcp-billing-export" / "2022-08-01_5.csv", export)
    requests, cursor = evaluate(landing, cursor)
    assert requests == [("billing_monthly", "2022-08-01")]
    assert evaluate(landing, cursor)[0] == []

    # Removing it re-lands the period without it.
    export.unlink()
    requests, cursor = evaluate(landing, cursor)
    assert requests == [("billing_monthly", "2022-08-01")]

    # A contract edited: the transform, which reads contracts whole.
    contracts = landing / "contracts"
    contracts.mkdir(exist_ok=True)
    (contracts / "extra.yaml").write_text("contracts: []\n")
    requests, cursor = evaluate(landing, cursor)
    assert requests == [("transform", None)]
    assert evaluate(landing, cursor)[0] == []
