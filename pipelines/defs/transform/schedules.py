"""Jobs over the one asset graph, and the daily schedule."""

import os
from datetime import timedelta

import dagster as dg

from pipelines.defs.transform.assets import daily_dbt_models
from pipelines.lib.partitions import daily, monthly

# Every step of these jobs writes the one DuckDB file (pool "duckdb", one at a time), so a run
# gains nothing from a process per step and pays each one's start-up (importing dagster, dbt and
# the definitions: several seconds a step). Runs launched from the UI execute their steps in the
# run's own process, as `gpuledger run` does.
EXECUTOR = dg.in_process_executor

billing_job = dg.define_asset_job(
    "billing_monthly",
    executor_def=EXECUTOR,
    selection=dg.AssetSelection.groups("aws_cur", "focus", "gcp_billing"),
    partitions_def=monthly,
    description="Land one billing period from the newest complete delivery.",
)
ingest_job = dg.define_asset_job(
    "ingest_daily",
    executor_def=EXECUTOR,
    selection=dg.AssetSelection.groups("telemetry", "inference")
    | dg.AssetSelection.assets(daily_dbt_models),
    partitions_def=daily,
    description=(
        "Land one day (or a range of days) of NVML telemetry and inference request logs, and "
        "build the models made a day at a time from them."
    ),
)
transform_job = dg.define_asset_job(
    "transform",
    executor_def=EXECUTOR,
    selection=dg.AssetSelection.groups(
        "list_prices",
        "contracts",
        "prices",
        "staging",
        "intermediate",
        "marts",
        "reference",
        "serving",
    )
    - dg.AssetSelection.assets(daily_dbt_models),
    description=(
        "dbt build: staging, intermediate, marts and their tests; then publish the serving "
        "snapshot and Parquet exports."
    ),
)

# UTC, like every timestamp in the warehouse; GPULEDGER_DAILY_CRON moves it.
DAILY_CRON = os.environ.get("GPULEDGER_DAILY_CRON", "0 6 * * *")


def _yesterday(context: dg.ScheduleEvaluationContext) -> str:
    return (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()


@dg.schedule(
    cron_schedule=DAILY_CRON,
    execution_timezone="UTC",
    job=ingest_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day: land yesterday's NVML telemetry and inference request logs.",
)
def daily_ingest(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day_key = _yesterday(context)
    return dg.RunRequest(run_key=f"ingest-{day_key}", partition_key=day_key)


@dg.schedule(
    cron_schedule=DAILY_CRON,
    execution_timezone="UTC",
    job=billing_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Every day: re-land the billing period containing yesterday (AWS restates the "
        "month-to-date bill up to three times a day; the newest complete delivery wins)."
    ),
)
def daily_billing(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day_key = _yesterday(context)
    month_key = day_key[:8] + "01"
    return dg.RunRequest(run_key=f"billing-{month_key}-{day_key}", partition_key=month_key)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[ingest_job, billing_job],
    request_job=transform_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,  # the marts follow a landing within seconds, not half a minute
    description=(
        "After a landing run succeeds, rebuild the dbt models once, then publish the serving "
        "snapshot and exports."
    ),
)
def transform_after_landing(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"transform-after-{context.dagster_run.run_id}")
