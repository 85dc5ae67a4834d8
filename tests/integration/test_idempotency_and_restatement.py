"""Re-running partitions changes nothing; a restated billing period replaces, never adds."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.conftest import Pipeline

pytestmark = pytest.mark.integration


def test_running_the_same_partitions_twice_gives_identical_warehouse(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    before = pipeline.fingerprint()
    # One bill-line table as a version that kept no fingerprints left it (a table), with a row
    # of a period no bill holds: it is built again whole, and the stale row goes.
    pipeline.execute("drop table intermediate.billing_periods__int_billing_lines_amortized")
    pipeline.execute(
        "insert into intermediate.int_billing_lines_amortized"
        " select * replace ('2020-01' as billing_period)"
        " from intermediate.int_billing_lines_amortized limit 1"
    )
    summary = pipeline.run()
    assert pipeline.fingerprint() == before
    # Nothing changed: the bills landed again hold the same lines on every usage day, so no
    # day is built again; the bill-line models built no period but the one without
    # fingerprints (its own fingerprints came out the same, so nothing downstream of it was
    # built).
    assert [job for job, _, _ in summary.runs] == [
        *["billing_monthly"] * 2,
        "transform",
        "publish",
    ]
    assert _billing_periods_built(pipeline) == {
        model: {"(all)"} if model == "int_billing_lines_amortized" else set()
        for model in BILLING_PERIOD_MODELS
    }


def test_a_three_day_backfill_equals_three_single_day_runs(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    import dagster as dg

    from pipelines.lib.paths import export_environment
    from pipelines.runner import day_ranges, partition_tags, plan, run_config

    # The demo landed its three days as one range run, as a backfill from the UI does.
    todo = plan(demo_pipeline.landing)
    assert day_ranges(todo.days) == [f"{todo.days[0]}...{todo.days[-1]}"]
    assert len(todo.days) == 3
    single = Pipeline(tmp_path / "landing", tmp_path / "gpuledger.duckdb")
    shutil.copytree(demo_pipeline.landing, single.landing)
    export_environment(single.landing, single.warehouse)
    from pipelines.definitions import defs

    definitions = defs()
    instance = dg.DagsterInstance.ephemeral()
    [(first, last)] = demo_pipeline.query(
        "select min(hour_start_at)::date, max(hour_start_at)::date"
        " from intermediate.int_gpu_costs_allocated"
    )
    steps = [
        *(("billing_monthly", f"{period}-01") for period in todo.billing_periods),
        *(("ingest_daily", day) for day in todo.days),  # three single-day runs
        ("transform", None),
        # The days built as one range: a build of one day checks that the bills' periods are
        # conserved, which holds once every day they bill is built.
        ("build_daily", f"{first}...{last}"),
        ("publish", None),
    ]
    for job, partition in steps:
        key, tags = partition_tags(partition)
        result = definitions.resolve_job_def(job).execute_in_process(
            run_config=run_config("WARNING"), partition_key=key, tags=tags, instance=instance
        )
        assert result.success, (job, partition)
    assert single.fingerprint() == demo_pipeline.fingerprint()


def test_a_daily_run_rebuilds_only_the_changed_days_and_equals_a_full_refresh(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    first, second, third = sorted(
        str(d) for (d,) in pipeline.query("select distinct day from intermediate.int_gpu_hours")
    )
    telemetry = ("int_gpu_hours", "int_gpu_seconds_attributed")
    # Mark every built row of the per-day models.
    for table in (*telemetry, "int_tokens_hourly"):
        pipeline.execute(f"update intermediate.{table} set host = 'mark:' || host")
    pipeline.execute(
        "update intermediate.int_request_exceptions set source_file = 'mark:' || source_file"
    )
    # The third day changes: one host's spool file and another host's request log of that day
    # are gone, and a request of the second day is retried after midnight, in a log of the third.
    lost = sorted((pipeline.landing / "telemetry" / "nvml").glob(f"host=*/date={third}/*"))[0]
    lost.unlink()
    lost_log = sorted((pipeline.landing / "inference" / "requests").glob(f"date={third}/*"))[0]
    lost_log.unlink()
    other_log = sorted((pipeline.landing / "inference" / "requests").glob(f"date={third}/*"))[0]
    [(request_id, workload, model)] = pipeline.query(
        "select request_id, workload, model from intermediate.int_requests_classified"
        " where day = ? and host = ? and is_useful order by request_id limit 1",
        [second, other_log.stem],
    )
    retry = {
        "time": f"{third}T00:00:05Z",
        "request_id": f"{request_id}-retry",
        "host": other_log.stem,
        "workload": workload,
        "model": model,
        "status": 200,
        "finish_reason": "stop",
        "attempt": 2,
        "retry_of": request_id,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    }
    with other_log.open("a") as log:
        log.write(json.dumps(retry) + "\n")
    # A run over the three days lands the third only (the others' files are as landed), and
    # builds its per-day models for it and the day on either side (dbt's microbatch, a batch
    # a day: macros/batch.sql).
    summary = pipeline.run(start=date.fromisoformat(first), end=date.fromisoformat(third))
    assert [(job, key) for job, key, _ in summary.runs] == [
        ("billing_monthly", "2026-10-01"),
        ("billing_monthly", "2026-11-01"),
        ("ingest_daily", third),
        ("transform", None),
        ("build_daily", f"{third}...{third}"),
        ("publish", None),
    ]
    assert pipeline.query(
        "select waste_reason from intermediate.int_requests_classified where request_id = ?",
        [request_id],
    ) == [("superseded_by_retry",)]
    # No bill changed: no billing period was built again.
    assert _billing_periods_built(pipeline) == {m: set() for m in BILLING_PERIOD_MODELS}
    # The minute-level staging tests checked the days built only (their `where` config).
    after = (date.fromisoformat(third) + timedelta(days=2)).isoformat()  # exclusive
    built_days = f">= cast('{second}' as date) and {{}} < cast('{after}' as date)"
    assert _staging_test_days(pipeline) == {
        "stg_nvml__gpu_windows": "partition_date " + built_days.format("partition_date"),
        "stg_inference__requests": "partition_date " + built_days.format("partition_date"),
    }
    # The kept spool days whose check for repeated windows is skipped (their landing found
    # none) are listed for the batch's day only, not for the whole history (macros/spool.sql).
    compiled = pipeline.warehouse.parent / "dbt-target-daily" / "compiled" / "gpuledger"
    sql = compiled / "models" / "intermediate" / "gpu" / "int_gpu_hours"
    sql = sql / f"int_gpu_hours_{third}.sql"
    assert f"telemetry_source = 'nvml' and day in (cast('{third}' as date)))" in sql.read_text()
    assert f"cast('{second}' as date)" not in sql.read_text()

    def by_day(table: str, host: str) -> dict[str, tuple[bool, int]]:
        return {
            day: (marked, rows_of_host)
            for day, marked, rows_of_host in pipeline.query(
                f"select day::varchar, bool_and(host like 'mark:%'),"
                f" count(*) filter (where host = '{host}')"
                f" from intermediate.{table} group by 1"
            )
        }

    # The first day is kept as built; the second and third are built again, the third from
    # what is landed now: nothing of the lost host's GPUs, nor of the lost log's requests.
    lost_host = lost.parts[-3].removeprefix("host=")
    for table in telemetry:
        days = by_day(table, lost_host)
        assert (days[first][0], days[second][0], days[third]) == (True, False, (False, 0)), table
    built = dict(
        pipeline.query(
            "select day::varchar, bool_and(source_file like 'mark:%')"
            " from intermediate.int_request_exceptions group by 1"
        )
    )
    assert (built.get(first, True), built[second], built.get(third, False)) == (True, False, False)
    assert pipeline.query(
        "select count(*) from intermediate.int_requests_classified where day = ? and host = ?",
        [third, lost_log.stem],
    ) == [(0,)]
    days = by_day("int_tokens_hourly", lost_log.stem)
    assert (days[first][0], days[second][0], days[third]) == (True, False, (False, 0))
    for table in (*telemetry, "int_tokens_hourly"):
        pipeline.execute(
            f"update intermediate.{table} set host = substr(host, 6) where host like 'mark:%'"
        )
    pipeline.execute(
        "update intermediate.int_request_exceptions"
        " set source_file = substr(source_file, 6) where source_file like 'mark:%'"
    )
    # dim_gpu, built whole after the days, read the first day's marked hosts.
    pipeline.execute("update marts.dim_gpu set host = substr(host, 6) where host like 'mark:%'")
    # The facts of the days built again were built from their rows, which carry no mark. A
    # run of the same days (same files) lands and builds nothing, and equals a full refresh,
    # which lands and builds every day again.
    summary = pipeline.run(start=date.fromisoformat(first), end=date.fromisoformat(third))
    assert [job for job, _, _ in summary.runs] == ["billing_monthly"] * 2 + ["transform", "publish"]
    incremental = pipeline.fingerprint()
    pipeline.run(full_refresh=True)
    assert pipeline.fingerprint() == incremental
    assert set(_staging_test_days(pipeline).values()) == {
        f"partition_date >= cast('{(date.fromisoformat(first) - timedelta(days=1))}' as date)"
        f" and partition_date < cast('{after}' as date)"
    }


def test_a_change_to_a_models_code_or_a_macro_it_calls_rebuilds_what_it_built(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    """Rows built by older code are not kept beside rows built by the new: the bill-line models
    rebuild every period when their SQL, a model upstream of them or a macro of the project they
    call changes (macros/code_version.sql), and only then; the models built a day at a time are
    rebuilt by a run with --full-refresh. Run as a user runs dbt on the project (a copy of it,
    edited), on a warehouse whose built rows are marked."""
    from pipelines.lib.paths import DBT_PROJECT_DIR, dbt_executable

    pipeline = demo_pipeline.copy_to(tmp_path)
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    tables = (
        "intermediate.int_gpu_hours",
        "intermediate.int_gpu_seconds_attributed",
        "intermediate.int_tokens_hourly",
        "marts.fct_gpu_utilization_hourly",
    )

    def rebuilt() -> dict[str, bool]:
        """Per table: whether its rows were built again (none is marked any more)."""
        return {
            table: pipeline.query(
                f"select count(*) filter (where host like 'mark:%') = 0 from {table}"
            )[0][0]
            for table in tables
        }

    def edit(relative: str, macro: str) -> None:
        """A comment added to a macro of the file."""
        path = project / relative
        text = path.read_text()
        opening = re.search(r"\{% macro " + macro + r"\(.*?%\}", text)
        assert opening is not None, macro
        path.write_text(text[: opening.end()] + "{#- edited -#}" + text[opening.end() :])

    def run_models(*models: str) -> None:
        done = subprocess.run(
            [
                *(dbt_executable(), "run", "--select", *models),
                *("--project-dir", str(project), "--profiles-dir", str(project)),
                *("--target-path", str(tmp_path / "target")),
            ],
            cwd=project,
            env={**os.environ, "GPULEDGER_WAREHOUSE": str(pipeline.warehouse.resolve())},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:]

    bill_lines = ("int_billing_lines_amortized", "int_gpu_billing_lines")
    run_models(*bill_lines)  # the same code, from another folder
    assert _billing_periods_built(pipeline, tmp_path / "target", bill_lines) == {
        model: set() for model in bill_lines
    }
    edit("macros/billing_periods.sql", "partition_record_prefix")  # only they call it
    run_models(*bill_lines)
    assert _billing_periods_built(pipeline, tmp_path / "target", bill_lines) == {
        model: {"2026-10", "2026-11"} for model in bill_lines
    }
    # The models built a day at a time are rebuilt by a backfill of their days: a run's
    # --full-refresh lands and builds every day again (a run without one builds the changed
    # days only, and a plain `dbt run` the batch of today).
    for table in tables:
        pipeline.execute(f"update {table} set host = 'mark:' || host")
    edit("macros/spool.sql", "unless_kept_nvml_day_without")
    run_models(*(table.split(".")[1] for table in tables), "int_request_exceptions")
    assert rebuilt() == dict.fromkeys(tables, False)
    pipeline.run(full_refresh=True)
    assert rebuilt() == dict.fromkeys(tables, True)
    for table in tables:
        query = f"select * from {table} order by all"
        assert pipeline.query(query) == demo_pipeline.query(query), table


def test_a_restated_cur_day_rebuilds_that_day_and_prices_every_day(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    """How a change travels: the landing of a bill reports the usage days whose lines changed
    (usage_days_changed, pipelines/lib/changed_days.py), a day of telemetry its own day, a
    price book every day; the run then builds those days, and the day on either side (their
    batches, macros/batch.sql)."""
    import dagster as dg

    pipeline = demo_pipeline.copy_to(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    first, second, third = sorted(
        str(d)
        for (d,) in pipeline.query(
            "select distinct cast(hour_start_at as date) from marts.fct_cost_per_useful_token"
            " where workload not like '(%'"
        )
    )
    cost_before = dict(_cost_by_day_and_kind(pipeline))

    # The bill: October restated, one hour of the first day's savings-plan-covered GPU usage
    # $1.00 dearer, and the plan's fee for that hour $1.00 more used (so $1.00 less unused).
    period_dir = next(pipeline.landing.glob("aws_cur/*/metadata/BILLING_PERIOD=2026-10"))
    restated = _redeliver(
        period_dir,
        sorted(period_dir.iterdir())[-1],
        "20261104T030000Z",
        "55555555-5555-5555-5555-555555555555",
    )
    [data_file] = Path(str(restated).replace("/metadata/", "/data/")).glob("*.parquet")
    _restate_hour(data_file, f"{first} 05", dollars=1.0)
    summary = pipeline.run(instance=instance)
    # The re-delivery changed one day of October's lines: that day is built, not the month.
    assert [(job, key) for job, key, _ in summary.runs] == [
        ("billing_monthly", "2026-10-01"),
        ("billing_monthly", "2026-11-01"),
        ("transform", None),
        ("build_daily", f"{first}...{first}"),
        ("publish", None),
    ]
    october, november = summary.runs[0][2], summary.runs[1][2]
    assert _usage_days_changed(instance, october, "aws_cur_line_items") == [first]
    assert _usage_days_changed(instance, november, "aws_cur_line_items") == []
    # The bill-line models built October's AWS lines again, and nothing of November's; the demo
    # has no GCP export or FOCUS file (their models hold no period).
    aws = {
        "int_billing_lines_amortized",
        "int_billing_focus_from_aws_cur",
        "int_gpu_billing_lines",
        "billing_focus",
    }
    assert _billing_periods_built(pipeline) == {
        model: {"2026-10"} if model in aws else set() for model in BILLING_PERIOD_MODELS
    }
    # The restated dollar moved from unused commitment to the GPUs, and nothing else did.
    cost_after = dict(_cost_by_day_and_kind(pipeline))
    assert cost_after[(first, "gpu")] - cost_before[(first, "gpu")] == Decimal("1")
    assert cost_after[(first, "unused")] - cost_before[(first, "unused")] == Decimal("-1")
    assert {k: v for k, v in cost_after.items() if k[0] != first} == {
        k: v for k, v in cost_before.items() if k[0] != first
    }

    # Telemetry: one host's spool file of the second day is gone; a GPU no bill names reports
    # for the first time on the third day. The run builds the days from the second to the third.
    lost = sorted((pipeline.landing / "telemetry" / "nvml").glob(f"host=*/date={second}/*"))[0]
    lost.unlink()
    _respool(pipeline, third, "p4d-001", host="lab-001", resource="lab-001", uuid="GPU-lab-001")
    summary = pipeline.run()
    assert [(job, key) for job, key, _ in summary.runs][-2:] == [
        ("build_daily", f"{second}...{third}"),
        ("publish", None),
    ]
    assert pipeline.query(
        "select count(*) > 0 from marts.fct_gpu_utilization_hourly where gpu_uuid = 'GPU-lab-001'"
    ) == [(True,)]

    # The price book: a negotiated price for one API model. Prices are read by every day.
    (pipeline.landing / "prices").mkdir(exist_ok=True)
    (pipeline.landing / "prices" / "negotiated.json").write_text(
        json.dumps(
            {
                "gpt-4o-mini": {
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "input_cost_per_token": 1e-7,
                    "output_cost_per_token": 4e-7,
                }
            }
        )
    )
    summary = pipeline.run(instance=instance)
    [transform] = [run_id for job, _, run_id in summary.runs if job == "transform"]
    assert _usage_days_changed(instance, transform, "api_prices") == "every day"
    [every_day] = [key for job, key, _ in summary.runs if job == "build_daily"]
    [(billed_first, billed_last)] = pipeline.query(
        "select min(line_item_usage_start_date)::date::varchar,"
        " (max(line_item_usage_end_date) - interval 1 microsecond)::date::varchar"
        " from raw.aws_cur_line_items"
    )
    assert every_day == f"{min(first, billed_first)}...{max(third, billed_last)}"

    # A billed GPU swapped on the third day: its slot is the new GPU on that day, and the old
    # one on the days before.
    _respool(pipeline, third, "p4d-001", uuid="GPU-ffffffff-swapped", gpu_index=0)
    pipeline.run(start=date.fromisoformat(third), end=date.fromisoformat(third))
    assert pipeline.query(
        "select distinct cast(hour_start_at as date)::varchar"
        " from intermediate.int_gpu_costs_hourly where gpu_uuid = 'GPU-ffffffff-swapped' order by 1"
    ) == [(third,)]

    incremental = pipeline.fingerprint()
    pipeline.run(full_refresh=True)
    assert pipeline.fingerprint() == incremental


def _usage_days_changed(instance: Any, run_id: str, table: str) -> object:
    """What a run's landing of raw.<table> reported as the usage days it changed."""
    import dagster as dg

    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        if materialization is not None and materialization.asset_key.path == ["raw", table]:
            return materialization.metadata["usage_days_changed"].value["days"]
    raise AssertionError(f"run {run_id} landed no raw.{table}")


