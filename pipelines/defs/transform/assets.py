import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    INPUT_DATA_VERSION_TAG_PREFIX,
    NULL_DATA_VERSION,
)
from dagster_dbt import DbtCliResource, dbt_assets

from pipelines.defs.transform.project import dbt_project
from pipelines.lib.dbt import PIPELINE_EXCLUDES, GpuledgerTranslator, log_file_args
from pipelines.lib.partitions import daily, monthly, run_per_period, single_run
from pipelines.lib.paths import export_raw_root, warehouse_path
from pipelines.lib.resources import WarehouseResource

FULL_REFRESH_TAG = "gpuledger/full_refresh"

# The bill-line models, built a billing period at a time (dbt's microbatch by month), with the
# staging views and seeds they read: a run of billing_monthly lands a period and builds them.
MONTHLY_MODELS = "tag:monthly"
# The models built a day at a time (dbt's microbatch: dbt_project/macros/batch.sql): telemetry,
# request verdicts, tokens, the hourly GPU and contract costs, their allocation and the facts,
# and the views they read. The other models (bill lines, contracts, prices) are built whole
# before them.
DAILY_MODELS = "tag:daily"
# ... and the tests that read any of them (the cost conservation tests read the bill lines too),
# which run in their build.
DAILY_MODELS_AND_TESTS = "tag:daily+"
# The size of their batches, read by their config (_intermediate.yml): an environment variable,
# as dbt parses again only the files that read one when it changes (a change of --vars parses
# the whole project again).
BATCH_SIZE_ENV = "GPULEDGER_BATCH_SIZE"
# The run's days, [start, end), which the tests of the minute-level views check (their `where`
# config, _staging.yml and _intermediate.yml) rather than the whole history.
RUN_DAYS_ENV = ("GPULEDGER_RUN_DAYS_START", "GPULEDGER_RUN_DAYS_END")
# Their build's dbt target folder, beside the warehouse, and the other models'.
DAILY_TARGET = "dbt-target-daily"
MONTHLY_TARGET = "dbt-target-monthly"
TARGET = "dbt-target"
PARTIAL_PARSE = "partial_parse.msgpack"
# A run of up to this many days builds them a day per batch; a longer run (a first build, a
# backfill) a month per batch, and one of more than MONTH_BATCHES_UP_TO months a year per batch,
# as a batch costs a statement per model whatever it holds (bills of years apart make a first
# build span every month between them).
DAY_BATCHES_UP_TO = 7
MONTH_BATCHES_UP_TO = 13
# The sources a day of those models is built from (raw.landing_log's names).
DAILY_SOURCES = ("nvml", "dcgm_samples", "inference_requests")


@dataclass(frozen=True)
class Batches:
    """What dbt's microbatch builds for a run of daily partitions: from `start` up to `end`
    (--event-time-start, --event-time-end), in batches of `size` ('day' or 'month')."""

    start: str
    end: str
    size: str


def batches(window: dg.TimeWindow) -> Batches:
    """The run's days and one more on either side, whose request verdicts the run's days change
    (a retry logged after midnight supersedes the attempt before it; int_request_exceptions). A
    batch a month (or a year) starts at the first of the month (of the year): dbt truncates the
    start to the batch size."""
    start = (window.start - timedelta(days=1)).date()
    end = (window.end + timedelta(days=1)).date()
    days = (end - start).days
    size = "day" if days <= DAY_BATCHES_UP_TO + 2 else "month"
    if days > MONTH_BATCHES_UP_TO * 31:
        size = "year"
    return Batches(start.isoformat(), end.isoformat(), size)


def _dbt_args(context: dg.AssetExecutionContext) -> list[str]:
    args = ["build", *PIPELINE_EXCLUDES, *log_file_args()]
    if context.run.tags.get(FULL_REFRESH_TAG) == "true":
        args.append("--full-refresh")
    return args


