"""The GCP billing export samples in ../shared/samples through the real pipeline."""

from __future__ import annotations

import ast
import csv
import json
import re
import shutil
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.serving.checks import billing_focus_passes_focus_validator
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


@pytest.fixture(scope="module")
def cud_pipeline(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    """One run for the committed-use-discount cases, which do not touch each other: the
    test_1_1 sample (January 2019, RAM, us-west1), a GPU CUD (October 2026, A100, us-central1)
    and a spend-based commitment (October 2026, no region)."""
    pipeline = pipeline_factory(gpus=1, days=1, seed=5).copy_to(tmp_path_factory.mktemp("cud"))
    target = pipeline.landing / "gcp_billing" / "test_1_1" / "export.json"
    target.parent.mkdir(parents=True)
    shutil.copy2(GCP / "cuds-prioritized-attribution" / "test_1_1" / "export.json", target)
    _gpu_cud_export(pipeline.landing / "gcp_billing" / "cud-2026-10-30.jsonl")
    _spend_based_cud_export(pipeline.landing / "gcp_billing" / "flex-2026-10-30.jsonl")
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
            "select count(*), sum(cost), (select coalesce(sum(amount), 0)"
            " from raw.gcp_billing_credits where source_file = ?)"
            " from raw.gcp_billing_export where source_file = ?",
            [name, name],
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
        'select "ChargeFrequency", "BilledCost", "EffectiveCost" from marts.billing_focus'
        " where x_source_system = 'gcp_billing' and \"ChargeCategory\" = 'Purchase'"
    )
    # FOCUS: a commitment purchase has EffectiveCost 0; its cost moves to what it covered.
    assert purchases == [("Recurring", Decimal("100.0000000000"), Decimal(0))]


def test_cud_fee_moves_onto_the_usage_it_covered(gcp_pipeline: Pipeline) -> None:
    # test_3_1, January: a 100 GiB RAM commitment ($100) and project-2's 100 GiB·h at $1, all
    # credited (-100): covered 100 of 100 GiB·h, so the whole fee is project-2's. project-1's
    # row has no CUD credit; March's project-3 row has a credit but no fee in its month.
    rows = gcp_pipeline.query(
        "select project_id, invoice_month, is_commitment_fee, commitment_id, net_cost,"
        " effective_cost, unused_commitment_cost, commitment_used_share"
        " from intermediate.int_gcp_billing_rows_amortized where source_file like '%test_3_1%'"
        " order by 2, 3, 1"
    )
    d = Decimal
    cud = "gcp-cud:us-west1:ram"
    assert rows == [
        ("project-1", "2019-01", False, None, d("-10.0000000000"), d("-10.0000000000"), 0, None),
        ("project-2", "2019-01", False, cud, d(0), d("100.0000000000"), 0, None),
        ("project-1", "2019-01", True, cud, d("100.0000000000"), 0, 0, 1.0),
        ("project-3", "2019-03", False, cud, d("50.0000000000"), d("50.0000000000"), 0, None),
    ]
    # Σ EffectiveCost = Σ BilledCost per period, and no Unused row when all of it was used.
    assert gcp_pipeline.query(
        'select x_billing_period, sum("BilledCost"), sum("EffectiveCost"),'
        " count(*) filter (where \"CommitmentDiscountStatus\" = 'Unused')"
        " from marts.billing_focus where x_source_system = 'gcp_billing'"
        " and x_billing_period in ('2019-01', '2019-03') group by 1 order by 1"
    ) == [
        ("2019-01", d("90.0000000000"), d("90.0000000000"), 0),
        ("2019-03", d("50.0000000000"), d("50.0000000000"), 0),
    ]


