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

    # A contract edited: an ingest_reference run, which lands contracts whole.
    contracts = landing / "contracts"
    contracts.mkdir(exist_ok=True)
    (contracts / "extra.yaml").write_text("contracts: []\n")
    requests, cursor = evaluate(landing, cursor)
    assert requests == [("ingest_reference", None)]
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


def test_a_build_of_days_leaves_out_long_stretches_nothing_covers(tmp_path: Path) -> None:
    """Bills years apart: a run per stretch with a bill line, a contract, telemetry or a changed
    day in it; shorter gaps stay inside one run; without the warehouse, the range whole."""
    from datetime import date

    from pipelines.defs.sources.discovery import COVERED, build_ranges

    spool = tmp_path / "telemetry" / "nvml" / "host=h1" / "date=2026-10-29"
    spool.mkdir(parents=True)
    (spool / "gpu.parquet").write_bytes(b"")
    asked: list[str] = []

    def query(sql: str, params: list[object]) -> list[tuple[object, ...]]:
        asked.append(sql)
        return [
            (date(2019, 1, 21), date(2019, 1, 21)),  # the lines of a billing period
            (date(2020, 11, 8), date(2020, 11, 11)),
            (date(2020, 12, 1), date(2020, 12, 1)),  # 19 days later: the same run
            (date(2024, 1, 1), date(2024, 12, 31)),  # a contract's term
            (None, None),  # the marker row
        ]

    ranges = build_ranges("2019-01-01", "2026-10-31", {"2022-08-01"}, tmp_path, query)
    assert asked == [COVERED]
    assert ranges == [
        ("2019-01-21", "2019-01-21"),
        ("2020-11-08", "2020-12-01"),
        ("2022-08-01", "2022-08-01"),
        ("2024-01-01", "2024-12-31"),
        ("2026-10-29", "2026-10-29"),
    ]
    # Clipped to the days asked for.
    assert build_ranges("2024-06-01", "2026-10-29", set(), tmp_path, query) == [
        ("2024-06-01", "2024-12-31"),
        ("2026-10-29", "2026-10-29"),
    ]
    # No warehouse to read (not even the marker row): the range whole.
    assert build_ranges("2019-01-01", "2026-10-31", set(), tmp_path, lambda *_: []) == [
        ("2019-01-01", "2026-10-31")
    ]
    # A range shorter than a stretch is not cut, and the warehouse is not asked.
    asked.clear()
    assert build_ranges("2026-10-01", "2026-10-20", set(), tmp_path, query) == [
        ("2026-10-01", "2026-10-20")
    ]
    assert asked == []
