"""The landing sensor asks for runs of exactly what changed, and nothing when nothing did."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pipelines.defs.sources.sensors import landing_new_files
from pipelines.lib.resources import WarehouseResource
from synth import build_fleet, write_landing_zone
from tests.conftest import SAMPLES
from tests.fixtures.moto_s3 import moto_s3


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


def test_landing_folders_kept_in_s3_are_mirrored_and_changes_request_just_their_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector ships its spool to S3 (`--ship s3://...`); the pipeline reads it there."""
    from pipelines.lib.mirror import sync_landing

    shipped = tmp_path / "collector-spool"
    fleet_landing = tmp_path / "generated"
    write_landing_zone(build_fleet(gpus=1, days=2, seed=3), fleet_landing)
    shutil.copytree(fleet_landing / "telemetry" / "nvml", shipped)
    landing = tmp_path / "landing"
    landing.mkdir()
    with moto_s3(monkeypatch, "spool-bucket") as client:
        for path in sorted(shipped.rglob("*.parquet")):
            client.upload_file(str(path), "spool-bucket", f"fleet/{path.relative_to(shipped)}")
        monkeypatch.setenv("GPULEDGER_NVML", "s3://spool-bucket/fleet")
        first, cursor = evaluate(landing, None)
        assert first == [("ingest_daily", "2026-10-30"), ("ingest_daily", "2026-10-31")]
        mirrored = sorted((landing / "telemetry" / "nvml").rglob("*.parquet"))
        assert [p.read_bytes() for p in mirrored] == [
            p.read_bytes() for p in sorted(shipped.rglob("*.parquet"))
        ]
        # Nothing new in the bucket: nothing downloaded, no run.
        assert evaluate(landing, cursor)[0] == []
        assert [(s.downloaded, s.removed, s.unchanged) for s in sync_landing(landing)] == [
            (0, 0, 2)
        ]
        # A late file for one day: that day only.
        late = next(shipped.rglob("date=2026-10-31/*.parquet"))
        key = f"fleet/{late.relative_to(shipped).parent}/late.parquet"
        client.upload_file(str(late), "spool-bucket", key)
        requests, cursor = evaluate(landing, cursor)
        assert requests == [("ingest_daily", "2026-10-31")]
        # An object deleted from the bucket leaves the mirror and re-lands its day.
        client.delete_object(Bucket="spool-bucket", Key=key)
        requests, cursor = evaluate(landing, cursor)
        assert requests == [("ingest_daily", "2026-10-31")]
        assert not list((landing / "telemetry" / "nvml").rglob("late.parquet"))


def test_the_runner_and_the_sensor_find_the_same_partitions_in_one_discovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gpuledger run` plans the partitions the sensor would request from an empty warehouse
    (pipelines/defs/sources/discovery.py), and a day's version moves with its files only."""
    from datetime import date

    from pipelines.defs.sources import discovery
    from pipelines.runner import plan

    landing = tmp_path / "landing"
    write_landing_zone(build_fleet(gpus=1, days=2, seed=3), landing)
    export = landing / "gcp_billing" / "2022-08-01_5.csv"
    export.parent.mkdir()
    shutil.copy2(SAMPLES / "gcp-billing-export" / "2022-08-01_5.csv", export)
    monkeypatch.setenv("GPULEDGER_AWS_CUR", str(landing / "aws_cur"))
    planned = plan(landing)
    requested, _ = evaluate(landing, None)
    assert [("ingest_daily", d) for d in planned.days] == [
        r for r in requested if r[0] == "ingest_daily"
    ]
    assert planned.days == ["2026-10-30", "2026-10-31"]
    assert "2022-08" in planned.billing_periods
    assert ("billing_monthly", "2022-08-01") in requested
    before = discovery.day_versions(landing, date(2026, 10, 31))
    other = discovery.day_versions(landing, date(2026, 10, 30))
    spool = sorted((landing / "telemetry" / "nvml").rglob("date=2026-10-31/*.parquet"))[0]
    shutil.copy2(spool, spool.with_name("late.parquet"))
    after = discovery.day_versions(landing, date(2026, 10, 31))
    assert after["nvml"][1] == before["nvml"][1] + 1 and after["nvml"][0] != before["nvml"][0]
    assert after["inference_requests"] == before["inference_requests"]
    assert discovery.day_versions(landing, date(2026, 10, 30)) == other
