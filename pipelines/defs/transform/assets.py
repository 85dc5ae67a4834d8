import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from pipelines.defs.sources import discovery
from pipelines.defs.transform.project import dbt_project
from pipelines.lib.dbt import PIPELINE_EXCLUDES, GpuledgerTranslator, log_file_args
from pipelines.lib.partitions import daily, monthly, single_run
from pipelines.lib.paths import export_raw_root, warehouse_path
from pipelines.lib.resources import WarehouseResource

FULL_REFRESH_TAG = "gpuledger/full_refresh"

# The bill-line models, built a billing period at a time (dbt's microbatch by month), with the
# staging views and seeds they read: a run of billing_monthly lands its periods and builds them.
MONTHLY_MODELS = "tag:monthly"
# Every other model (dbt tag `daily`) is built by the build of days: a day at a time by dbt's
# microbatch (dbt_project/macros/batch.sql: telemetry, request verdicts, tokens, the hourly GPU
# and contract costs, their allocation and the facts), or whole (contracts, prices,
# commitments, dimensions), with every test that reads any of them (dbt's eager indirect
# selection: the tests that read bill lines too).
DAILY_MODELS = "tag:daily"
# The size of their batches, read by their config (_intermediate.yml): an environment variable,
# as dbt parses again only the files that read one when it changes (a change of --vars parses
# the whole project again).
BATCH_SIZE_ENV = "GPULEDGER_BATCH_SIZE"
# The run's days, [start, end), which the tests of the minute-level views check (their `where`
# config, _staging.yml and _intermediate.yml) rather than the whole history.
RUN_DAYS_ENV = ("GPULEDGER_RUN_DAYS_START", "GPULEDGER_RUN_DAYS_END")
# The builds' dbt target folders, beside the warehouse.
TARGET = "dbt-target"
MONTHLY_TARGET = "dbt-target-monthly"
PARTIAL_PARSE = "partial_parse.msgpack"
# A run of up to this many days builds them a day per batch; a longer run (a first build, a
# backfill) a month per batch, or a year per batch where the years it spans hold at most
# YEAR_BATCH_ROWS rows of telemetry and request logs (a small fleet's history, bills years
# apart): a batch costs a statement per model whatever it holds, and a year of a large fleet in
# one batch would not fit in memory.
DAY_BATCHES_UP_TO = 7
YEAR_BATCH_ROWS = int(os.environ.get("GPULEDGER_YEAR_BATCH_ROWS", "5000000"))
# The sources a day of those models is built from (raw.landing_log's names).
DAILY_SOURCES = ("nvml", "dcgm_samples", "inference_requests")
# The rows their raw tables hold on some days (raw.partitions counts them per day).
ROWS_OF_DAYS = (
    "select coalesce(sum(rows), 0) from raw.partitions where table_name in (select unnest(?))"
    " and partition_key >= ? and partition_key < ?"
)


@dataclass(frozen=True)
class Batches:
    """What dbt's microbatch builds for a run of daily partitions: from `start` up to `end`
    (--event-time-start, --event-time-end), in batches of `size` ('day', 'month' or 'year')."""

    start: str
    end: str
    size: str


def batches(window: dg.TimeWindow, rows: Callable[[date, date], int]) -> Batches:
    """The run's days and one more on either side, whose request verdicts the run's days change
    (a retry logged after midnight supersedes the attempt before it; int_request_exceptions). A
    batch a month (or a year) starts at the first of the month (of the year): dbt truncates the
    start to the batch size, so a batch of a year builds every day of it. ``rows(first, end)``:
    the rows of telemetry and request logs landed on the days [first, end)."""
    start = (window.start - timedelta(days=1)).date()
    end = (window.end + timedelta(days=1)).date()
    if (end - start).days <= DAY_BATCHES_UP_TO + 2:
        return Batches(start.isoformat(), end.isoformat(), "day")
    years = (date(start.year, 1, 1), date((end - timedelta(days=1)).year + 1, 1, 1))
    size = "year" if rows(*years) <= YEAR_BATCH_ROWS else "month"
    return Batches(start.isoformat(), end.isoformat(), size)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in the environment while dbt's process starts (dagster-dbt gives it this
    process's environment), then the environment as it was: nothing of one run's build is left
    for the next run in the same process (`gpuledger run`, the tests)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


class DailyTranslator(GpuledgerTranslator):
    """The models built a day at a time (dbt's microbatch) are Dagster's daily partitions; the
    views and the tables built whole in the same build (contracts, prices, commitments,
    dimensions) are unpartitioned assets: a run of a year records one materialization of each,
    not one a day."""

    def get_partitions_def(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.PartitionsDefinition | None:
        config = dbt_resource_props.get("config", {})
        return daily if config.get("materialized") == "incremental" else None


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=DailyTranslator(),
    select=DAILY_MODELS,
    backfill_policy=single_run,
    pool="duckdb",
)
def daily_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """dbt build of every model but the bill lines, for the run's days (a partition, or a
    backfill's range in one run): dbt deletes each day of the models built a day at a time and
    builds it again, builds the others whole (contracts, prices, commitments, dimensions), then
    runs the tests that read any of them (the cost conservation tests read the bill lines too),
    less dbt's unit tests (checks of the models' code, which CI runs). If the build fails, the
    days' landings are forgotten, so the next run lands and builds them again."""

    def rows(first: date, end: date) -> int:
        with warehouse.connect() as conn:
            found = conn.execute(
                ROWS_OF_DAYS, [sorted(discovery.DAILY_LANDINGS), first.isoformat(), end.isoformat()]
            ).fetchone()
        return int(found[0]) if found else 0

    run = batches(context.partition_time_window, rows)
    args = [*_dbt_args(context), "--event-time-start", run.start, "--event-time-end", run.end]
    run_env = {BATCH_SIZE_ENV: run.size, RUN_DAYS_ENV[0]: run.start, RUN_DAYS_ENV[1]: run.end}
    try:
        with _environment(run_env):  # dbt's process starts here, with this environment
            invocation = dbt.cli(args, context=context, target_path=_target(TARGET))
        yield from invocation.stream()
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
    backfill_policy=single_run,
    pool="duckdb",
)
def billing_period_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource
) -> Iterator[Any]:
    """dbt build of the bill-line models for the run's billing periods (one, or a range): dbt
    deletes each period and builds it again from the bills as landed, a microbatch each. Only
    the tests that read nothing else run here (indirect selection `cautious`); those that read
    contracts or usage days too run in the builds of those."""
    window = context.partition_time_window
    args = [
        *_dbt_args(context),
        *("--indirect-selection", "cautious"),
        *("--event-time-start", window.start.date().isoformat()),
        *("--event-time-end", window.end.date().isoformat()),
    ]
    yield from dbt.cli(args, context=context, target_path=_target(MONTHLY_TARGET)).stream()
