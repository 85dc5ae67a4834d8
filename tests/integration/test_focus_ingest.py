"""FOCUS exports from ../shared/samples through the real pipeline into marts.billing_focus."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from pipelines.defs.serving.checks import billing_focus_passes_focus_validator
from tests.conftest import SAMPLES, Pipeline

pytestmark = pytest.mark.integration
FOCUS = SAMPLES / "focus"
HEADER_3 = (
    (
        FOCUS
        / "spec-examples"
        / "commitment_discount_scenarios"
        / "commitment_discount_usage_scenario_3.csv"
    )
    .read_text()
    .splitlines()[0]
    .split(",")
)


@pytest.fixture(scope="module")
def focus_pipeline(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    base = pipeline_factory(gpus=1, days=1, seed=5)
    pipeline = base.copy_to(tmp_path_factory.mktemp("focus"))
    shutil.copytree(FOCUS, pipeline.landing / "focus")
    # The same rows as CSV.gz and as Parquet (strings, as a CSV-to-Parquet export writes them).
    scenario = FOCUS / "spec-examples" / "commitment_discount_scenarios"
    formats = pipeline.landing / "focus" / "formats"
    formats.mkdir()
    usage_3 = (scenario / "commitment_discount_usage_scenario_3.csv").read_bytes()
    (formats / "usage_scenario_3.csv.gz").write_bytes(gzip.compress(usage_3))
    pq.write_table(
        pacsv.read_csv(
            pa.BufferReader(usage_3),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(HEADER_3, pa.string())),
        ),
        formats / "usage_scenario_3.parquet",
    )
    _write_other_provider_gpu_export(pipeline.landing / "focus" / "multi-cloud" / "gpu.csv")
    # The spec's usage scenarios share one commitment id and name no currency; a copy of each
    # with its own id, in USD, lets their utilization be read side by side.
    golden = pipeline.landing / "focus" / "golden"
    golden.mkdir()
    for n in range(1, 5):
        lines = (scenario / f"commitment_discount_usage_scenario_{n}.csv").read_text().splitlines()
        text = "\n".join(
            [lines[0] + ",BillingCurrency", *(line + ",USD" for line in lines[1:] if line.strip())]
        )
        (golden / f"usage_scenario_{n}.csv").write_text(
            text.replace("<my-commitment-discount-id>", f"scenario-{n}") + "\n"
        )
    (pipeline.landing / "prices").mkdir()
    (pipeline.landing / "prices" / "exchange_rates.csv").write_text(
        "currency,billing_period,usd_per_unit\nEUR,2024-09,1.0825\nNOK,2023-06,0.0931\n"
    )
    pipeline.run()
    return pipeline


# GPU rows of other providers, as their FOCUS 1.2 exports spell them, plus look-alikes that are
# not GPU compute. (resource, provider, description, sku meter, unit, quantity, hours, cost)
OTHER_PROVIDER_ROWS = [
    (
        "vm-nd-1",
        "Microsoft",
        "Virtual Machines NDasrA100 v4 Series - ND96asr A100 v4 - US East",
        "ND96asr A100 v4",
        "1 Hour",
        "24",
        24,
        "658.08",
    ),
    (
        "vm-nc-1",
        "Microsoft",
        "Virtual Machines NCads A100 v4 Series",
        "NC24ads A100 v4",
        "1 Hour",
        "2",
        2,
        "7.35",
    ),
    (
        "projects/p/instances/a2",
        "Google Cloud",
        "Nvidia Tesla A100 GPU running in Americas",
        None,
        "hour",
        "16",
        2,
        "93.88",
    ),
    (
        "ocid1.instance.oc1..x",
        "Oracle",
        "Compute - GPU - BM.GPU.H100.8",
        None,
        "Hour",
        "1",
        1,
        "80.00",
    ),
    ("cw-node-7", "CoreWeave", "HGX H100 SXM5", None, "GPU-Hours", "8", 1, "49.52"),
    # Not GPU compute: an Azure disk, a CoreWeave CPU node, a neocloud row with no GPU unit.
    (
        "disk-1",
        "Microsoft",
        "Premium SSD Managed Disks - P30",
        "P30 LRS Disk",
        "1/Month",
        "1",
        24,
        "5.28",
    ),
    ("cw-cpu-1", "CoreWeave", "AMD Epyc Milan CPU", None, "vCPU-Hours", "32", 1, "0.96"),
    ("cw-node-8", "CoreWeave", "H100 storage volume", None, "GB-Hours", "100", 1, "0.10"),
]
# Billed in euros: converted with prices/exchange_rates.csv (1.0825 USD per EUR in 2024-09).
EURO_ROW = ("vm-nd-eu", "Microsoft", "Virtual Machines NDisrH100 v5 Series",
            "ND96isr H100 v5", "1 Hour", "1", 1, "80.00")  # fmt: skip
OTHER_PROVIDER_GPU_LINES = {
    ("vm-nd-1", "azure", "NVIDIA A100 40GB", 8, 24, Decimal("658.08")),
    ("vm-nc-1", "azure", "NVIDIA A100 80GB PCIe", 1, 2, Decimal("7.35")),
    ("projects/p/instances/a2", "gcp", "NVIDIA A100 40GB", 8, 2, Decimal("93.88")),
    ("ocid1.instance.oc1..x", "oci", "NVIDIA H100 80GB", 8, 1, Decimal("80.00")),
    ("cw-node-7", "neocloud", "NVIDIA H100 80GB", 8, 1, Decimal("49.52")),
    ("vm-nd-eu", "azure", "NVIDIA H100 80GB", 8, 1, Decimal("86.60")),
}


def _write_other_provider_gpu_export(path: Path) -> None:
    path.parent.mkdir(parents=True)
    columns = [
        "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
        "ChargeCategory", "ChargeFrequency", "BilledCost", "EffectiveCost", "ListCost",
        "ContractedCost", "BillingCurrency", "ProviderName", "PublisherName", "InvoiceIssuerName",
        "ResourceId", "ChargeDescription", "SkuMeter", "ConsumedUnit", "ConsumedQuantity",
        "PricingUnit", "PricingQuantity", "ServiceCategory", "ServiceSubcategory",
    ]  # fmt: skip
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in [*OTHER_PROVIDER_ROWS, EURO_ROW]:
            resource, provider, description, meter, unit, quantity, hours, cost = row
            currency = "EUR" if row is EURO_ROW else "USD"
            end = f"2024-09-02T{hours:02d}:00:00Z" if hours < 24 else "2024-09-03T00:00:00Z"
            writer.writerow([
                "2024-09-01T00:00:00Z", "2024-10-01T00:00:00Z", "2024-09-02T00:00:00Z", end,
                "Usage", "Usage-Based", cost, cost, cost, cost, currency, provider, provider,
                provider, resource, description, meter or "NULL", unit, quantity, unit, quantity,
                "Compute", "Virtual Machines",
            ])  # fmt: skip


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
        assert name in loaded or quarantined[name], name
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


D = Decimal
SCENARIOS = "focus/spec-examples/commitment_discount_scenarios/commitment_discount_"


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        # All upfront: the purchase is billed once; its amortized cost lands on usage rows.
        ("purchase_scenario_1", [("Purchase", None, D("8760"), D("0"))]),
        # No upfront: billed hour by hour (the third row's end time is unreadable, quarantined).
        ("purchase_scenario_2", [("Purchase", None, D("1.00"), D("0"))] * 2),
        (
            "purchase_scenario_3",
            [
                ("Purchase", None, D("0.50"), D("0")),
                ("Purchase", None, D("0.50"), D("0")),
                ("Purchase", None, D("4380"), D("0")),
            ],
        ),
        ("usage_scenario_1", [("Usage", "Used", D("0"), D("1.00"))]),
        ("usage_scenario_2", [("Usage", "Unused", D("0"), D("1.00"))]),
        (
            "usage_scenario_3",
            [("Usage", "Unused", D("0"), D("0.25")), ("Usage", "Used", D("0"), D("0.75"))],
        ),
        # Overage beyond the commitment is billed on demand.
        (
            "usage_scenario_4",
            [("Usage", None, D("0.50"), D("0.50")), ("Usage", "Used", D("0"), D("1.00"))],
        ),
    ],
)
def test_spec_commitment_scenarios_are_golden(
    focus_pipeline: Pipeline, scenario: str, expected: list[tuple[object, ...]]
) -> None:
    rows = focus_pipeline.query(
        "select charge_category, commitment_discount_status, billed_cost, effective_cost"
        " from staging.stg_focus__charges where source_file = ?"
        " order by charge_category, commitment_discount_status nulls first, billed_cost",
        [f"{SCENARIOS}{scenario}.csv"],
    )
    assert rows == expected


def test_used_plus_unused_commitment_is_the_hourly_commitment_in_every_usage_scenario(
    focus_pipeline: Pipeline,
) -> None:
    rows = focus_pipeline.query(
        "select source_file, sum(effective_cost) from staging.stg_focus__charges"
        " where source_file like ? and commitment_discount_status is not null group by 1",
        [f"{SCENARIOS}usage_scenario_%"],
    )
    assert sorted(rows) == [
        (f"{SCENARIOS}usage_scenario_{i}.csv", D("1.0000000000")) for i in (1, 2, 3, 4)
    ]


def test_csv_gz_and_parquet_exports_load_like_the_csv(focus_pipeline: Pipeline) -> None:
    totals = focus_pipeline.query(
        "select source_file, count(*), sum(effective_cost) from staging.stg_focus__charges"
        " where source_file like 'focus/formats/%' or source_file = ? group by 1 order by 1",
        [f"{SCENARIOS}usage_scenario_3.csv"],
    )
    assert [(n, cost) for _, n, cost in totals] == [(2, D("1.0000000000"))] * 3


def test_aws_gpu_instance_rows_of_a_focus_export_become_gpu_hour_cost(
    focus_pipeline: Pipeline,
) -> None:
    with (FOCUS / "FOCUS-1.0" / "focus_sample.csv").open(newline="") as handle:
        g5 = [r for r in csv.DictReader(handle) if " g5.4xlarge " in r["ChargeDescription"]]
    assert len(g5) == 8
    rows = focus_pipeline.query(
        "select instance_type, gpu_count, count(*), sum(effective_cost)"
        " from intermediate.int_gpu_billing_lines"
        " where billing_source = 'focus' and provider = 'aws' group by 1, 2"
    )
    assert rows == [
        ("g5.4xlarge", 1, 8, sum((D(r["EffectiveCost"]) for r in g5), D(0)).quantize(D("1E-10")))
    ]
    # No collector reports those instances: their cost is unallocated, and conserved.
    unallocated = focus_pipeline.query(
        "select sum(cost_usd) from marts.fct_cost_per_useful_token"
        " where resource_id in (select resource_id from intermediate.int_gpu_billing_lines"
        " where billing_source = 'focus' and provider = 'aws')"
    )
    assert unallocated == [(rows[0][3],)]


def test_gpu_rows_of_other_providers_focus_exports_become_gpu_hour_cost(
    focus_pipeline: Pipeline,
) -> None:
    rows = focus_pipeline.query(
        "select resource_id, provider, gpu_model, gpu_count, usage_hours, effective_cost"
        " from intermediate.int_gpu_billing_lines"
        " where billing_source = 'focus' and provider <> 'aws'"
    )
    assert {(r[0], r[1], r[2], r[3], r[4], r[5].normalize()) for r in rows} == {
        (*line[:5], line[5].normalize()) for line in OTHER_PROVIDER_GPU_LINES
    }
    # Their whole cost reaches the fact (unallocated: no collector reports those hosts).
    fact = focus_pipeline.query(
        "select sum(cost_usd) from marts.fct_cost_per_useful_token"
        " where resource_id in ('vm-nd-1', 'vm-nc-1', 'projects/p/instances/a2',"
        " 'ocid1.instance.oc1..x', 'cw-node-7', 'vm-nd-eu')"
    )
    assert fact[0][0] == sum((line[5] for line in OTHER_PROVIDER_GPU_LINES), D(0))


def test_a_gpu_line_billed_in_euros_is_converted_with_its_periods_rate(
    focus_pipeline: Pipeline,
) -> None:
    assert focus_pipeline.query(
        "select billed_currency, billed_currency_cost, usd_per_unit, currency_code, effective_cost"
        " from intermediate.int_gpu_billing_lines where resource_id = 'vm-nd-eu'"
    ) == [("EUR", D("80.0000000000"), D("1.0825000000"), "USD", D("86.6000000000"))]
    # marts.billing_focus keeps the billed currency and amount (FOCUS BillingCurrency).
    assert focus_pipeline.query(
        'select "BillingCurrency", "BilledCost" from marts.billing_focus'
        " where \"ResourceId\" = 'vm-nd-eu'"
    ) == [("EUR", D("80.0000000000"))]


def test_validator_verdict_is_given_per_source_system(focus_pipeline: Pipeline) -> None:
    resource = focus_pipeline.resource()
    result = billing_focus_passes_focus_validator(
        dg.build_asset_check_context(), warehouse=resource
    )
    metadata = {k: v.value for k, v in result.metadata.items()}
    verdict = str(metadata["verdict_by_source"])
    assert metadata["sources"] == "aws_cur, focus"
    assert metadata["sources_failing"] == "focus"
    assert not result.passed
    # Our mapping of the CUR passes; the third-party rows keep their exports' own violations
    # (the public sample's marketplace rule, the spec examples' partial columns).
    assert "- **aws_cur** (144 rows): pass; 136 passed, 1 failed" in verdict
    assert "- **focus** (991 rows): 31 rules fail" in verdict
    assert "`BilledCost-C-005-C`: 615 violations" in verdict
    assert "`ProviderName-C-003-M`: 33 violations" in verdict


def test_spec_usage_scenarios_give_their_commitment_utilization(focus_pipeline: Pipeline) -> None:
    rows = focus_pipeline.query(
        "select commitment_id, committed_cost_usd, used_cost_usd, unused_cost_usd, utilization"
        " from marts.fct_commitment_utilization_daily where commitment_id like 'scenario-%'"
        " order by 1"
    )
    # A $1.00/h commitment: 100 % used, 0 % used, 75 % used, 100 % used plus on-demand overage.
    assert rows == [
        ("scenario-1", D("1.0000000000"), D("1.0000000000"), D("0E-10"), 1.0),
        ("scenario-2", D("1.0000000000"), D("0E-10"), D("1.0000000000"), 0.0),
        ("scenario-3", D("1.0000000000"), D("0.7500000000"), D("0.2500000000"), 0.75),
        ("scenario-4", D("1.0000000000"), D("1.0000000000"), D("0E-10"), 1.0),
    ]
    # Not GPU compute: none of it is GPU cost in the facts.
    assert focus_pipeline.query(
        "select count(*) from intermediate.int_cloud_commitment_unused_hourly"
        " where commitment_id like 'scenario-%' and gpu_unused_cost_usd <> 0"
    ) == [(0,)]


def test_quarantine_check_warns_with_the_count_and_reasons(focus_pipeline: Pipeline) -> None:
    from pipelines.defs.serving.health import quarantine_checks

    resource = focus_pipeline.resource()
    focus = dg.AssetKey(["raw", "focus_charges"])
    [check] = [c for c in quarantine_checks if any(k.asset_key == focus for k in c.check_keys)]
    result = check(dg.build_asset_check_context(), warehouse=resource)
    expected = focus_pipeline.query("select count(*) from raw.quarantine where source = 'focus'")[
        0
    ][0]
    metadata = {k: v.value for k, v in result.metadata.items()}
    assert expected > 0
    assert (result.passed, result.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert metadata["quarantined_rows"] == expected
    assert " x " in str(metadata["top_reasons"])
