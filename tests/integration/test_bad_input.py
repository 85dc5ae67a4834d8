"""Bad input fails with the file and column named, and leaves the warehouse exactly as it was."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.lib.paths import DBT_PROJECT_DIR
from pipelines.runner import RunFailed
from tests.conftest import Pipeline
from tests.restated_bills import redelivered_data_file

pytestmark = pytest.mark.integration


def test_truncated_spool_parquet_fails_naming_the_file_and_changes_nothing(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    before = pipeline.fingerprint()
    victim = next(pipeline.landing.glob("telemetry/nvml/host=p4d-001/date=2026-10-31/*.parquet"))
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])

    with pytest.raises(RunFailed) as failure:
        pipeline.run(start=date(2026, 10, 31), end=date(2026, 10, 31))

    message = str(failure.value)
    assert "ingest_daily [2026-10-31]" in message
    assert str(victim) in message
    assert "not a readable Parquet file" in message
    assert pipeline.fingerprint() == before


def test_a_spool_file_landed_twice_under_two_names_is_quarantined_and_changes_no_number(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    costs = (
        "select workload, round(sum(cost_usd), 6) from marts.fct_workload_unit_cost_daily"
        " where usage_date = '2026-10-31' group by 1 order by 1"
    )
    before = pipeline.query(costs)
    files = sorted(pipeline.landing.glob("telemetry/nvml/host=p4d-001/date=2026-10-31/*.parquet"))
    original = files[-1]
    copy = original.with_name(f"zz-copy-{original.name}")
    copy.write_bytes(original.read_bytes())
    windows = pq.read_metadata(original).num_rows

    pipeline.run(start=date(2026, 10, 31), end=date(2026, 10, 31))

    # Every window of the copy is quarantined, naming the file and row it repeats.
    name = original.relative_to(pipeline.landing).as_posix()
    assert pipeline.query(
        "select count(*), min(source_line), max(source_line), min(reason) from raw.quarantine"
        " where source = 'nvml' and partition_key = '2026-10-31'"
        " and source_file like '%zz-copy-%'"
    ) == [(windows, 1, windows, f"window (host, gpu_uuid, window_start) already in {name} row 1")]
    assert pipeline.query(costs) == before


def test_cur_file_missing_a_required_column_fails_naming_file_and_column(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    before = pipeline.fingerprint()
    data_file = redelivered_data_file(
        pipeline.landing, "2026-11", "66666666-6666-6666-6666-666666666666"
    )
    table = pq.read_table(data_file)
    pq.write_table(table.drop(["line_item_unblended_cost"]), data_file)

    with pytest.raises(RunFailed) as failure:
        pipeline.run(start=date(2026, 11, 1), end=date(2026, 11, 1))

    message = str(failure.value)
    assert "billing_monthly [2026-11-01]" in message
    assert str(data_file) in message
    assert "column 'line_item_unblended_cost'" in message
    assert pipeline.fingerprint() == before


def test_invalid_request_log_lines_go_to_quarantine_with_file_line_and_reason(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    log = next(pipeline.landing.glob("inference/requests/date=2026-11-01/*.jsonl"))
    good_lines = log.read_text().splitlines()
    broken = json.loads(good_lines[0])
    del broken["workload"]
    log.write_text(
        "\n".join(
            [
                *good_lines,
                "{not json",
                json.dumps(broken),
                json.dumps({**broken, "workload": "x", "status": "ok"}),
            ]
        )
        + "\n"
    )

    pipeline.run(start=date(2026, 11, 1), end=date(2026, 11, 1))

    rows = pipeline.query(
        "select source_file, source_line, reason from raw.quarantine order by source_line"
    )
    n = len(good_lines)
    name = log.relative_to(pipeline.landing).as_posix()
    assert rows == [
        (name, n + 1, "invalid JSON: Expecting property name enclosed in double quotes"),
        (name, n + 2, "required field missing: workload"),
        (name, n + 3, "status must be an HTTP status code, got 'ok'"),
    ]
    # Everything else of the day still landed, and the totals still match the truth.
    landed = pipeline.query(
        "select count(*) from raw.inference_requests where partition_date = '2026-11-01'"
    )
    assert landed == demo_pipeline.query(
        "select count(*) from raw.inference_requests where partition_date = '2026-11-01'"
    )


def test_gpu_lines_in_a_currency_without_a_rate_stop_the_run_until_the_rate_is_given(
    demo_pipeline: Pipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The failing dbt test stops `gpuledger run` with one message: the test, which marts the
    run rebuilt, that dashboards keep the previous publish whole, and no stack trace."""
    pipeline = demo_pipeline.copy_to(tmp_path)
    data_file = redelivered_data_file(
        pipeline.landing, "2026-11", "77777777-7777-7777-7777-777777777777"
    )
    table = pq.read_table(data_file)
    column = table.schema.get_field_index("line_item_currency_code")
    table = table.set_column(column, "line_item_currency_code", pa.array(["EUR"] * len(table)))
    pq.write_table(table, data_file)
    usd_before = pipeline.query(
        "select sum(effective_cost) from intermediate.int_gpu_billing_lines"
        " where billing_period = '2026-11'"
    )[0][0]

    # The copy has no serving snapshot yet: a publish would write one.
    serving = pipeline.warehouse.parent / "serving" / "gpuledger.duckdb"

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    code = main(["run", "--landing", str(pipeline.landing), "--warehouse", str(pipeline.warehouse)])
    captured = capsys.readouterr()
    printed = " ".join((captured.out + captured.err).split())
    assert code == 1
    assert "assert_gpu_lines_have_an_exchange_rate" in printed
    # The stored failures name the bill file whose lines lack a rate.
    data_name = data_file.relative_to(pipeline.landing).as_posix()
    expected = f"Rows of assert_gpu_lines_have_an_exchange_rate: {data_name}."
    assert "".join(expected.split()) in "".join(printed.split())  # wrapped at the console width
    assert (
        "Dashboards read the serving snapshot and exports, which keep the previous run's marts,"
        " all of them together. In the warehouse itself this run rebuilt" in printed
    )
    # The test failed in the build of days, after the billing run had rebuilt billing_focus:
    # the marts built before the failing test are rebuilt, the facts (read from the GPU lines
    # it checks) still hold the previous run's rows.
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    marts = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and "/marts/" in f"/{node['original_file_path']}"
    }
    said = re.search(r"this run rebuilt (.*?); (.*?) still hold the previous", printed)
    assert said is not None, printed
    rebuilt, stale = (set(part.replace(" ", "").split(",")) for part in said.groups())
    assert rebuilt | stale == marts and not rebuilt & stale
    assert {"billing_focus", "dim_commitment"} <= rebuilt
    assert {"fct_cost_per_useful_token", "fct_workload_unit_cost_daily"} <= stale
    assert "Stack Trace" not in printed and "Traceback" not in printed
    assert not serving.exists()

    (pipeline.landing / "prices").mkdir()
    (pipeline.landing / "prices" / "exchange_rates.csv").write_text(
        "currency,billing_period,usd_per_unit\nEUR,2026-11,1.25\n"
    )
    pipeline.run()
    rows = pipeline.query(
        "select billed_currency, sum(billed_currency_cost), sum(effective_cost)"
        " from intermediate.int_gpu_billing_lines where billing_period = '2026-11' group by 1"
    )
    assert rows == [("EUR", usd_before, usd_before * Decimal("1.25"))]
    # The facts carry the converted cost (plus the contracts' cost that day, in USD): still
    # conserved to the cent.
    fact, contracts = pipeline.query(
        "select (select sum(cost_usd) from marts.fct_cost_per_useful_token"
        "        where hour_start_at >= timestamp '2026-11-01'),"
        " (select sum(committed_cost_usd) filter (where resource_id is null)"
        "         + sum(energy_cost_usd) from intermediate.int_contract_costs_hourly"
        "  where hour_start_at >= timestamp '2026-11-01')"
    )[0]
    assert abs(fact - (usd_before * Decimal("1.25") + contracts)) < Decimal("0.01")