def _respool(
    pipeline: Pipeline,
    day: str,
    like: str,
    *,
    uuid: str,
    host: str | None = None,
    resource: str | None = None,
    gpu_index: int | None = None,
) -> None:
    """Write a spool file of `day` from host `like`'s: as another host's (`host`, `resource`,
    one GPU `uuid`), or in place with the GPU at `gpu_index` given the id `uuid`."""
    [path] = (pipeline.landing / "telemetry" / "nvml").glob(f"host={like}/date={day}/*.parquet")
    table = pq.read_table(path)
    if host is None:
        index = pc.equal(table["gpu_index"], pa.scalar(gpu_index, table["gpu_index"].type))
        column = pc.if_else(index, pa.scalar(uuid), table["gpu_uuid"])
        table = table.set_column(table.schema.get_field_index("gpu_uuid"), "gpu_uuid", column)
        target = path
    else:
        table = table.filter(pc.equal(table["gpu_index"], 0))
        for name, value in (("host", host), ("cloud_resource_id", resource), ("gpu_uuid", uuid)):
            column = pa.repeat(pa.scalar(value, table.schema.field(name).type), table.num_rows)
            table = table.set_column(table.schema.get_field_index(name), name, column)
        target = path.parents[1].with_name(f"host={host}") / f"date={day}" / f"{host}.parquet"
        target.parent.mkdir(parents=True)
    pq.write_table(table, target)


