from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from collectors.spool import SPOOL_SCHEMA
from synth import build_fleet, write_landing_zone
from synth.truth import compute_truth


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_writes_byte_identical_landing_zones(tmp_path: Path) -> None:
    write_landing_zone(build_fleet(gpus=2, days=1, seed=3), tmp_path / "a")
    write_landing_zone(build_fleet(gpus=2, days=1, seed=3), tmp_path / "b")
    write_landing_zone(build_fleet(gpus=2, days=1, seed=4), tmp_path / "c")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a")["truth.json"] != _files(tmp_path / "c")["truth.json"]


def test_fleet_shapes_cycle_through_dedicated_shared_idle_and_failing_hosts() -> None:
    fleet = build_fleet(gpus=18, days=1)
    assert [(h.instance_type.name, h.gpu_count) for h in fleet.hosts] == [
        ("p5.48xlarge", 8),
        ("p4d.24xlarge", 8),
        ("g5.xlarge", 1),
        ("g5.xlarge", 1),
    ]
    assert [sorted({p.workload for p in h.placements}) for h in fleet.hosts] == [
        ["chat-assistant"],
        ["code-complete", "doc-summarize", "rag-search"],
        [],
        ["translate-canary"],
    ]
    assert fleet.workloads["translate-canary"].all_requests_fail


def test_gpu_hour_cost_follows_price_savings_plan_and_gpu_count() -> None:
    p5, p4d, g5, _ = build_fleet(gpus=18, days=1).hosts
    assert p5.gpu_hour_cost() == Decimal("55.04") * Decimal("0.72") / 8  # savings plan
    assert p4d.gpu_hour_cost() == Decimal("21.96") / 8
    assert g5.gpu_hour_cost() == Decimal("1.006")


def test_truth_conserves_each_day_and_counts_only_useful_tokens() -> None:
    fleet = build_fleet(gpus=11, days=1, seed=5)  # p5 + shared, idle and failing g5 hosts
    truth = compute_truth(fleet)
    (day,) = truth["daily"]
    parts = sum(
        Decimal(day[k])
        for k in (
            "attributed_cost_usd",
            "idle_cost_usd",
            "unallocated_cost_usd",
            "unused_commitment_usd",
        )
    )
    assert abs(parts - Decimal(day["gpu_cost_usd"])) <= Decimal("0.000003")
    # The shared g5 runs in a two-instance Capacity Block: half of it is unused every hour.
    (block,) = fleet.capacity_blocks
    block_day = block.usd_per_instance_hour * block.instance_count * 24
    neocloud_unused = Decimal(day["unused_commitment_usd"]) - block_day / 2
    (deal,) = fleet.neocloud_deals
    # The neocloud contract's second host never runs: half its fees and upfront share.
    hourly = deal.hourly_fee_usd_per_gpu * 2 * deal.gpus_per_host + deal.upfront_usd / 17520
    assert abs(neocloud_unused - hourly * 24 / 2) <= Decimal("0.000003")
    useful = [r for r in fleet.all_requests if r.useful]
    assert all(r.status == 200 and not r.synthetic for r in useful)
    assert sum(w["useful_tokens"] for w in truth["workload_days"]) == sum(
        (r.prompt_tokens or 0) + (r.completion_tokens or 0) for r in useful
    )
    failing = [w for w in truth["workload_days"] if w["workload"] == "translate-canary"]
    assert failing and failing[0]["useful_tokens"] == 0
    assert failing[0]["cost_per_million_useful_tokens"] is None


def test_written_formats_follow_the_landing_zone_layout(tmp_path: Path) -> None:
    fleet = build_fleet(gpus=9, days=1, seed=2)
    write_landing_zone(fleet, tmp_path)
    manifests = sorted(
        tmp_path.glob("aws_cur/gpuledger-cur2/metadata/BILLING_PERIOD=*/*/*-Manifest.json")
    )
    assert len(manifests) == 2  # one period, delivered twice (a restatement)
    manifest = json.loads(manifests[-1].read_text())
    assert {"executionId", "exportArn", "columns", "dataFiles", "additionalOutputFiles"} <= set(
        manifest
    )
    assert manifest["dataFiles"][0].startswith("s3://")
    types = {
        r["line_item_line_item_type"]
        for r in pq.read_table(
            tmp_path / "aws_cur" / manifest["dataFiles"][0].split("/cur/", 1)[1]
        ).to_pylist()
    }
    assert types == {
        "Usage",
        "SavingsPlanCoveredUsage",
        "SavingsPlanNegation",
        "SavingsPlanRecurringFee",
    }
    spool = next(tmp_path.glob("telemetry/nvml/host=*/date=*/*.parquet"))
    assert pq.read_schema(spool).equals(SPOOL_SCHEMA)
    record = json.loads(
        next(tmp_path.glob("inference/requests/date=*/*.jsonl")).read_text().splitlines()[0]
    )
    assert {
        "time",
        "request_id",
        "host",
        "workload",
        "model",
        "status",
        "finish_reason",
        "attempt",
        "retry_of",
        "synthetic",
        "usage",
    } <= set(record)
