"""The marts against the generator's truth.json, on fleets of several shapes."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import Pipeline

pytestmark = pytest.mark.integration
CENT = Decimal("0.005")


def _truth(pipeline: Pipeline) -> dict:
    return json.loads((pipeline.landing / "truth.json").read_text())


def _assert_matches_truth(pipeline: Pipeline) -> None:
    truth = _truth(pipeline)
    rows = pipeline.query(
        "select cast(usage_date as varchar), workload, sum(cost_usd), sum(attributed_cost_usd),"
        " sum(idle_cost_usd), sum(useful_prompt_tokens), sum(useful_completion_tokens),"
        " sum(cost_usd) * 1000000 / nullif(sum(useful_tokens), 0), sum(api_equivalent_cost_usd),"
        " case when bool_or(goodput_tokens is null) then null else sum(goodput_tokens) end,"
        " max(cost_per_million_goodput_tokens), count(*) filter (where model <> '(none)'),"
        " sum(unmetered_useful_tokens)"
        " from marts.fct_workload_unit_cost_daily"
        " where workload not in ('(unallocated)', '(unused commitment)')"
        " group by 1, 2"
    )
    actual = {(r[0], r[1]): r[2:] for r in rows}
    compared = 0
    assert set(actual) == {(w["date"], w["workload"]) for w in truth["workload_days"]}
    for expected in truth["workload_days"]:
        (
            cost,
            attributed,
            idle,
            prompt,
            completion,
            per_million,
            api_cost,
            goodput,
            per_million_goodput,
            models,
            unmetered,
        ) = actual[(expected["date"], expected["workload"])]
        # Useful tokens served within the demo's objectives (synth.calibration), or unknown.
        assert goodput == expected["goodput_tokens"], expected
        # Their cost per million, where the day's cost sits on one model's row and every token
        # was metered: the truth's cost over the truth's goodput.
        if models == 1 and unmetered == 0:
            compared += 1
            if expected["goodput_tokens"]:
                truth = Decimal(expected["cost_usd"]) * 1_000_000 / expected["goodput_tokens"]
                assert abs(per_million_goodput - truth) < CENT, expected
            else:
                assert per_million_goodput is None, expected
        # The same useful tokens at the API equivalent's price (bundled LiteLLM-format book).
        assert abs(api_cost - Decimal(expected["api_equivalent_cost_usd"])) < CENT, expected
        assert abs(cost - Decimal(expected["cost_usd"])) < CENT, expected
        assert abs(attributed - Decimal(expected["attributed_cost_usd"])) < CENT, expected
        assert abs(idle - Decimal(expected["idle_cost_usd"])) < CENT, expected
        assert prompt == expected["useful_prompt_tokens"], expected
        assert completion == expected["useful_completion_tokens"], expected
        if expected["cost_per_million_useful_tokens"] is None:
            assert per_million is None
        else:
            assert (
                abs(Decimal(str(per_million)) - Decimal(expected["cost_per_million_useful_tokens"]))
                < CENT
            )
    assert compared, "no workload-day had its goodput priced on one model's row"


def test_demo_fleet_unit_costs_equal_truth_to_the_cent_and_tokens_exactly(
    demo_pipeline: Pipeline,
) -> None:
    _assert_matches_truth(demo_pipeline)


def test_small_single_gpu_fleet_across_a_month_boundary_equals_truth(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    # Four one-GPU hosts: one workload, two workloads sharing one GPU, an idle host and a
    # workload whose requests all fail.
    pipeline = pipeline_factory(gpus=4, days=2, seed=11, start=date(2026, 3, 31))
    _assert_matches_truth(pipeline)
    shared = pipeline.query(
        "select count(distinct workload) from marts.fct_cost_per_useful_token"
        " where host = 'g5-001' and workload <> '(unallocated)'"
    )
    assert shared == [(2,)]


def test_a_first_build_of_more_than_a_week_equals_truth_in_year_and_in_month_batches(
    pipeline_factory: Callable[..., Pipeline], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nine days across a month boundary: the first build's microbatch models are built a year
    # per batch (a small fleet: its year holds few rows), not a day per batch; rebuilt as a fleet
    # too large for that, a month per batch (two batches, March and April). Both equal truth.
    pipeline = pipeline_factory(gpus=2, days=9, seed=5, start=date(2026, 3, 27))
    _assert_matches_truth(pipeline)
    assert _batches_of_int_gpu_hours(pipeline) == ["int_gpu_hours_2026.sql"]

    monthly = pipeline.copy_to(tmp_path)
    monkeypatch.setattr("pipelines.defs.transform.assets.YEAR_BATCH_ROWS", 0)
    monthly.run(full_refresh=True)
    _assert_matches_truth(monthly)
    assert _batches_of_int_gpu_hours(monthly) == [
        "int_gpu_hours_2026-03.sql",
        "int_gpu_hours_2026-04.sql",
    ]


def _batches_of_int_gpu_hours(pipeline: Pipeline) -> list[str]:
    """The batches of int_gpu_hours dbt compiled in the pipeline's last build of days."""
    compiled = pipeline.warehouse.parent / "dbt-target" / "compiled" / "gpuledger"
    batches = compiled / "models" / "intermediate" / "gpu" / "int_gpu_hours"
    return sorted(p.name for p in batches.glob("*.sql"))


