"""contracts/commitments.yaml through the real pipeline: schedules, unused commitment, energy."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.runner import RunFailed
from tests.conftest import Pipeline
from tests.restated_bills import redelivered_data_file

pytestmark = pytest.mark.integration
D = Decimal

CONTRACTS = """\
version: 1
contracts:
  - id: cb-g5
    kind: capacity_block
    description: two g5.xlarge for a week, one of them launched
    instance_type: g5.xlarge
    instance_count: 2
    start: 2026-10-30T00:00:00Z
    end: 2026-11-06T00:00:00Z
    upfront_usd: 168.00
    resource_ids: [{host}]
  - id: cw-h100
    kind: neocloud
    provider: CoreWeave
    gpu_model: NVIDIA H100 80GB
    gpu_count: 8
    start: 2026-01-01
    term_months: 36
    upfront_usd: 10000
    hourly_fee_usd_per_gpu: 2.25
    escalator_per_year: 0.03
    early_termination: {{notice_days: 90, fee_usd: 50000}}
    resource_ids: [cw-node-1]
  - id: rack-a
    kind: owned
    gpu_model: NVIDIA A10G
    gpu_count: 1
    in_service: 2024-02-29
    useful_life_years: 4
    purchase_price_usd: 35040
    power_price_usd_per_kwh: 0.12
    pue: 1.4
    opex_usd_per_month: 744
    resource_ids: [{host}]
  - id: sp-compute
    kind: savings_plan
    provider: aws
    commitment_id: arn:aws:savingsplans::111122223333:savingsplan/none
    start: 2026-01-01
    term_months: 12
    hourly_commitment_usd: 10