def test_half_used_cud_fee_leaves_an_unused_row(cud_pipeline: Pipeline) -> None:
    # test_1_1: the same $100 fee for 100 GiB·h; project-2's 70 GiB·h at $1 got a -50 credit,
    # so 50 GiB·h were covered: half the fee is used (on project-2), half is an Unused row.
    pipeline = cud_pipeline
    d = Decimal
    assert pipeline.query(
        'select "ChargeCategory", "CommitmentDiscountStatus", "ResourceId", "BilledCost",'
        ' "EffectiveCost" from marts.billing_focus'
        " where x_source_system = 'gcp_billing' and x_billing_period = '2019-01'"
        ' order by "ChargeCategory", "CommitmentDiscountStatus" nulls first, "BilledCost"'
    ) == [
        ("Purchase", None, None, d("100.0000000000"), d(0)),
        ("Usage", None, None, d("30.0000000000"), d("30.0000000000")),
        ("Usage", "Unused", "gcp-cud:us-west1:ram", d(0), d("50.0000000000")),
        ("Usage", "Used", None, d("20.0000000000"), d("70.0000000000")),
    ]
    assert pipeline.query(
        "select commitment_id, committed_cost_usd, used_cost_usd, unused_cost_usd, utilization"
        " from marts.fct_commitment_utilization_daily where commitment_id like '%:ram'"
    ) == [("gcp-cud:us-west1:ram", d(100), d(50), d(50), 0.5)]
    # RAM is not GPU cost: none of it reaches the facts' unused commitment.
    assert pipeline.query(
        "select count(*), sum(unused_cost_usd) from intermediate.int_cloud_commitment_unused_hourly"
        " where commitment_id like '%:ram' and gpu_unused_cost_usd <> 0"
    ) == [(0, None)]


