"""Materialize the code location's jobs for the partitions that have data in the landing zone.

The same jobs (and so the same asset graph) the Dagster UI shows; the CLI and the tests call this.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from pipelines.defs.sources import discovery
from pipelines.lib.manifest import prepare_manifest
from pipelines.lib.mirror import sync_landing
from pipelines.lib.partitions import month_key
from pipelines.lib.paths import export_environment
from pipelines.lib.pool import HOST_TAG, PID_TAG, PoolWatch, release_stale_claims
from pipelines.lib.resources import WarehouseResource
from pipelines.lib.summary import MISSING_SOURCE_EFFECTS

# Whether the facts exist (built a day at a time, they are created by a build of a day), and
# the bill lines (created by a build of a billing period).
FACTS_BUILT = (
    "select 1 from information_schema.tables"
    " where table_schema = 'marts' and table_name = 'fct_cost_per_useful_token'"
)
BILL_LINES_BUILT = (
    "select 1 from information_schema.tables"
    " where table_schema = 'marts' and table_name = 'billing_focus'"
)
RANGE = "..."  # "2026-11-01...2026-11-03": one run over a range of daily partitions
LOG_ROTATE_BYTES = 10 * 1024 * 1024


class RunFailed(Exception):
    def __init__(
        self,
        job: str,
        partition: str | None,
        message: str,
        marts: tuple[list[str], list[str]] | None = None,
    ) -> None:
        self.job = job
        self.partition = partition
        # A failed build: (marts it rebuilt, marts it left as the previous run built them).
        self.marts = marts
        where = f"{job}" + (f" [{partition}]" if partition else "")
        super().__init__(f"{where} failed: {message}")


@dataclass(frozen=True)
class Plan:
    # The billing periods landed and built: those whose bills changed since they were landed
    # (every one on a full refresh, or without a warehouse to ask).
    billing_periods: list[str]
    # The days landed and built: those whose files changed since they were landed (every day
    # with data on a full refresh, or without a warehouse to ask).
    days: list[str]


@dataclass
class Summary:
    dbt_log: Path
    runs: list[tuple[str, str | None, str]] = field(default_factory=list)
    # Runs whose stale claim on the warehouse pool was released before this one started.
    freed_runs: list[str] = field(default_factory=list)


def plan(
    landing: Path,
    start: date | None = None,
    end: date | None = None,
    *,
    landed: discovery.Query | None = None,
    full_refresh: bool = False,
    instance: dg.DagsterInstance | None = None,
) -> Plan:
    """What a run lands and builds. ``landed`` reads the warehouse (WarehouseResource.
    query_landed): the days and billing periods it holds at their files' versions are not
    landed again (discovery.landed_days, discovery.periods_to_land)."""
    if full_refresh or landed is None:
        periods = discovery.billing_periods(landing)
    else:
        periods = discovery.periods_to_land(landing, landed, instance=instance)
    if not periods and landed is not None and not landed(BILL_LINES_BUILT, []):
        # No bill line built yet and no bill to land (a landing zone of contracts alone): a
        # run of this month, which has no bill, creates the bill-line tables empty.
        periods = [datetime.now(UTC).date().isoformat()[:7]]
    days = discovery.days(landing)
    if start is not None:
        periods = [p for p in periods if p >= start.isoformat()[:7]]
        days = [d for d in days if d >= start.isoformat()]
    if end is not None:
        periods = [p for p in periods if p <= end.isoformat()[:7]]
        days = [d for d in days if d <= end.isoformat()]
    held = set() if full_refresh or landed is None else discovery.landed_days(landed, landing, days)
    return Plan(billing_periods=periods, days=[d for d in days if d not in held])


def missing_sources(landing: Path) -> list[str]:
    """The kinds of source the landing zone holds nothing of ('bills', 'telemetry',
    'requests'), in MISSING_SOURCE_EFFECTS' order."""
    contracts = landing / "contracts"
    present = {
        "bills": bool(discovery.billing_periods(landing))
        or (contracts.is_dir() and any(contracts.glob("*.y*ml"))),
        "telemetry": bool(discovery.days(landing, ("nvml", "dcgm_samples"))),
        "requests": bool(discovery.days(landing, ("inference_requests",))),
    }
    return [kind for kind in MISSING_SOURCE_EFFECTS if not present[kind]]


def day_ranges(days: list[str]) -> list[str]:
    """Consecutive days as one range each: a run lands the range like a UI backfill does.

    Days without data between two that have some are left out, so a run never empties a day
    whose files are gone from the landing zone (only a run of that day itself does).
    """
    return _ranges(days, lambda day: (date.fromisoformat(day) + timedelta(days=1)).isoformat())