def test_workload_whose_requests_all_fail_has_cost_but_no_useful_tokens(
    demo_pipeline: Pipeline,
) -> None:
    rows = demo_pipeline.query(
        "select sum(cost_usd), sum(useful_tokens), sum(wasted_tokens), sum(wasted_requests),"
        " max(cost_per_million_useful_tokens)"
        " from marts.fct_workload_unit_cost_daily where workload = 'translate-canary'"
    )
    cost, useful, wasted, wasted_requests, per_million = rows[0]
    assert cost > 0
    assert useful == 0
    assert wasted > 0
    assert wasted_requests > 0
    assert per_million is None


def test_workload_dimension_has_the_logged_requests_models_and_times(
    demo_pipeline: Pipeline,
) -> None:
    """dim_workload's request columns (read from int_tokens_hourly's hourly first and last
    times) against the log files themselves, read here with json: every landed line counts,
    copies and wasted attempts too."""
    quarantined = set(demo_pipeline.query("select source_file, source_line from raw.quarantine"))
    models: dict[str, set[str]] = defaultdict(set)
    times: dict[str, list[datetime]] = defaultdict(list)
    for log in sorted((demo_pipeline.landing / "inference" / "requests").rglob("*.jsonl")):
        name = log.relative_to(demo_pipeline.landing).as_posix()
        for number, line in enumerate(log.read_text().splitlines(), start=1):
            if not line.strip() or (name, number) in quarantined:
                continue
            record = json.loads(line)
            at = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
            models[record["workload"]].add(record["model"])
            times[record["workload"]].append(at.astimezone(UTC).replace(tzinfo=None))
    expected = {
        workload: (len(models[workload]), max(models[workload]), min(at), max(at))
        for workload, at in times.items()
    }
    rows = demo_pipeline.query(
        "select workload, models_served, model, first_request_at, last_request_at"
        " from marts.dim_workload where models_served > 0"
    )
    assert len(expected) >= 4
    assert {r[0]: tuple(r[1:]) for r in rows} == expected


def test_owned_host_with_no_workload_is_unallocated_at_its_full_cost(
    demo_pipeline: Pipeline,
) -> None:
    # g5-002 is owned and runs no workload: every hour of its A10G is unallocated, at
    # depreciation ($11,000 over 4 years from 2025-03-01: 35,064 h) + opex ($200 a month over
    # the month's hours) + measured energy x $0.12/kWh x PUE 1.3.
    rows = demo_pipeline.query(
        "select workload, count(*), sum(cost_usd) from marts.fct_cost_per_useful_token"
        " where host = 'g5-002' group by 1"
    )
    (energy_mj,) = demo_pipeline.query(
        "select sum(energy_mj) from raw.nvml_gpu_windows where host = 'g5-002'"
    )[0]
    hours_by_month = {"2026-10": 48, "2026-11": 24}  # 2026-10-30 .. 2026-11-01
    expected = (
        Decimal(11000) / 35064 * 72
        + Decimal(200) / 744 * hours_by_month["2026-10"]
        + Decimal(200) / 720 * hours_by_month["2026-11"]
        + Decimal(energy_mj) / 3_600_000_000 * Decimal("0.12") * Decimal("1.3")
    )
    assert [r[:2] for r in rows] == [("(unallocated)", 72)]
    assert abs(rows[0][2] - expected) < Decimal("0.000001")


def test_two_workloads_sharing_a_gpu_split_its_hour_by_busy_time(demo_pipeline: Pipeline) -> None:
    rows = demo_pipeline.query(
        "select workload, sum(busy_gpu_hours), sum(attributed_cost_usd)"
        " from marts.fct_cost_per_useful_token"
        " where host = 'p4d-001' and gpu_uuid in ("
        "   select gpu_uuid from marts.fct_cost_per_useful_token"
        "   where workload = 'doc-summarize')"
        " group by 1 order by 1"
    )
    by_workload = {r[0]: r for r in rows}
    assert set(by_workload) == {"(unallocated)", "code-complete", "doc-summarize"}
    # Attributed cost is proportional to busy time at the same $/GPU-hour: p4d-001 runs in a
    # two-instance Capacity Block at $18.666 per instance-hour (0.85 x on-demand), so each of
    # its 8 GPUs costs 18.666 / 8 per hour (the other instance's half is unused commitment).
    for name in ("code-complete", "doc-summarize"):
        _, busy_hours, attributed = by_workload[name]
        assert abs(float(attributed) - busy_hours * 18.666 / 8) < 0.01