# The models incremental by billing period (macros/billing_periods.sql), by their compiled SQL's
# path.
BILLING_PERIOD_MODELS = {
    "int_billing_lines_amortized": "intermediate/billing",
    "int_billing_focus_from_aws_cur": "intermediate/billing",
    "int_gcp_billing_rows_amortized": "intermediate/billing",
    "int_billing_focus_from_gcp_billing": "intermediate/billing",
    "int_billing_focus_from_focus_exports": "intermediate/billing",
    "int_gpu_billing_lines": "intermediate/billing",
    "billing_focus": "marts",
}


def _billing_periods_built(
    pipeline: Pipeline, target: Path | None = None, models: tuple[str, ...] | None = None
) -> dict[str, set[str]]:
    """The billing periods each billing-period model built in the last run, read from its
    compiled SQL (its filters hold them as literals: `false` when none, `true` when it was
    built whole, given here as {"(all)"}); `target`: dbt's target folder when it is not the
    pipeline's."""
    target = target or pipeline.warehouse.parent / "dbt-target"
    compiled = target / "compiled" / "gpuledger" / "models"
    built: dict[str, set[str]] = {}
    for model in models or tuple(BILLING_PERIOD_MODELS):
        folder = BILLING_PERIOD_MODELS[model]
        sql = (compiled / folder / f"{model}.sql").read_text()
        lists = re.findall(r"(?:billing_period|invoice_month) in \(([^)]*)\)", sql)
        if not lists and re.search(r"(where|and) true\b", sql):
            built[model] = {"(all)"}
            continue
        assert lists or re.search(r"(where|and) false", sql), sql
        built[model] = {p for found in lists for p in re.findall(r"'(\d{4}-\d{2})'", found)}
    return built