def period_ranges(periods: list[str]) -> list[str]:
    """Consecutive billing periods ('YYYY-MM') as one range of monthly partitions each: a run
    lands and builds them all (a run costs seconds whatever it holds); as for days, a period
    between two is never landed unless it was asked for."""

    def following(key: str) -> str:
        year, month = int(key[:4]), int(key[5:7])
        return month_key(f"{year + month // 12}-{month % 12 + 1:02d}")

    return _ranges([month_key(p) for p in periods], following)


def _ranges(keys: list[str], following: Callable[[str], str]) -> list[str]:
    ranges: list[tuple[str, str]] = []
    for key in sorted(keys):
        if ranges and following(ranges[-1][1]) == key:
            ranges[-1] = (ranges[-1][0], key)
        else:
            ranges.append((key, key))
    return [first if first == last else f"{first}{RANGE}{last}" for first, last in ranges]


def partition_tags(partition: str | None) -> tuple[str | None, dict[str, str]]:
    """(partition_key, tags) for execute_in_process: one key, or a range's start and end tags."""
    if partition is None or RANGE not in partition:
        return partition, {}
    first, last = partition.split(RANGE)
    return None, {
        ASSET_PARTITION_RANGE_START_TAG: first,
        ASSET_PARTITION_RANGE_END_TAG: last,
    }


def run_config(log_level: str) -> dict[str, Any]:
    """Console log level of the runs; the UI's event log keeps everything regardless."""
    return {"loggers": {"console": {"config": {"log_level": log_level}}}}


