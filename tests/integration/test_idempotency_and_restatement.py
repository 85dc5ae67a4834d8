"""Re-running partitions changes nothing; a run builds only what changed, and equals a full
refresh."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import Pipeline

pytestmark = pytest.mark.integration


def test_running_the_same_partitions_twice_gives_identical_warehouse(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    import dagster as dg

    pipeline = demo_pipeline.copy_to(tmp_path)
    before = pipeline.fingerprint()
    # Nothing changed: no bill or day is landed again, and no day built again.
    instance = dg.DagsterInstance.ephemeral()
    summary = pipeline.run(instance=instance)
    assert pipeline.fingerprint() == before
    assert [job for job, _, _ in summary.runs] == ["ingest_reference", "publish"]
    # Each billing period landed and built again by hand, as from the UI, changes nothing.
    from pipelines.definitions import defs

    for period in ("2026-10-01", "2026-11-01"):
        result = (
            defs()
            .resolve_job_def("billing_monthly")
            .execute_in_process(partition_key=period, instance=instance)
        )
        assert result.success
    assert pipeline.fingerprint() == before


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
        ("ingest_reference", None),
        # The days built as one range: a build of one day checks that the bills' periods are
        # conserved, which holds once every day they bill is built.
        ("build_daily", f"{first}...{last}"),
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
    # No bill changed: no billing period is landed or built again.
    assert [(job, key) for job, key, _ in summary.runs] == [
        ("ingest_daily", third),
        ("ingest_reference", None),
        ("build_daily", f"{third}...{third}"),
    ]
    assert pipeline.query(
        "select waste_reason from intermediate.int_requests_classified where request_id = ?",
        [request_id],
    ) == [("superseded_by_retry",)]
    # The minute-level staging tests checked the days built only (their `where` config).
    after = (date.fromisoformat(third) + timedelta(days=2)).isoformat()  # exclusive
    built_days = f">= cast('{second}' as date) and {{}} < cast('{after}' as date)"
    assert _staging_test_days(pipeline) == {
        "stg_nvml__gpu_windows": "partition_date " + built_days.format("partition_date"),
        "stg_inference__requests": "partition_date " + built_days.format("partition_date"),
    }
    # The kept spool days whose check for repeated windows is skipped (their landing found
    # none) are listed for the batch's day only, not for the whole history (macros/spool.sql).
    compiled = pipeline.warehouse.parent / "dbt-target" / "compiled" / "gpuledger"
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
    assert [job for job, _, _ in summary.runs] == ["ingest_reference", "publish"]
    incremental = pipeline.fingerprint()
    pipeline.run(full_refresh=True)
    assert pipeline.fingerprint() == incremental
    assert set(_staging_test_days(pipeline).values()) == {
        f"partition_date >= cast('{(date.fromisoformat(first) - timedelta(days=1))}' as date)"
        f" and partition_date < cast('{after}' as date)"
    }


def test_changed_code_rebuilds_by_full_refresh(demo_pipeline: Pipeline, tmp_path: Path) -> None:
    """Rows built by older code are not kept beside rows built by the new: a run with
    --full-refresh (the documented step after an upgrade) lands and builds every billing period
    and every day again, with the same results as a first build."""
    pipeline = demo_pipeline.copy_to(tmp_path)
    marked = {
        "intermediate.int_billing_lines_amortized": "line_item_description",
        "marts.billing_focus": '"ChargeDescription"',
        "intermediate.int_gpu_hours": "host",
        "marts.fct_gpu_utilization_hourly": "host",
    }
    for table, column in marked.items():
        pipeline.execute(f"update {table} set {column} = 'mark:' || {column}")
    pipeline.run(full_refresh=True)
    for table in marked:
        query = f"select * from {table} order by all"
        assert pipeline.query(query) == demo_pipeline.query(query), table


def _staging_test_days(pipeline: Pipeline) -> dict[str, str]:
    """The day filter each minute-level staging test ran with, read from its compiled SQL."""
    run = pipeline.warehouse.parent / "dbt-target" / "run" / "gpuledger" / "models"
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