def _cost_by_day_and_kind(pipeline: Pipeline) -> list[tuple[tuple[str, str], Decimal]]:
    """Cost per usage day, on GPUs and as unused commitment, to the cent."""
    return [
        ((str(day), kind), cost)
        for day, kind, cost in pipeline.query(
            "select cast(hour_start_at as date),"
            " case when workload like '%(unused commitment)' then 'unused' else 'gpu' end,"
            " round(sum(cost_usd), 2) from marts.fct_cost_per_useful_token group by 1, 2"
        )
    ]


def _restate_hour(data_file: Path, hour: str, dollars: float) -> None:
    """A CUR 2.0 data file with one hour's covered GPU usage and plan fee dearer."""
    table = pq.read_table(data_file)
    start = pc.cast(table["line_item_usage_start_date"], pa.string())
    at_hour = pc.starts_with(start, hour)
    kind = table["line_item_line_item_type"]
    covered = pc.and_(at_hour, pc.equal(kind, "SavingsPlanCoveredUsage"))
    fee = pc.and_(at_hour, pc.equal(kind, "SavingsPlanRecurringFee"))
    assert pc.sum(covered).as_py() >= 1 and pc.sum(fee).as_py() == 1
    first_covered = pc.equal(pc.cumulative_sum(pc.cast(covered, pa.int64())), 1)
    one_line = pc.and_(covered, first_covered)
    for column, mask in (
        ("savings_plan_savings_plan_effective_cost", one_line),
        ("savings_plan_used_commitment", fee),
    ):
        index = table.schema.get_field_index(column)
        values = table[column]
        table = table.set_column(index, column, pc.if_else(mask, pc.add(values, dollars), values))
    pq.write_table(table, data_file)


