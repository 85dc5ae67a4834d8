"""FOCUS exports from ../shared/samples through the real pipeline into marts.billing_focus."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, Pipeline

pytestmark = pytest.mark.integration
FOCUS = SAMPLES / "focus"


@pytest.fixture(scope="module")
def focus_pipeline(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    base = pipeline_factory(gpus=1, days=1, seed=5)
    pipeline = base.copy_to(tmp_path_factory.mktemp("focus"))
    shutil.copytree(FOCUS, pipeline.landing / "focus")
    pipeline.run()
    return pipeline


def _file_totals(path: Path) -> tuple[int, Decimal]:
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if any((v or "").strip() for v in r.values())]
    return len(rows), sum(
        (Decimal(r["BilledCost"]) for r in rows if r["BilledCost"] not in ("", "NULL", "null")),
        Decimal(0),
    )


def test_every_focus_sample_row_is_loaded_or_quarantined_and_totals_add_up(
    focus_pipeline: Pipeline,
) -> None:
    loaded = {
        r[0]: r[1:]
        for r in focus_pipeline.query(
            'select source_file, count(*), sum("BilledCost") from raw.focus_charges group by 1'
        )
    }
    quarantined: dict[str, list[str]] = defaultdict(list)
    for source_file, raw_record in focus_pipeline.query(
        "select source_file, raw_record from raw.quarantine where source = 'focus'"
    ):
        quarantined[source_file].append(raw_record)
    for path in sorted(FOCUS.rglob("*.csv")):
        name = f"focus/{path.relative_to(FOCUS).as_posix()}"
        rows, total = _file_totals(path)
        count, cost = loaded.get(name, (0, 0.0))
        assert count + len(quarantined[name]) == rows, name
        quarantined_cost = sum(
            (Decimal(json.loads(r)["BilledCost"]) for r in quarantined[name]),
            Decimal(0),
        )
        assert abs(Decimal(str(cost or 0)) + quarantined_cost - total) < Decimal("0.000001"), name


def test_focus_sample_quirks_follow_the_documented_rules(focus_pipeline: Pipeline) -> None:
    reasons = focus_pipeline.query(
        "select source_file, count(*) from raw.quarantine where source = 'focus'"
        " group by 1 order by 1"
    )
    assert reasons == [
        ("focus/FOCUS-1.0/focus_sample.csv", 51),  # Microsoft rows: AvailabilityZone is a number
        (
            "focus/spec-examples/commitment_discount_scenarios/commitment_discount_purchase_scenario_2.csv",
            1,
        ),
        (
            "focus/spec-examples/commitment_discount_scenarios/commitment_discount_purchase_scenario_3.csv",
            1,
        ),
    ]
    # Mixed-case enum values are normalized; literal NULLs are nulls; no zone means UTC.
    assert focus_pipeline.query(
        'select distinct "ChargeFrequency" from raw.focus_charges'
        " where source_file like '%focus_sample.csv' order by 1"
    ) == [("One-Time",), ("Usage-Based",)]
    assert focus_pipeline.query(
        "select count(*) from raw.focus_charges where \"ChargeClass\" = 'NULL'"
    ) == [(0,)]
    # The Oracle row charged on 2024-09-30 but billed in October lands in 2024-10.
    assert focus_pipeline.query(
        "select billing_period, count(*) from raw.focus_charges"
        " where source_file like '%focus_sample.csv' group by 1 order by 1"
    ) == [("2024-09", 948), ("2024-10", 1)]


def test_spec_commitment_scenario_75_percent_used_splits_effective_cost(
    focus_pipeline: Pipeline,
) -> None:
    rows = focus_pipeline.query(
        'select "CommitmentDiscountStatus", "BilledCost", "EffectiveCost"'
        " from marts.billing_focus where x_source_system = 'focus' and \"ResourceId\" in"
        " ('<my-resource-id>', '<my-commitment-discount-id>') and \"ChargeCategory\" = 'Usage'"
        " and \"ChargePeriodStart\" = '2023-01-01 00:00:00' order by 1, 3"
    )
    # usage scenario 3: a $1.00/h commitment, 75% used by the resource, 25% unused.
    assert ("Used", Decimal("0E-10"), Decimal("0.7500000000")) in rows
    assert ("Unused", Decimal("0E-10"), Decimal("0.2500000000")) in rows


def test_billing_focus_carries_every_aws_and_focus_dollar(focus_pipeline: Pipeline) -> None:
    by_source = dict(
        focus_pipeline.query(
            'select x_source_system, sum("BilledCost") from marts.billing_focus group by 1'
        )
    )
    aws = focus_pipeline.query("select sum(line_item_unblended_cost) from raw.aws_cur_line_items")
    focus = focus_pipeline.query('select sum("BilledCost") from raw.focus_charges')
    assert abs(float(by_source["aws_cur"]) - aws[0][0]) < 0.005
    assert abs(float(by_source["focus"]) - focus[0][0]) < 0.005