def _target(name: str) -> Path:
    """One target folder per warehouse and build, beside it (dagster-dbt's default is a new
    folder per run under dbt_project/target: 5 MB a run, never removed), with the build's
    run_results.json. dbt keeps its partial-parse state there, valid for this warehouse's
    profile, so a build after the first skips the full parse of the project (seconds); a new
    folder starts from the state of the other build's."""
    export_raw_root()  # where the sources' files are, beside the warehouse
    folder = warehouse_path().parent / name
    state = folder / PARTIAL_PARSE
    if not state.exists():
        parsed = sorted(folder.parent.glob(f"dbt-target*/{PARTIAL_PARSE}"))
        if parsed:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(max(parsed, key=lambda path: path.stat().st_mtime), state)
    return folder


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
    backfill's range in one run): dbt deletes each day and builds it again, then runs the
    tests that read any of them (the cost conservation tests read the bill lines too). If the
    build fails, the days' landings are forgotten, so the next run lands and builds them
    again."""
    run = batches(context.partition_time_window)
    args = [*_dbt_args(context), "--event-time-start", run.start, "--event-time-end", run.end]
    # dbt runs in a process of its own, with this environment.
    os.environ[BATCH_SIZE_ENV] = run.size
    os.environ[RUN_DAYS_ENV[0]], os.environ[RUN_DAYS_ENV[1]] = run.start, run.end
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
    select=MONTHLY_MODELS,
    partitions_def=monthly,
    backfill_policy=run_per_period,
    pool="duckdb",
)
def billing_period_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource
) -> Iterator[Any]:
    """dbt build of the bill-line models for the run's billing period: dbt deletes the period
    and builds it again from the bills as landed. Only the tests that read nothing else run
    here (indirect selection `cautious`); those that read contracts or usage days too run in
    the builds of those."""
    window = context.partition_time_window
    args = [
        *_dbt_args(context),
        *("--indirect-selection", "cautious"),
        *("--event-time-start", window.start.date().isoformat()),
        *("--event-time-end", window.end.date().isoformat()),
    ]
    yield from dbt.cli(args, context=context, target_path=_target(MONTHLY_TARGET)).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=GpuledgerTranslator(),
    exclude=f"{DAILY_MODELS_AND_TESTS} {MONTHLY_MODELS}",
    pool="duckdb",
)
def gpuledger_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """dbt build of every other model (contracts, prices, the commitments and dimensions built
    from them and from the bill lines), less dbt's unit tests (checks of the models' code, which
    CI runs); their tests that read a model built a day at a time run in that build. Skipped
    when none of them is stale (a run that landed telemetry alone)."""
    if context.run.tags.get(FULL_REFRESH_TAG) != "true" and not stale(context):
        context.log.info("no contract, price or bill changed since the last build: skipped")
        return
    target = _target(TARGET)
    yield from dbt.cli(_dbt_args(context), context=context, target_path=target).stream()


def stale(context: dg.AssetExecutionContext) -> bool:
    """Whether any asset of the step is stale, as Dagster's UI would call it: never built,
    built by other code (its code version: the dbt node's checksum), or built from an input
    whose data version is no longer the latest (Dagster records the versions each
    materialization read). The landings of contracts and prices give the hash of their files
    as their data version, so landing the same files again leaves the models fresh; any build
    of a billing period gives the bill lines a new one."""
    instance = context.instance
    code_versions = context.assets_def.code_versions_by_key
    latest: dict[dg.AssetKey, str | None] = {}

    def data_version(key: dg.AssetKey) -> str | None:
        """The latest data version of an input (Dagster's NULL when never materialized here,
        as it records for such an input)."""
        if key not in latest:
            event = instance.get_latest_materialization_event(key)
            materialization = event.asset_materialization if event else None
            latest[key] = (
                (materialization.tags or {}).get(DATA_VERSION_TAG)
                if materialization
                else NULL_DATA_VERSION.value
            )
        return latest[key]

    for key in context.selected_asset_keys:
        event = instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event else None
        if materialization is None or materialization.tags is None:
            return True
        tags = materialization.tags
        if tags.get(CODE_VERSION_TAG) != code_versions.get(key):
            return True
        for tag, version in tags.items():
            if tag.startswith(INPUT_DATA_VERSION_TAG_PREFIX):
                upstream = dg.AssetKey.from_user_string(
                    tag[len(INPUT_DATA_VERSION_TAG_PREFIX) + 1 :]
                )
                current = data_version(upstream)
                # Dagster's own rule: INITIAL read, never materialized since, is unchanged.
                unchanged = (
                    version == DEFAULT_DATA_VERSION.value and current == NULL_DATA_VERSION.value
                )
                if current != version and not unchanged:
                    return True
    return False
