"""The GCP billing export samples in ../shared/samples through the real pipeline."""

from __future__ import annotations

import ast
import csv
import re
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, Pipeline

pytestmark = pytest.mark.integration
GCP = SAMPLES / "gcp-billing-export"
# Billing data only: the folder also holds a BigQuery schema and a commitments list. The two CUD
# cases are separate test cases sharing an identical commitment-fee row, so one lands here and
# the other is read on its own below.
EXPORTS = [
    *sorted(GCP.glob("*.csv")),
    GCP / "cuds-prioritized-attribution" / "test_3_1" / "export.json",
]


@pytest.fixture(scope="module")
def gcp_pipeline(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    base = pipeline_factory(gpus=1, days=1, seed=5)
    pipeline = base.copy_to(tmp_path_factory.mktemp("gcp"))
    for path in EXPORTS:
        target = pipeline.landing / "gcp_billing" / path.relative_to(GCP)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    pipeline.run()
    return pipeline


def _file_totals(path: Path) -> tuple[int, Decimal, Decimal]:
    """Rows, Σ cost, Σ credits, read without the project's parser."""
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        credits = sum(
            (Decimal(str(c["amount"])) for r in rows for c in ast.literal_eval(r["credits"])),
            Decimal(0),
        )
        return len(rows), sum((Decimal(r["cost"]) for r in rows), Decimal(0)), credits
    text = path.read_text()
    costs = re.findall(r'"cost":\s*"([-\d.]+)"', text)
    credits = re.findall(r'"name":\s*"[^"]*",\s*"amount":\s*"([-\d.]+)"', text)
    return (
        len(costs),
        sum((Decimal(c) for c in costs), Decimal(0)),
        sum((Decimal(c) for c in credits), Decimal(0)),
    )


def test_every_gcp_sample_loads_with_its_own_totals(gcp_pipeline: Pipeline) -> None:
    for path in EXPORTS:
        name = f"gcp_billing/{path.relative_to(GCP).as_posix()}"
        rows, cost, credits = _file_totals(path)
        loaded = gcp_pipeline.query(
            "select count(*), sum(cost), sum(credits_total) from raw.gcp_billing_export"
            " where source_file = ?",
            [name],
        )
        assert loaded == [(rows, cost, credits)], name
    assert gcp_pipeline.query(
        "select count(*) from raw.quarantine where source = 'gcp_billing'"
    ) == [(0,)]


def test_net_cost_and_cud_credits_of_the_cud_attribution_case(gcp_pipeline: Pipeline) -> None:
    # Upstream "More CUDs than purchases" (test_3_1): usage 50 + 100 + 150, one $100 commitment
    # fee, CUD credits -100 -100, SUD -60.
    rows = gcp_pipeline.query(
        "select sum(cost), sum(credits_committed_usage_discount), sum(credits_total),"
        " sum(net_cost), sum(case when is_commitment_fee then cost end)"
        " from staging.stg_gcp_billing__export_rows where source_file like '%test_3_1%'"
    )
    assert rows == [
        (
            Decimal("400.0000000000"),
            Decimal("-200.0000000000"),
            Decimal("-260.0000000000"),
            Decimal("140.0000000000"),
            Decimal("100.0000000000"),
        )
    ]
    purchases = gcp_pipeline.query(
        'select "ChargeFrequency", "BilledCost" from marts.billing_focus'
        " where x_source_system = 'gcp_billing' and \"ChargeCategory\" = 'Purchase'"
    )
    assert purchases == [("Recurring", Decimal("100.0000000000"))]


def test_a_day_exported_again_or_repeated_by_a_later_export_counts_once(
    gcp_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = gcp_pipeline.copy_to(tmp_path)
    totals = (
        "select invoice_month, count(*), sum(cost), sum(credits_total)"
        " from raw.gcp_billing_export group by 1 order by 1"
    )
    before = pipeline.query(totals)
    # The same day exported again into a second file, and a later export of the month that
    # repeats the earlier rows plus one late row.
    shutil.copy2(GCP / "2022-08-01_5.csv", pipeline.landing / "gcp_billing" / "again.csv")
    lines = (GCP / "2022-08-01_5.csv").read_text().splitlines()
    late = lines[1].replace(
        "2022-08-01 03:00:00+00:00,2022-08-01 04:00:00+00:00",
        "2022-08-01 23:00:00+00:00,2022-08-02 00:00:00+00:00",
    )
    assert late != lines[1]
    (pipeline.landing / "gcp_billing" / "later.csv").write_text("\n".join([*lines, late]) + "\n")
    pipeline.run()
    after = pipeline.query(totals)
    expected = [(m, n + 1, c, cr) if m == "2022-08" else (m, n, c, cr) for m, n, c, cr in before]
    assert after == expected


def test_concatenated_pretty_printed_json_export_reads_every_object() -> None:
    from pipelines.defs.gcp_billing.load import read_export_file

    path = GCP / "cuds-prioritized-attribution" / "test_1_1" / "export.json"
    rows, rejected = read_export_file(path, GCP)
    count, cost, credits = _file_totals(path)
    assert (len(rows), len(rejected)) == (count, 0) == (4, 0)
    assert sum(r["cost"] for r in rows) == cost == Decimal("310.0")
    assert sum(r["credits_total"] for r in rows) == credits == Decimal("-140.0")
    # One row writes its SKU id in lower case; ids are compared upper case.
    assert {r["sku_id"] for r in rows} == {"6C71-E844-38BC", "5AA0-D2CC-1DA8"}
