from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from pipelines.defs.transform.project import dbt_project
from pipelines.lib.dbt import PIPELINE_EXCLUDES, GpuledgerTranslator, log_file_args
from pipelines.lib.partitions import daily, single_run
from pipelines.lib.paths import export_raw_root, warehouse_path
from pipelines.lib.resources import WarehouseResource

FULL_REFRESH_TAG = "gpuledger/full_refresh"

# The models built a day at a time (dbt's microbatch, one batch a day: dbt_project/macros/
# batch.sql): the per-window telemetry and the request verdicts, and the views they read.
DAILY_MODELS = "tag:daily"
# Their build's dbt target folder, beside the warehouse, and the other models'.
DAILY_TARGET = "dbt-target-daily"
TARGET = "dbt-target"
# The sources a day of those models is built from (raw.landing_log's names).
DAILY_SOURCES = ("nvml", "dcgm_samples", "inference_requests")


def batch_window(window: dg.TimeWindow) -> tuple[str, str]:
    """dbt's --event-time-start and --event-time-end for a run of daily partitions: its days,
    and one more on either side, whose request verdicts the run's days change (a retry logged
    after midnight supersedes the attempt before it; int_request_exceptions)."""
    start = (window.start - timedelta(days=1)).date().isoformat()
    end = (window.end + timedelta(days=1)).date().isoformat()
    return start, end


def _dbt_args(context: dg.AssetExecutionContext) -> list[str]:
    args = ["build", *PIPELINE_EXCLUDES, *log_file_args()]
    if context.run.tags.get(FULL_REFRESH_TAG) == "true":
        args.append("--full-refresh")
    return args


def _target(name: str) -> Path:
    # One target folder per warehouse and build, beside it (dagster-dbt's default is a new folder
    # per run under dbt_project/target: 5 MB a run, never removed). dbt keeps its partial-parse
    # state there, valid for this warehouse's profile, so a run after the first skips the full
    # parse, and the build's run_results.json.
    export_raw_root()  # where the sources' files are, beside the warehouse
    return warehouse_path().parent / name


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=GpuledgerTranslator(),
    select=DAILY_MODELS,
    partitions_def=daily,
    backfill_policy=single_run,
    pool="duckdb",
)
def daily_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """dbt build of the models built a day at a time, for the run's days (a partition, or a
    backfill's range in one run): dbt deletes each day and builds it again. If the build
    fails, the days' landings are forgotten, so the next run lands and builds them again."""
    start, end = batch_window(context.partition_time_window)
    args = [*_dbt_args(context), "--event-time-start", start, "--event-time-end", end]
    # Tests of these models alone: a test that also reads other models (the cost conservation
    # tests) runs in the build of those.
    args += ["--indirect-selection", "cautious"]
    try:
        yield from dbt.cli(args, context=context, target_path=_target(DAILY_TARGET)).stream()
    except Exception:
        window = context.partition_time_window
        warehouse.forget_landings(DAILY_SOURCES, window.start.date(), window.end.date())
        raise


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=GpuledgerTranslator(),
    exclude=DAILY_MODELS,
    pool="duckdb",
)
def gpuledger_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """dbt build of every other model, less dbt's unit tests (checks of the models' code, which
    CI runs). The cost facts are incremental by day; a run tagged gpuledger/full_refresh=true
    (`gpuledger run --full-refresh`, or the tag on a run launched from the UI) rebuilds them
    whole."""
    target = _target(TARGET)
    yield from dbt.cli(_dbt_args(context), context=context, target_path=target).stream()