def _staging_test_days(pipeline: Pipeline) -> dict[str, str]:
    """The day filter each minute-level staging test ran with, read from its compiled SQL."""
    run = pipeline.warehouse.parent / "dbt-target-daily" / "run" / "gpuledger" / "models"
    run = run / "staging"
    filters = {}
    for model, column in (
        ("stg_nvml__gpu_windows", "gpu_uuid"),
        ("stg_inference__requests", "request_id"),
    ):
        sql = (run / "_staging.yml" / f"not_null_{model}_{column}.sql").read_text()
        found = re.search(rf'"{model}" where (.*?)\) dbt_subquery', sql)
        assert found, sql
        filters[model] = found[1]
    return filters


def _redeliver(period_dir: Path, source: Path, stamp: str, execution_id: str) -> Path:
    """Copy a delivery to a newer execution folder, as AWS's create-new mode lays it out."""
    target = period_dir / f"{stamp}-{execution_id}"
    shutil.copytree(source, target)
    data_period = Path(str(period_dir).replace("/metadata/", "/data/"))
    data_source = data_period / source.name
    shutil.copytree(data_source, data_period / target.name)
    manifest_file = next(target.glob("*Manifest.json"))
    manifest = json.loads(manifest_file.read_text())
    manifest["executionId"] = execution_id
    manifest["dataFiles"] = [u.replace(source.name, target.name) for u in manifest["dataFiles"]]
    manifest_file.write_text(json.dumps(manifest))
    return target