def test_daily_allocation_conserves_the_bills_gpu_cost_to_the_cent(
    demo_pipeline: Pipeline,
) -> None:
    # The bill side straight from the final CUR deliveries' Parquet, in Python.
    billed: dict[str, Decimal] = defaultdict(Decimal)
    for manifest_path in sorted(demo_pipeline.landing.glob("aws_cur/*/metadata/*/*/*.json")):
        manifest = json.loads(manifest_path.read_text())
        period_deliveries = sorted(manifest_path.parent.parent.iterdir())
        if manifest_path.parent != period_deliveries[-1]:
            continue  # superseded by a restatement
        for uri in manifest["dataFiles"]:
            data = demo_pipeline.landing / "aws_cur" / uri.split("/cur/", 1)[1]
            for line in pq.read_table(data).to_pylist():
                if "BoxUsage:" not in line["line_item_usage_type"]:
                    continue
                if line["product_instance_type"] == "c5.2xlarge":
                    continue
                kind = line["line_item_line_item_type"]
                if kind == "Usage":
                    cost = line["line_item_unblended_cost"]
                elif kind == "SavingsPlanCoveredUsage":
                    cost = line["savings_plan_savings_plan_effective_cost"]
                else:
                    continue
                billed[line["line_item_usage_start_date"].date().isoformat()] += Decimal(str(cost))
    allocated = dict(
        demo_pipeline.query(
            "select cast(cast(hour_start_at as date) as varchar), sum(cost_usd)"
            " from marts.fct_cost_per_useful_token group by 1"
        )
    )
    truth = {d["date"]: d for d in _truth(demo_pipeline)["daily"]}
    assert set(allocated) == set(billed) == set(truth)
    contracted = dict(
        demo_pipeline.query(
            "select cast(cast(hour_start_at as date) as varchar),"
            " sum(committed_cost_usd) filter (where resource_id is null) + sum(energy_cost_usd)"
            " from intermediate.int_contract_costs_hourly group by 1"
        )
    )
    for day, bill in billed.items():
        # The AWS bill's GPU cost, as the generator billed it.
        assert abs(Decimal(truth[day]["aws_billed_gpu_cost_usd"]) - bill) < CENT
        # Allocated = the bill + the contracts' schedules (Capacity Block, neocloud, owned
        # with its energy), unused commitment included; both equal the generator's truth.
        assert abs(allocated[day] - (bill + contracted[day])) < CENT
        assert abs(Decimal(truth[day]["gpu_cost_usd"]) - allocated[day]) < CENT
    unallocated = dict(
        demo_pipeline.query(
            "select cast(usage_date as varchar), cost_usd from marts.fct_workload_unit_cost_daily"
            " where workload = '(unallocated)'"
        )
    )
    unused = dict(
        demo_pipeline.query(
            "select cast(usage_date as varchar), cost_usd from marts.fct_workload_unit_cost_daily"
            " where workload = '(unused commitment)'"
        )
    )
    for day, expected in truth.items():
        assert abs(unallocated[day] - Decimal(expected["unallocated_cost_usd"])) < CENT
        assert abs(unused[day] - Decimal(expected["unused_commitment_usd"])) < CENT
        assert Decimal(expected["unused_commitment_usd"]) > 400  # half a p4d block, a day


def test_non_gpu_lines_on_the_bill_are_not_gpu_cost(demo_pipeline: Pipeline) -> None:
    rows = demo_pipeline.query(
        "select usage_type, bool_or(is_gpu_compute) from intermediate.int_billing_lines_amortized"
        " group by 1 order by 1"
    )
    flags = dict(rows)
    assert flags["USE1-BoxUsage:c5.2xlarge"] is False
    assert flags["USE1-EBS:VolumeUsage.gp3"] is False
    assert flags["USE1-DataTransfer-Out-Bytes"] is False
    assert flags["USE1-BoxUsage:p5.48xlarge"] is True


