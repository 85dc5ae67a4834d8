"""Jobs over the one asset graph, and the daily schedule."""

import os
from datetime import timedelta

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from pipelines.defs.serving.checks import billing_focus_passes_focus_validator
from pipelines.defs.sources import discovery
from pipelines.defs.transform.assets import billing_period_dbt_models, daily_dbt_models
from pipelines.lib.partitions import daily, monthly
from pipelines.lib.resources import WarehouseResource

# Every step of these jobs writes the one DuckDB file (pool "duckdb", one at a time), so a run
# gains nothing from a process per step and pays each one's start-up (importing dagster, dbt and
# the definitions: several seconds a step). Runs launched from the UI execute their steps in the
# run's own process, as `gpuledger run` does.
EXECUTOR = dg.in_process_executor

# The FOCUS validator reads every period of billing_focus: once per build of days, not per
# period.
VALIDATOR = dg.AssetSelection.checks(billing_focus_passes_focus_validator)

billing_job = dg.define_asset_job(
    "billing_monthly",
    executor_def=EXECUTOR,
    selection=dg.AssetSelection.groups("aws_cur", "focus", "gcp_billing")
    | dg.AssetSelection.assets(billing_period_dbt_models) - VALIDATOR,
    partitions_def=monthly,
    description=(
        "Land one billing period (or a range of them) from the newest complete delivery of each "
        "bill, and dbt build of the bill-line models for it."
    ),
)
ingest_job = dg.define_asset_job(
    "ingest_daily",
    executor_def=EXECUTOR,
    selection=dg.AssetSelection.groups("telemetry", "inference"),
    partitions_def=daily,
    description="Land one day (or a range of days) of telemetry and inference request logs.",
)
reference_job = dg.define_asset_job(
    "ingest_reference",
    executor_def=EXECUTOR,
    selection=dg.AssetSelection.groups("list_prices", "contracts", "prices", "objectives", "hosts"),
    description=(
        "Land contracts, the API price book, list prices and exchange rates, the service "
        "objectives and the host map (each replaced whole); their landings say whether every day "
        "needs building again."
    ),
)
build_daily_job = dg.define_asset_job(
    "build_daily",
    executor_def=EXECUTOR,
    selection=dg.AssetSelection.assets(daily_dbt_models)
    | dg.AssetSelection.groups("serving")
    | VALIDATOR,
    partitions_def=daily,
    description=(
        "dbt build, for a day or a range of days, of the models built a day at a time "
        "(telemetry, tokens, hourly costs, their allocation and the facts) and of those built "
        "whole (contracts, prices, commitments, dimensions), and of their tests; the FOCUS "
        "validator's check of billing_focus; then publish the serving snapshot and Parquet "
        "exports."
    ),
)
publish_job = dg.define_asset_job(
    "publish",
    executor_def=EXECUTOR,
    selection=dg.AssetSelection.groups("serving"),
    description=(
        "Publish the serving snapshot and the Parquet exports of the marts (after a transform "
        "that changed no day)."
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


# The landing run a transform run follows (its materializations say which days changed).
AFTER_RUN_TAG = "gpuledger/after_run"


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[ingest_job, billing_job],
    request_job=reference_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,  # the marts follow a landing within seconds, not half a minute
    description=(
        "After a landing run succeeds, land contracts and prices (ingest_reference); "
        "build_after_reference then builds the days the landings changed."
    ),
)
def reference_after_landing(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    run_id = context.dagster_run.run_id
    return dg.RunRequest(run_key=f"reference-after-{run_id}", tags={AFTER_RUN_TAG: run_id})


def _materializations(
    instance: dg.DagsterInstance, run_ids: list[str]
) -> list[dg.AssetMaterialization]:
    found = []
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            if entry.asset_materialization is not None:
                found.append(entry.asset_materialization)
    return found


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[reference_job],
    request_jobs=[build_daily_job, publish_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description=(
        "After an ingest_reference run succeeds, build the days its landing run and it changed "
        "(the landings' metadata, usage_days_changed), a run per range, or publish when none "
        "changed."
    ),
)
def build_after_reference(context: dg.RunStatusSensorContext) -> list[dg.RunRequest]:
    run = context.dagster_run
    runs = [run.run_id, *([run.tags[AFTER_RUN_TAG]] if AFTER_RUN_TAG in run.tags else [])]
    warehouse = WarehouseResource.from_environment()
    ranges = discovery.days_to_build(
        _materializations(context.instance, runs),
        warehouse.landing_root,
        warehouse.query_landed,
        instance=context.instance,
    )
    if not ranges:
        return [dg.RunRequest(job_name=publish_job.name, run_key=f"publish-after-{run.run_id}")]
    return [
        dg.RunRequest(
            job_name=build_daily_job.name,
            run_key=f"build-after-{run.run_id}" + (f"-{first}" if len(ranges) > 1 else ""),
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        )
        for first, last in ranges
    ]