def test_restated_month_delivered_three_times_counts_once(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    period_dir = next(pipeline.landing.glob("aws_cur/*/metadata/BILLING_PERIOD=2026-10"))
    _preliminary, final = sorted(period_dir.iterdir())
    cost_before = pipeline.query("select sum(cost_usd) from marts.fct_cost_per_useful_token")
    lines_before = pipeline.query(
        "select count(*) from raw.aws_cur_line_items where billing_period = '2026-10'"
    )
    # The first delivery was preliminary (4% over the final price, no savings plan): only the
    # final one is in the warehouse.
    assert pipeline.query(
        "select execution_id from raw.aws_cur_deliveries where billing_period = '2026-10'"
    ) == [(final.name.split("-", 1)[1],)]

    _redeliver(period_dir, final, "20261104T030000Z", "33333333-3333-3333-3333-333333333333")
    pipeline.run()

    assert (
        pipeline.query(
            "select count(*) from raw.aws_cur_line_items where billing_period = '2026-10'"
        )
        == lines_before
    )
    assert pipeline.query(
        "select count(distinct execution_id) from raw.aws_cur_line_items"
        " where billing_period = '2026-10'"
    ) == [(1,)]
    assert pipeline.query(
        "select execution_id from raw.aws_cur_deliveries where billing_period = '2026-10'"
    ) == [("33333333-3333-3333-3333-333333333333",)]
    assert (
        pipeline.query("select sum(cost_usd) from marts.fct_cost_per_useful_token") == cost_before
    )


def test_newest_delivery_whose_data_files_have_not_all_arrived_is_not_used(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    period_dir = next(pipeline.landing.glob("aws_cur/*/metadata/BILLING_PERIOD=2026-10"))
    final = sorted(period_dir.iterdir())[-1]
    newer = _redeliver(
        period_dir, final, "20261105T030000Z", "44444444-4444-4444-4444-444444444444"
    )
    manifest_file = next(newer.glob("*Manifest.json"))
    manifest = json.loads(manifest_file.read_text())
    manifest["dataFiles"].append(manifest["dataFiles"][0].replace("00001", "00002"))
    manifest_file.write_text(json.dumps(manifest))

    pipeline.run()

    assert pipeline.query(
        "select execution_id from raw.aws_cur_deliveries where billing_period = '2026-10'"
    ) == [(final.name.split("-", 1)[1],)]