def test_utilization_hourly_reports_source_coverage_and_energy(demo_pipeline: Pipeline) -> None:
    rows = demo_pipeline.query(
        "select host, util_source, bool_or(util_is_upper_bound), min(coverage), max(coverage)"
        " from marts.fct_gpu_utilization_hourly group by 1, 2 order by 1"
    )
    assert rows == [
        ("g5-002", "nvml_utilization_gpu", True, 1.0, 1.0),
        ("g5-003", "nvml_utilization_gpu", True, 1.0, 1.0),
        ("p4d-001", "graphics_engine_activity", False, 1.0, 1.0),
        # The first host's collector was down 10:00-10:30 on day one for GPU 0.
        ("p5-000", "gpm_sm_util", False, 0.5, 1.0),
    ]
    # An idle A10G draws 25 W: 0.025 kWh per fully covered hour.
    idle = demo_pipeline.query(
        "select min(energy_kwh), max(energy_kwh) from marts.fct_gpu_utilization_hourly"
        " where host = 'g5-002'"
    )
    assert idle == [(pytest.approx(0.025), pytest.approx(0.025))]


def test_telemetry_coverage_check_lists_the_gpu_hours_measured_too_little(
    demo_pipeline: Pipeline,
) -> None:
    import dagster as dg

    from pipelines.defs.serving.health import MIN_COVERAGE, telemetry_coverage

    resource = demo_pipeline.resource()
    with resource.connect() as conn:
        result = telemetry_coverage(conn)
    low, total = demo_pipeline.query(
        "select count(*) filter (where coverage < ?), count(*)"
        " from marts.fct_gpu_utilization_hourly",
        [MIN_COVERAGE],
    )[0]
    metadata = {k: v.value for k, v in result.metadata.items()}
    assert (metadata["gpu_hours"], metadata["gpu_hours_below_coverage"]) == (total, low)
    assert result.passed == (low == 0)
    assert result.severity == dg.AssetCheckSeverity.WARN


def test_the_demo_summary_fits_80_columns_with_every_figure_whole(
    demo_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    from pipelines import cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(width=80, file=screen))
    cli.print_summary(demo_pipeline.warehouse)
    lines = screen.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert not any("…" in line for line in lines)
    printed = " ".join(screen.getvalue().split())
    rows = demo_pipeline.query(
        "select workload, sum(cost_usd), sum(useful_tokens), sum(wasted_tokens)"
        " from marts.fct_workload_unit_cost_daily group by 1"
    )
    assert len(rows) == 7
    for workload, cost, useful, wasted in rows:
        # The cost table's row of the workload holds its figures whole.
        figures = (f"${float(cost):,.2f}", f"{int(useful):,}", f"{int(wasted):,}")
        assert any(
            line.startswith(f" {workload} ") and all(f in line.split() for f in figures)
            for line in lines
        ), (workload, figures)
    useful = sum(w["useful_tokens"] for w in _truth(demo_pipeline)["workload_days"])
    assert f"tokens: {useful:,} useful" in printed


def test_a_workload_serving_two_models_has_its_cost_split_alike_in_both_facts(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    """Allocation rule 6 is worked out once (int_workload_model_costs_hourly): a workload that
    serves a second model in the even hours of a day has, in the daily fact, per model the
    hourly fact's cost of that model plus its share (by metered useful tokens) of the GPU time
    held in hours it served no request; per workload and day both facts carry the same cost."""
    pipeline = demo_pipeline.copy_to(tmp_path)
    day = "2026-10-30"
    workload, second = "code-complete", "second-model"
    for path in (pipeline.landing / "inference" / "requests" / f"date={day}").glob("*.jsonl"):
        lines = []
        for line in path.read_text().splitlines():
            request = json.loads(line)
            if request["workload"] == workload and int(request["time"][11:13]) % 2 == 0:
                request["model"] = second
            lines.append(json.dumps(request))
        path.write_text("\n".join(lines) + "\n")
    pipeline.run()

    daily = dict(
        (model, (cost, tokens))
        for model, cost, tokens in pipeline.query(
            "select model, cost_usd, metered_useful_tokens from marts.fct_workload_unit_cost_daily"
            " where usage_date = ? and workload = ?",
            [date.fromisoformat(day), workload],
        )
    )
    assert set(daily) == {"Qwen/Qwen2.5-Coder-7B-Instruct", second}
    hourly = dict(
        (model, cost)
        for model, cost in pipeline.query(
            "select model, sum(cost_usd) from marts.fct_cost_per_useful_token"
            " where cast(hour_start_at as date) = ? and workload = ? group by model",
            [date.fromisoformat(day), workload],
        )
    )
    metered = sum(tokens for _, tokens in daily.values())
    assert metered > 0 and all(tokens > 0 for _, tokens in daily.values())
    unserved = hourly.get(None, Decimal(0))
    for model, (cost, tokens) in daily.items():
        expected = hourly[model] + unserved * Decimal(tokens) / Decimal(metered)
        assert abs(cost - expected) < Decimal("0.000001"), model
    assert abs(sum(cost for cost, _ in daily.values()) - sum(hourly.values())) < Decimal("0.000001")