"""


@pytest.fixture(scope="module")
def contracts_pipeline(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    pipeline = pipeline_factory(gpus=1, days=1, seed=5).copy_to(  # shared: built once
        tmp_path_factory.mktemp("contracts")
    )
    (host,) = pipeline.query("select distinct cloud_resource_id from raw.nvml_gpu_windows")[0]
    (pipeline.landing / "contracts").mkdir()
    (pipeline.landing / "contracts" / "commitments.yaml").write_text(CONTRACTS.format(host=host))
    pipeline.run()
    return pipeline


def _host(pipeline: Pipeline) -> str:
    return str(pipeline.query("select distinct cloud_resource_id from raw.nvml_gpu_windows")[0][0])


def test_a_three_year_contract_amortizes_to_exactly_its_total_leap_day_included(
    contracts_pipeline: Pipeline,
) -> None:
    hours = {
        year: int((datetime(year + 1, 1, 1, tzinfo=UTC) - datetime(year, 1, 1, tzinfo=UTC))
                  .total_seconds() // 3600)
        for year in (2026, 2027, 2028)
    }  # fmt: skip
    assert hours == {2026: 8760, 2027: 8760, 2028: 8784}
    fee = D("2.25") * 8
    expected = D(10000) + sum(
        (fee * D("1.03") ** k * hours[year] for k, year in enumerate(hours)), D(0)
    )
    (count, total, spread) = contracts_pipeline.query(
        "select count(*), sum(committed_cost_usd), sum(spread_cost_usd)"
        " from intermediate.int_contract_hours where contract_id = 'cw-h100'"
    )[0]
    assert count == sum(hours.values()) == 26304
    assert spread == D(10000)
    assert total == expected == D("497831.4208")


def test_owned_gpus_depreciate_straight_line_over_their_life(contracts_pipeline: Pipeline) -> None:
    count, spread, opex = contracts_pipeline.query(
        "select count(*), sum(spread_cost_usd), sum(fee_cost_usd)"
        " from intermediate.int_contract_hours where contract_id = 'rack-a'"
    )[0]
    # 2024-02-29 + 4 years = 2028-02-29: 1,461 days.
    assert count == 1461 * 24
    assert spread == D(35040)
    # 48 months of opex: the partial Februaries at both ends make one leap February together.
    assert abs(opex - D(744) * 48) < D("0.00001")


def test_capacity_block_half_used_and_an_idle_neocloud_contract_are_unused_commitment(
    contracts_pipeline: Pipeline,
) -> None:
    rows = contracts_pipeline.query(
        "select commitment_id, kind, sum(committed_cost_usd), sum(used_cost_usd),"
        " sum(unused_cost_usd), min(utilization), max(utilization)"
        " from marts.fct_commitment_utilization_daily"
        " where measured_from = 'contract schedule' group by 1, 2 order by 1"
    )
    neocloud_hour = D(18) + (D(10000) / 26304).quantize(D("1E-10"))
    assert rows == [
        # $1/h, one of two instances running every hour of the day.
        ("cb-g5", "capacity_block", D(24), D(12), D(12), 0.5, 0.5),
        ("cw-h100", "neocloud", neocloud_hour * 24, D(0), neocloud_hour * 24, 0.0, 0.0),
    ]
    unused = contracts_pipeline.query(
        "select resource_id, sum(idle_cost_usd) from marts.fct_cost_per_useful_token"
        " where workload = '(unused commitment)' group by 1 order by 1"
    )
    assert unused == [("cb-g5", D(12)), ("cw-h100", neocloud_hour * 24)]


def test_owned_gpu_energy_cost_equals_a_hand_computation_from_the_spool(
    contracts_pipeline: Pipeline,
) -> None:
    host = _host(contracts_pipeline)
    energy_mj = 0
    for path in (contracts_pipeline.landing / "telemetry" / "nvml").rglob("*.parquet"):
        table = pq.read_table(path).to_pylist()
        energy_mj += sum(
            r["energy_mj"] for r in table if r["cloud_resource_id"] == host and r["energy_mj"]
        )
    kwh = D(energy_mj) / D(3_600_000_000)
    assert kwh > D("0.5")  # an A10G at work for a day draws kilowatt-hours, not nothing
    measured = contracts_pipeline.query(
        "select sum(energy_cost_usd), sum(energy_kwh) from intermediate.int_contract_costs_hourly"
        " where contract_id = 'rack-a'"
    )[0]
    assert abs(measured[0] - kwh * D("0.12") * D("1.4")) < D("0.000001")
    assert abs(D(measured[1]) - kwh) < D("0.000001")


def test_energy_per_useful_token_of_an_owned_gpu_equals_a_hand_computation(
    contracts_pipeline: Pipeline,
) -> None:
    """Each GPU-hour's energy goes to the workloads by their busy and held-idle seconds over
    the seconds measured (allocation rule 2, as the cost); priced at the owned rack's power
    price x PUE."""
    hours: dict[tuple[str, object], dict[str, Any]] = defaultdict(
        lambda: {"mj": D(0), "seconds": D(0), "held": defaultdict(D)}
    )
    for path in (contracts_pipeline.landing / "telemetry" / "nvml").rglob("*.parquet"):
        for w in pq.read_table(path).to_pylist():
            hour = hours[(w["gpu_uuid"], w["window_start"].replace(minute=0, second=0))]
            seconds = D((w["window_end"] - w["window_start"]).total_seconds())
            hour["mj"] += D(w["energy_mj"] or 0)
            hour["seconds"] += seconds
            processes = w["processes"] or []
            busy = sum(D(str(p["busy_share"] or 0)) for p in processes)
            memory = sum(D(max(p["memory_used_bytes"] or 0, 0)) for p in processes)
            for p in processes:
                share = D(str(p["busy_share"] or 0))
                held = seconds * share / max(D(1), busy)
                if memory:
                    held += (
                        seconds * (1 - min(D(1), busy)) * max(p["memory_used_bytes"], 0) / memory
                    )
                hour["held"][p["workload"] or "(unlabeled)"] += held
    expected: dict[str, D] = defaultdict(D)
    for hour in hours.values():
        for workload, held in hour["held"].items():
            expected[workload] += hour["mj"] / D(3_600_000_000) * held / hour["seconds"]
    rows = contracts_pipeline.query(
        "select workload, sum(energy_kwh), sum(energy_cost_usd),"
        " bool_and(energy_cost_unknown_reason is null), sum(metered_useful_tokens),"
        " sum(energy_cost_per_million_useful_tokens * metered_useful_tokens / 1000000),"
        " sum(energy_kwh_per_million_useful_tokens * metered_useful_tokens / 1000000)"
        " from marts.fct_workload_unit_cost_daily where cost_bucket = 'workload' group by 1"
    )
    assert {w for w, *_ in rows} == set(expected) == {"chat-assistant"}
    for workload, kwh, cost, priced, tokens, cost_again, kwh_again in rows:
        assert abs(D(kwh) - expected[workload]) < D("0.000001"), workload
        assert priced and abs(cost - expected[workload] * D("0.12") * D("1.4")) < D("0.000001")
        assert tokens > 0 and abs(D(str(cost_again)) - cost) < D("0.000001")
        # Per million metered tokens: the hand-computed energy over the fact's tokens.
        assert abs(D(str(kwh_again)) - expected[workload]) < D("0.000001")


def test_contract_costs_reach_the_host_and_every_dollar_is_conserved(
    contracts_pipeline: Pipeline, tmp_path: Path
) -> None:
    host = _host(contracts_pipeline)
    bill, contract_used = contracts_pipeline.query(
        "select (select sum(effective_cost) from intermediate.int_gpu_billing_lines"
        "        where resource_id = ?),"
        " (select sum(used_cost_usd + energy_cost_usd) from intermediate.int_contract_costs_hourly"
        "        where resource_id = ?)",
        [host, host],
    )[0]
    fact = contracts_pipeline.query(
        "select sum(cost_usd) from marts.fct_cost_per_useful_token where resource_id = ?", [host]
    )[0][0]
    assert abs(fact - (bill + contract_used)) < D("0.000001")
    # Owned: 24 h of depreciation ($35,040 over 35,064 h) and of opex ($744 over October's 744 h).
    owned_fixed = contracts_pipeline.query(
        "select sum(used_cost_usd) from intermediate.int_contract_costs_hourly"
        " where contract_id = 'rack-a'"
    )[0][0]
    assert abs(owned_fixed - (D(35040) / 35064 * 24 + 24)) < D("0.00001")
    # The whole day: bill + contract schedules + energy = Σ fact rows, unused commitment included.
    (total_fact,) = contracts_pipeline.query(
        "select sum(cost_usd) from marts.fct_cost_per_useful_token"
    )[0]
    (bills, scheduled, energy) = contracts_pipeline.query(
        "select (select sum(effective_cost) from intermediate.int_gpu_billing_lines),"
        " (select sum(committed_cost_usd) from intermediate.int_contract_hours"
        "  where cast(hour_start_at as date) = date '2026-10-30'),"
        " (select sum(energy_cost_usd) from intermediate.int_contract_costs_hourly)"
    )[0]
    assert abs(total_fact - (bills + scheduled + energy)) < D("0.000001")
    assert scheduled > D(400)  # the contracts are really in it


def test_savings_plan_listed_in_the_file_is_not_scheduled_twice(
    contracts_pipeline: Pipeline,
) -> None:
    assert contracts_pipeline.query(
        "select count(*) from intermediate.int_contract_hours where contract_id = 'sp-compute'"
    ) == [(0,)]


def test_price_book_override_and_break_even_utilization(
    contracts_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = contracts_pipeline.copy_to(tmp_path)
    (model,) = pipeline.query(
        "select distinct model from marts.fct_workload_unit_cost_daily where model <> '(none)'"
    )[0]
    prices = pipeline.landing / "prices"
    prices.mkdir()
    # A negotiated price in LiteLLM's format, and this fleet's model mapped to it.
    (prices / "negotiated.json").write_text(
        json.dumps(
            {
                "acme/llm-large": {
                    "input_cost_per_token": 1e-06,
                    "output_cost_per_token": 4e-06,
                    "cache_read_input_token_cost": 2.5e-07,
                    "litellm_provider": "acme",
                    "mode": "chat",
                },
                "acme/embedder": {"input_cost_per_token": 1e-08, "mode": "embedding"},
            }
        )
    )
    (prices / "api_equivalents.csv").write_text(f"served_model,api_model\n{model},acme/llm-large\n")
    pipeline.run()
    rows = pipeline.query(
        "select api_model, sum(useful_prompt_tokens), sum(useful_cached_prompt_tokens),"
        " sum(useful_completion_tokens), sum(api_equivalent_cost_usd), sum(cost_usd),"
        " sum(busy_gpu_hours), sum(held_idle_gpu_hours), max(producer_vs_consumer_ratio),"
        " max(break_even_utilization)"
        " from marts.fct_workload_unit_cost_daily where model = ? group by 1",
        [model],
    )
    ((api_model, prompt, cached, completion, api_cost, cost, busy, idle, ratio, even),) = rows
    assert api_model == "acme/llm-large"
    expected_api = (
        (prompt - cached) * D("0.000001") + cached * D("0.00000025") + completion * D("0.000004")
    )
    assert abs(api_cost - expected_api) < D("0.000001")
    assert cached > 0
    assert ratio == pytest.approx(float(cost / api_cost))
    assert even == pytest.approx(busy / (busy + idle) * float(cost / api_cost))


def test_an_api_equivalent_missing_from_the_price_book_names_the_row(
    contracts_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = contracts_pipeline.copy_to(tmp_path)
    before = pipeline.fingerprint()
    (pipeline.landing / "prices").mkdir()
    path = pipeline.landing / "prices" / "api_equivalents.csv"
    path.write_text("served_model,api_model\nsome/model,no-such-api-model\n")
    with pytest.raises(RunFailed) as failure:
        pipeline.run()
    assert f"{path}, row 2, column 'api_model': api_model 'no-such-api-model' is not in the" in str(
        failure.value
    )
    assert pipeline.fingerprint() == before


def test_unused_savings_plan_commitment_is_gpu_cost_by_the_share_it_covered(
    contracts_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = contracts_pipeline.copy_to(tmp_path)
    data_file = redelivered_data_file(
        pipeline.landing, "2026-10", "88888888-8888-8888-8888-888888888888"
    )
    rows = pq.read_table(data_file).to_pylist()
    arn = None
    for row in rows:
        if row["line_item_line_item_type"] == "SavingsPlanRecurringFee":
            arn = row["savings_plan_savings_plan_a_r_n"]
            # A quarter of each hour's commitment went unused.
            row["savings_plan_used_commitment"] = (
                row["savings_plan_total_commitment_to_date"] * 0.75
            )
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(data_file)), data_file)
    pipeline.run()
    total = sum(
        D(str(r["savings_plan_total_commitment_to_date"]))
        for r in rows
        if r["line_item_line_item_type"] == "SavingsPlanRecurringFee"
    )
    # The plan covered only the GPU instance: all of its unused quarter is GPU cost.
    assert pipeline.query(
        "select sum(idle_cost_usd) from marts.fct_cost_per_useful_token"
        " where workload = '(unused commitment)' and resource_id = ?",
        [arn],
    ) == [(total / 4,)]
    utilization = pipeline.query(
        "select min(utilization), max(utilization) from marts.fct_commitment_utilization_daily"
        " where commitment_id = ?",
        [arn],
    )
    assert utilization == [(pytest.approx(0.75), pytest.approx(0.75))]

    # Declared in commitments.yaml with half of it bought for GPUs: that share wins.
    contracts = pipeline.landing / "contracts" / "commitments.yaml"
    contracts.write_text(
        contracts.read_text().replace("arn:aws:savingsplans::111122223333:savingsplan/none", arn)
        + "    gpu_share: 0.5\n"
    )
    pipeline.run()
    assert pipeline.query(
        "select sum(idle_cost_usd) from marts.fct_cost_per_useful_token"
        " where workload = '(unused commitment)' and resource_id = 'sp-compute'"
    ) == [(total / 8,)]
