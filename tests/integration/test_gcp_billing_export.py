"""The GCP billing export samples in ../shared/samples through the real pipeline."""

from __future__ import annotations

import ast
import csv
import json
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


def _gpu_vm_export(path: Path) -> None:
    """Three hours of a two-A100 VM: GPU SKU lines (one with a CUD credit) and its cores."""
    lines = []
    for hour in range(3):
        start, end = f"2026-10-30 1{hour}:00:00 UTC", f"2026-10-30 1{hour + 1}:00:00 UTC"
        common = {
            "billing_account_id": "012345-6789AB-CDEF01",
            "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
            "usage_start_time": start,
            "usage_end_time": end,
            "project": {"id": "ml-serving"},
            "location": {"location": "us-central1", "region": "us-central1"},
            "resource": {"name": "a2-vm-1", "global_name": None},
            "currency": "USD",
            "invoice": {"month": "202610"},
            "cost_type": "regular",
        }
        credits = (
            [
                {
                    "name": "Committed Usage Discount: GPU",
                    "amount": -1.0,
                    "type": "COMMITTED_USAGE_DISCOUNT",
                }
            ]
            if hour == 0
            else []
        )
        lines.append(
            {
                **common,
                "sku": {
                    "id": "039F-D0DA-4055",
                    "description": "Nvidia Tesla A100 GPU running in Americas",
                },
                "cost": 5.867816,
                "usage": {
                    "amount": 7200,
                    "unit": "seconds",
                    "amount_in_pricing_units": 2.0,
                    "pricing_unit": "hour",
                },
                "credits": credits,
            }
        )
        lines.append(
            {
                **common,
                "sku": {
                    "id": "A2CO-RE00-0000",
                    "description": "A2 Instance Core running in Americas",
                },
                "cost": 3.0,
                "usage": {
                    "amount": 86400,
                    "unit": "seconds",
                    "amount_in_pricing_units": 24.0,
                    "pricing_unit": "hour",
                },
                "credits": [],
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def test_gcp_gpu_skus_become_gpu_hour_cost_apart_from_the_vm_cores(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    pipeline = pipeline_factory(gpus=1, days=1, seed=5).copy_to(tmp_path)
    _gpu_vm_export(pipeline.landing / "gcp_billing" / "export-2026-10-30.jsonl")
    pipeline.run()  # the dbt conservation tests run inside and would fail the run

    hours = pipeline.query(
        "select hour_start_at, count(*), sum(cost_usd) from intermediate.int_gpu_costs_hourly"
        " where provider = 'gcp' group by 1 order by 1"
    )
    # Two GPU slots an hour; the first hour's GPU cost is net of its $1 CUD credit; the VM's
    # cores ($3/h) are not GPU cost.
    assert [(n, cost) for _, n, cost in hours] == [
        (2, Decimal("4.8678160000")),
        (2, Decimal("5.8678160000")),
        (2, Decimal("5.8678160000")),
    ]
    # No collector reports a2-vm-1: all of it is unallocated, and the facts still add up.
    assert pipeline.query(
        "select workload, count(*), sum(cost_usd) from marts.fct_cost_per_useful_token"
        " where resource_id = 'a2-vm-1' group by 1"
    ) == [("(unallocated)", 6, Decimal("16.6034480000"))]


def test_export_read_straight_from_bigquery_equals_the_exported_file() -> None:
    from pipelines.defs.gcp_billing.load import (
        bigquery_client,
        read_bigquery_table,
        read_export_file,
    )
    from tests.fixtures.fake_bigquery import fake_bigquery

    cuds = GCP / "cuds-prioritized-attribution"
    schema = json.loads((cuds / "billing_export_schema.json").read_text())
    export = cuds / "test_3_1" / "export.json"
    # Concatenated pretty-printed objects: made a JSON array here without the project's parser.
    objects = json.loads("[" + re.sub(r"}\s*{", "},{", export.read_text()) + "]")
    with fake_bigquery(
        "billing-project.billing.gcp_billing_export_v1", schema, objects
    ) as endpoint:
        rows, rejected = read_bigquery_table(
            bigquery_client(endpoint), "billing-project.billing.gcp_billing_export_v1"
        )
    from_file, _ = read_export_file(export, GCP)
    assert rejected == []
    fields = (
        "sku_id",
        "usage_start_time",
        "cost",
        "credits_total",
        "credits_committed_usage_discount",
        "invoice_month",
        "project_id",
    )
    assert [tuple(r[f] for f in fields) for r in rows] == [
        tuple(r[f] for f in fields) for r in from_file
    ]
    assert rows[0]["source_file"] == "bigquery://billing-project.billing.gcp_billing_export_v1"


def _spend_based_cud_export(path: Path) -> None:
    """One hour under the 2025-26 spend-based CUD model (Google's 'cuds-multiprice' docs): usage
    at the discounted price with a consumption model, and the $1 fee SKU for a $10/h commitment
    of which $8 was used, offset by a FEE_UTILIZATION_OFFSET credit."""
    common = {
        "billing_account_id": "012345-6789AB-CDEF01",
        "usage_start_time": "2026-10-30 12:00:00 UTC",
        "usage_end_time": "2026-10-30 13:00:00 UTC",
        "project": {"id": "ml-serving"},
        "currency": "USD",
        "invoice": {"month": "202610"},
        "cost_type": "regular",
    }
    rows = [
        {
            **common,
            "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
            "sku": {
                "id": "CP-COMPUTEENGINE-CORE",
                "description": "N2 Instance Core running in Americas",
            },
            "resource": {"name": "n2-vm-1"},
            "cost": 8.0,
            "usage": {"amount": 3600, "amount_in_pricing_units": 1.0, "pricing_unit": "hour"},
            "consumption_model": {
                "id": "5515-81A8-03A2",
                "description": "Compute Engine Flexible CUD 1 Year",
            },
            "credits": [],
        },
        {
            **common,
            "service": {"id": "CUD0-FEE0-0001", "description": "Compute Engine"},
            "sku": {"id": "CUD0-FEE0-SKU1", "description": "Commitment - dollar based v1: GCE"},
            "cost": 10.0,
            "usage": {"amount": 10, "amount_in_pricing_units": 10.0, "pricing_unit": "count"},
            "credits": [
                {"name": "GCE Commitments", "amount": -8.0, "type": "FEE_UTILIZATION_OFFSET"}
            ],
        },
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")


def test_spend_based_cud_model_nets_the_fee_to_the_unused_commitment(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path
) -> None:
    pipeline = pipeline_factory(gpus=1, days=1, seed=5).copy_to(tmp_path)
    _spend_based_cud_export(pipeline.landing / "gcp_billing" / "cud-2026-10-30.jsonl")
    pipeline.run()
    rows = pipeline.query(
        'select "ChargeCategory", "ChargeFrequency", "CommitmentDiscountStatus", "ListCost",'
        " \"BilledCost\" from marts.billing_focus where x_source_system = 'gcp_billing'"
        " order by 1 desc"
    )
    assert rows == [
        # Usage at the discounted rate, covered by the commitment.
        ("Usage", "Usage-Based", "Used", Decimal("8.0000000000"), Decimal("8.0000000000")),
        # $10 fee, $8 offset for the part used: $2 of commitment went unused.
        ("Purchase", "Recurring", None, Decimal("10.0000000000"), Decimal("2.0000000000")),
    ]
    # What the hour cost in all: the commitment, $10.
    assert pipeline.query(
        "select sum(\"BilledCost\") from marts.billing_focus where x_source_system = 'gcp_billing'"
    ) == [(Decimal("10.0000000000"),)]