def test_a_day_exported_again_or_repeated_by_a_later_export_counts_once(
    gcp_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = gcp_pipeline.copy_to(tmp_path)
    totals = (
        "select invoice_month, count(*), sum(cost), sum(credits_total)"
        " from staging.stg_gcp_billing__export_rows group by 1 order by 1"
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
    # Raw holds every file's rows as they are; staging counts each row once.
    assert pipeline.query(
        "select count(*) from raw.gcp_billing_export"
        " where source_file in ('gcp_billing/again.csv', 'gcp_billing/later.csv')"
    ) == [(2 * (len(lines) - 1) + 1,)]
    after = pipeline.query(totals)
    expected = [(m, n + 1, c, cr) if m == "2022-08" else (m, n, c, cr) for m, n, c, cr in before]
    assert after == expected


def test_concatenated_pretty_printed_json_export_reads_every_object() -> None:
    from pipelines.defs.sources.gcp_billing.load import read_export_file

    path = GCP / "cuds-prioritized-attribution" / "test_1_1" / "export.json"
    rows, rejected = read_export_file(path, GCP)
    count, cost, credits = _file_totals(path)
    assert (len(rows), len(rejected)) == (count, 0) == (4, 0)
    assert sum(r["cost"] for r in rows) == cost == Decimal("310.0")
    assert sum(c["amount"] for r in rows for c in r["credits"]) == credits == Decimal("-140.0")
    # One row writes its SKU id in lower case: landed as written (staging compares upper case,
    # dbt_project/models/staging/_unit_tests.yml).
    assert {r["sku_id"] for r in rows} == {"6C71-E844-38BC", "5aa0-d2cc-1da8"}


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


def _gpu_cud_export(path: Path) -> None:
    """A two-A100 VM for hours 0-1 under a one-A100 CUD billed for hours 0-2 at $1.30/h.

    Each running hour one of the two GPUs is covered: a -$2.933908 credit on the $5.867816 line
    (2 GPU-hours at the on-demand $2.933908). Used: 2 of 3 committed GPU-hours.
    """
    lines = []
    for hour in range(3):
        common = {
            "billing_account_id": "012345-6789AB-CDEF01",
            "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
            "usage_start_time": f"2026-10-30 1{hour}:00:00 UTC",
            "usage_end_time": f"2026-10-30 1{hour + 1}:00:00 UTC",
            "project": {"id": "ml-serving"},
            "location": {"location": "us-central1", "region": "us-central1"},
            "currency": "USD",
            "invoice": {"month": "202610"},
            "cost_type": "regular",
        }
        lines.append(
            {
                **common,
                "sku": {
                    "id": "CUD0-A100-0001",
                    "description": "Commitment v1: Nvidia Tesla A100 GPU in Americas for 1 Year",
                },
                "cost": 1.3,
                "usage": {
                    "amount": 3600,
                    "unit": "seconds",
                    "amount_in_pricing_units": 1.0,
                    "pricing_unit": "hour",
                },
                "credits": [],
            }
        )
        if hour == 2:
            continue
        lines.append(
            {
                **common,
                "sku": {
                    "id": "039F-D0DA-4055",
                    "description": "Nvidia Tesla A100 GPU running in Americas",
                },
                "resource": {"name": "a2-vm-1", "global_name": None},
                "cost": 5.867816,
                "usage": {
                    "amount": 7200,
                    "unit": "seconds",
                    "amount_in_pricing_units": 2.0,
                    "pricing_unit": "hour",
                },
                "credits": [
                    {
                        "name": "Committed use discount: GPU",
                        "amount": -2.933908,
                        "type": "COMMITTED_USAGE_DISCOUNT",
                    }
                ],
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def test_gpu_cud_fee_is_gpu_cost_used_on_the_vm_and_unused_in_the_facts(
    cud_pipeline: Pipeline,
) -> None:
    pipeline = cud_pipeline  # its run passed the dbt conservation tests
    d = Decimal
    # Each running hour: net $2.933908 plus its covered GPU-hour at the commitment's $1.30.
    assert pipeline.query(
        "select hour_start_at, sum(cost_usd) from intermediate.int_gpu_costs_hourly"
        " where provider = 'gcp' group by 1 order by 1"
    ) == [
        (datetime(2026, 10, 30, 10), d("4.2339080000")),
        (datetime(2026, 10, 30, 11), d("4.2339080000")),
    ]
    # Hour 2's fee covered nothing: $1.30 of GPU commitment unused, in the facts.
    assert pipeline.query(
        "select hour_start_at, sum(cost_usd) from marts.fct_cost_per_useful_token"
        " where workload = '(unused commitment)' and resource_id = 'gcp-cud:us-central1:gpu-a100'"
        " group by 1 order by 1"
    ) == [(datetime(2026, 10, 30, 12), d("1.3000000000"))]
    # Everything Google billed for the GPUs is in the facts, to the cent: 2 x 2.933908 + 3.90.
    assert pipeline.query(
        "select sum(cost_usd) from marts.fct_cost_per_useful_token"
        " where resource_id in ('a2-vm-1', 'gcp-cud:us-central1:gpu-a100')"
    ) == [(d("9.7678160000"),)]
    assert pipeline.query(
        "select commitment_id, utilization from marts.fct_commitment_utilization_daily"
        " where provider = 'gcp' order by 1"
    ) == [
        ("gcp-cud:spend-based:CUD0-FEE0-SKU1", pytest.approx(0.8)),
        ("gcp-cud:us-central1:gpu-a100", pytest.approx(2 / 3)),
        ("gcp-cud:us-west1:ram", pytest.approx(0.5)),
    ]
    # Our GCP mapping passes the FinOps validator, fee rows (EffectiveCost 0) and Unused rows
    # included.
    resource = pipeline.resource()
    result = billing_focus_passes_focus_validator(
        dg.build_asset_check_context(), warehouse=resource
    )
    metadata = {k: v.value for k, v in result.metadata.items()}
    verdict = str(metadata["verdict_by_source"])
    assert metadata["sources"] == "aws_cur, gcp_billing"
    assert metadata["sources_failing"] == "none", verdict
    # 9 rows of the GPU and spend-based exports, 5 of test_1_1 (4 + its Unused row).
    assert "- **gcp_billing** (14 rows): pass" in verdict


def test_export_read_straight_from_bigquery_equals_the_exported_file() -> None:
    from pipelines.defs.sources.gcp_billing.load import (
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
        "credits",
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


SPEND_BASED = "\"SkuId\" in ('CP-COMPUTEENGINE-CORE', 'CUD0-FEE0-SKU1')"


def test_spend_based_cud_model_nets_the_fee_to_the_unused_commitment(
    cud_pipeline: Pipeline,
) -> None:
    pipeline = cud_pipeline
    rows = pipeline.query(
        'select "ChargeCategory", "ChargeFrequency", "CommitmentDiscountStatus", "ListCost",'
        ' "BilledCost", "EffectiveCost" from marts.billing_focus'
        f" where x_source_system = 'gcp_billing' and {SPEND_BASED} order by 1 desc, 3"
    )
    d = Decimal
    assert rows == [
        # $2 of the commitment went unused: FOCUS's Unused row carries it as EffectiveCost.
        ("Usage", "Usage-Based", "Unused", d(0), d(0), d("2.0000000000")),
        # Usage at the discounted rate, covered by the commitment.
        ("Usage", "Usage-Based", "Used", d("8.0000000000"), d("8.0000000000"), d("8.0000000000")),
        # $10 fee, $8 offset for the part used: billed $2; a purchase's EffectiveCost is 0.
        ("Purchase", "Recurring", None, d("10.0000000000"), d("2.0000000000"), d(0)),
    ]
    # What the hour cost in all: the commitment, $10.
    assert pipeline.query(
        'select sum("BilledCost") from marts.billing_focus'
        f" where x_source_system = 'gcp_billing' and {SPEND_BASED}"
    ) == [(Decimal("10.0000000000"),)]