def _error_message(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            chain = []
            while error is not None:
                chain.append(error)
                error = error.cause
            # Our own errors say file, row and column; prefer them to the library's cause.
            ours = [e for e in chain if e.cls_name in ("LandingError", "Failure")]
            chosen = ours[0] if ours else chain[-1]
            message = chosen.message.strip()
            prefix = f"{chosen.cls_name}: "
            return message.removeprefix(prefix).removeprefix("pipelines.lib.errors." + prefix)
    return "see the run's logs in the Dagster UI"


def _failing_files(warehouse: Path, message: str) -> str:
    """The input files of a failed dbt test's rows, where the test stores its failures (dbt's
    store_failures) with a source_file column: " Rows of <test>: <file> (row N), ..."."""
    tests = sorted(set(re.findall(r"Failure in test (\w+)", message)))
    if not tests:
        return ""
    found = []
    try:
        conn = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return ""
    try:
        for test in tests:
            columns = {
                name: schema
                for schema, name in conn.execute(
                    "select table_schema, column_name from information_schema.columns"
                    " where table_name = ? and column_name in ('source_file', 'source_row')",
                    [test],
                ).fetchall()
            }
            if "source_file" not in columns:
                continue
            row = "min(source_row)" if "source_row" in columns else "null"
            files = conn.execute(
                f"select source_file, {row} from"  # noqa: S608 (a dbt test's own table)
                f' "{columns["source_file"]}"."{test}" where source_file is not null'
                " group by 1 order by 1 limit 5"
            ).fetchall()
            where = [f"{name}" + (f" (row {first})" if first else "") for name, first in files]
            if where:
                found.append(f" Rows of {test}: {', '.join(where)}.")
    except duckdb.Error:
        return ""
    finally:
        conn.close()
    return "".join(found)


def _marts_rebuilt(
    definitions: dg.Definitions,
    result: dg.ExecuteInProcessResult,
    earlier: list[dg.AssetMaterialization],
) -> tuple[list[str], list[str]]:
    """(marts the failed run or the runs before it materialized, marts they did not), by
    name."""
    marts = sorted(
        key.path[-1]
        for key in definitions.resolve_asset_graph().get_all_asset_keys()
        if key.path[0] == "marts"
    )
    keys = [event.asset_key for event in result.get_asset_materialization_events()]
    keys += [materialization.asset_key for materialization in earlier]
    rebuilt = {key.path[-1] for key in keys if key is not None and key.path[0] == "marts"}
    return [m for m in marts if m in rebuilt], [m for m in marts if m not in rebuilt]


def run(
    landing: Path,
    warehouse: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    instance: dg.DagsterInstance | None = None,
    on_step: Callable[[str, str | None, int, int], None] | None = None,
    log_level: str = "WARNING",
    full_refresh: bool = False,
    on_wait: Callable[[str], None] | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> Summary:
    """Land every partition with data (or those in [start, end]), build the models built
    whole, then the days the landings changed (discovery.days_to_build) and publish.

    With an ``instance``, runs that died holding the warehouse pool are released first, and
    while a run waits for the pool ``on_wait`` hears what holds it every few seconds;
    ``on_interrupt`` is called at once on Ctrl-C or SIGTERM (pipelines.lib.pool.PoolWatch).
    """
    export_environment(landing, warehouse)
    sync_landing(landing)  # folders configured to live in S3, before planning what to land
    prepare_manifest()
    from pipelines.definitions import defs  # loads after the environment is pinned

    definitions = defs()
    landed = WarehouseResource.from_environment().query_landed
    todo = plan(landing, start, end, landed=landed, full_refresh=full_refresh, instance=instance)
    steps: list[tuple[str, str | None]] = [
        *(("billing_monthly", r) for r in period_ranges(todo.billing_periods)),
        *(("ingest_daily", r) for r in day_ranges(todo.days)),
        ("ingest_reference", None),
    ]

    def build_steps(
        materializations: list[dg.AssetMaterialization],
    ) -> list[tuple[str, str | None]]:
        """After the landings and ingest_reference: the days their materializations changed (every
        day on a full refresh), a run per range of them, each publishing; or publish alone."""
        ranges = discovery.days_to_build(
            materializations, landing, landed, every_day=full_refresh, instance=instance
        )
        if not ranges and not landed(FACTS_BUILT, []):
            # Nothing built a day at a time yet, and no day to build (a landing zone of
            # contracts alone): a build of today, which has no data, creates the facts empty.
            today = datetime.now(UTC).date().isoformat()
            ranges = [(today, today)]
        if not ranges:
            return [("publish", None)]
        return [("build_daily", f"{first}{RANGE}{last}") for first, last in ranges]

    summary = Summary(dbt_log=warehouse.parent / "logs" / "dbt.log")
    dbt_log = summary.dbt_log
    dbt_log.parent.mkdir(parents=True, exist_ok=True)
    if dbt_log.exists() and dbt_log.stat().st_size > LOG_ROTATE_BYTES:
        dbt_log.replace(dbt_log.with_name(dbt_log.name + ".1"))  # keeps one older log
    watch = None
    if instance is not None:
        summary.freed_runs = release_stale_claims(instance)
        watch = PoolWatch(instance, on_wait or (lambda _: None), on_interrupt)
        watch.start()
    try:
        _execute(
            definitions,
            steps,
            build_steps,
            summary,
            instance,
            on_step,
            log_level,
            full_refresh,
            warehouse,
        )
    finally:
        if watch is not None:
            watch.stop()
    return summary


def _execute(
    definitions: dg.Definitions,
    steps: list[tuple[str, str | None]],
    then: Callable[[list[dg.AssetMaterialization]], list[tuple[str, str | None]]],
    summary: Summary,
    instance: dg.DagsterInstance | None,
    on_step: Callable[[str, str | None, int, int], None] | None,
    log_level: str,
    full_refresh: bool,
    warehouse: Path,
) -> None:
    dbt_log = summary.dbt_log
    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    # The step after the landings is known once they ran: a build of the days they changed, and
    # the publish.
    steps = list(steps)
    total = len(steps) + 1
    materializations: list[dg.AssetMaterialization] = []
    number = 0
    while number < len(steps):
        job_name, partition = steps[number]
        number += 1
        if on_step is not None:
            on_step(job_name, partition, number, total)
        job = definitions.resolve_job_def(job_name)
        partition_key, range_tags = partition_tags(partition)
        # dagster-dbt echoes dbt's log to stdout; keep it in a file beside the warehouse.
        with dbt_log.open("a") as log, contextlib.redirect_stdout(log):
            result = job.execute_in_process(
                run_config=run_config(log_level),
                partition_key=partition_key,
                instance=instance,
                raise_on_error=False,
                tags={
                    **tags,
                    **range_tags,
                    **({"gpuledger/full_refresh": "true"} if full_refresh else {}),
                },
            )
        if not result.success:
            message = _error_message(result)
            marts = None
            if "dbt" in message:  # the models' build failed: its failing rows, and dbt's log
                message += _failing_files(warehouse, message) + f" (dbt log: {dbt_log})"
            if job_name in ("billing_monthly", "build_daily"):
                marts = _marts_rebuilt(definitions, result, materializations)
            raise RunFailed(job_name, partition, message, marts)
        summary.runs.append((job_name, partition, result.run_id))
        materializations += [
            event.step_materialization_data.materialization
            for event in result.get_asset_materialization_events()
        ]
        if job_name == "ingest_reference":
            steps += then(materializations)
            total = len(steps)
