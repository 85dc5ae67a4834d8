"""What the landing zone holds, by source and partition, and which of it the warehouse holds
already: the one partition discovery and change detection of `gpuledger run`
(pipelines/runner.py) and of the sensors (sensors.py, aws_cur/sensors.py).

A partition's version is the version of its files (warehouse.input_version: landing-relative
names, sizes, modification times), the one its landing records in raw.landing_log. Daily sources
are found by their ``date=`` folders, billing periods by the CUR's manifests and by the rows of
the FOCUS and GCP export files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from pipelines.defs.sources.aws_cur import load as cur
from pipelines.defs.sources.aws_cur.load import billing_periods as cur_periods
from pipelines.defs.sources.focus.load import billing_periods as focus_periods
from pipelines.defs.sources.focus.load import focus_files, read_focus_file
from pipelines.defs.sources.gcp_billing.load import export_files, invoice_months, read_export_file
from pipelines.defs.sources.inference.load import request_days, request_files
from pipelines.defs.sources.telemetry.load import spool_days, spool_files
from pipelines.lib import changed_days, raw_files
from pipelines.lib.partitions import billing_period, daily, month_key, monthly
from pipelines.lib.paths import aws_cur_location, aws_cur_locations
from pipelines.lib.store import Store, open_store
from pipelines.lib.warehouse import input_version

# Reads what the warehouse has landed (WarehouseResource.query_landed): none when it cannot.
Query = Callable[[str, list[object]], list[tuple[object, ...]]]


@dataclass(frozen=True)
class DailySource:
    """A source partitioned by day: its raw.landing_log name, folder and file listings."""

    name: str
    folder: str
    files: Callable[[Path, date], list[Path]]
    days: Callable[[Path], list[str]]


DAILY = (
    DailySource("nvml", "telemetry/nvml", spool_files, spool_days),
    # dcgm-exporter and inference-server scrapes share the spool's host=/date= layout.
    DailySource("dcgm_samples", "telemetry/dcgm", spool_files, spool_days),
    DailySource("inference_metric_samples", "inference/metrics", spool_files, spool_days),
    # The envelope's logs (inference/requests) and the gateways' (inference/litellm, otel).
    DailySource("inference_requests", "inference", request_files, request_days),
)
MONTHLY = ("focus_charges", "gcp_billing_export")
REFERENCE_INPUTS = (
    "contracts",
    "prices",
    "list_prices",
    "inference/objectives.yml",
    "telemetry/hosts.csv",
)


def days(landing: Path, sources: tuple[str, ...] | None = None) -> list[str]:
    """The days any of the daily sources (or of ``sources``) has a folder of."""
    return sorted(
        {
            day
            for source in DAILY
            if sources is None or source.name in sources
            for day in source.days(landing / source.folder)
        }
    )


def day_versions(landing: Path, day: date) -> dict[str, tuple[str, int]]:
    """Per daily source: the version and count of the files its landing reads for the day."""
    versions = {}
    for source in DAILY:
        files = source.files(landing / source.folder, day)
        versions[source.name] = (input_version(files, landing), len(files))
    return versions


def digest(items: list[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(sorted(items)).encode()).hexdigest()[:16]


def daily_fingerprints(landing: Path) -> dict[str, str]:
    """day -> one version of the day's files in every daily source."""
    return {
        day: digest(
            [
                (s, f"{v}:{n}")
                for s, (v, n) in day_versions(landing, date.fromisoformat(day)).items()
            ]
        )
        for day in days(landing)
    }


def landed_days(query: Query, landing: Path, candidates: list[str]) -> set[str]:
    """The days the warehouse already holds at their files' current versions."""
    if not candidates:
        return set()
    logged = {
        (str(source), str(day)): (str(version), int(str(files)))
        for source, day, version, files in query(
            "select source, cast(partition_date as varchar), input_version, files"
            " from raw.landing_log where cast(partition_date as varchar) in (select unnest(?))",
            [candidates],
        )
    }
    landed = set()
    for day in candidates:
        current = day_versions(landing, date.fromisoformat(day))
        if all(
            logged.get((source, day), (version, 0) if count == 0 else None) == (version, count)
            for source, (version, count) in current.items()
        ):
            landed.add(day)
    return landed


def billing_periods(landing: Path) -> list[str]:
    """The billing periods ('YYYY-MM') any bill holds: CUR deliveries, FOCUS and GCP rows."""
    return sorted(
        {p for store in cur_stores(landing) for p in cur_periods(store)}
        | set(focus_periods(landing / "focus", landing))
        | set(invoice_months(landing / "gcp_billing", landing))
    )


def monthly_files(landing: Path) -> dict[str, str]:
    """FOCUS and GCP export file (landing-relative) -> its size and modification time."""
    files = [*focus_files(landing / "focus"), *export_files(landing / "gcp_billing")]
    return {p.relative_to(landing).as_posix(): _stamp(p) for p in files}


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def monthly_source(relative: str) -> str:
    """The raw.landing_log source of a file monthly_files lists."""
    return "focus_charges" if relative.startswith("focus/") else "gcp_billing_export"


def periods_of(landing: Path, relative: str) -> set[str]:
    """The billing periods a FOCUS or GCP export file holds rows of."""
    path = landing / relative
    if relative.startswith("focus/"):
        return {r["billing_period"] for r in read_focus_file(path, landing)[0]}
    return {r["invoice_month"] for r in read_export_file(path, landing)[0]}


def monthly_versions(
    query: Query, landing: Path, files: dict[str, str]
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """(the current version of each monthly source's ``files`` (monthly_files), the version
    each (source, period) the warehouse holds rows of was landed at, from raw.landing_log)."""
    current = {
        source: input_version([landing / f for f in files if monthly_source(f) == source], landing)
        for source in MONTHLY
    }
    logged = {
        (str(source), str(day)[:7]): str(version)
        for source, day, version in query(
            "select source, cast(partition_date as varchar), input_version from raw.landing_log"
            " where source in ('focus_charges', 'gcp_billing_export')",
            [],
        )
    }
    held = {
        (str(source), str(period))
        for source, period in query(
            "select distinct 'focus_charges', billing_period from raw.focus_charges union all"
            " select distinct 'gcp_billing_export', invoice_month from raw.gcp_billing_export",
            [],
        )
    }
    # Only the periods a source has rows of: its files' version is logged for every period a
    # billing run landed, also those where it had none.
    return current, {key: version for key, version in logged.items() if key in held}


def cur_stores(landing: Path) -> list[Store]:
    """A store per CUR location (GPULEDGER_AWS_CUR, else the landing zone's aws_cur/)."""
    return [open_store(location, landing) for location in aws_cur_locations(aws_cur_location())]


def cur_newest(stores: list[Store]) -> dict[str, str | None]:
    """Per billing period of the CUR locations: the version of its newest complete deliveries,
    one per export (aws_cur.load.period_version; None while an export has none complete)."""
    listings = [(store, store.listing()) for store in stores]
    periods = sorted({p for store, present in listings for p in cur_periods(store, present)})
    newest = {}
    for period in periods:
        exports: dict[str, cur.Delivery | None] = {}
        for store, present in listings:
            for export, found in cur.by_export(cur.deliveries(store, period, present)).items():
                exports[export] = cur.newest_complete(found)
        newest[period] = cur.period_version(exports)
    return newest


def cur_landed(query: Query) -> dict[str, str]:
    """Per billing period: the version of the CUR deliveries the warehouse holds (as
    cur_newest writes it)."""
    return {
        str(period): str(version)
        for period, version in query(
            "select billing_period, string_agg(export || '=' || execution_id, ';'"
            " order by export) from raw.aws_cur_deliveries group by 1",
            [],
        )
    }


def periods_to_land(
    landing: Path, query: Query, *, instance: dg.DagsterInstance | None = None
) -> list[str]:
    """The billing periods whose bills changed since the warehouse landed them: a CUR period
    whose newest complete delivery is not the one landed (or has none yet: its landing says
    why), a FOCUS or GCP period whose source's files differ from those it was landed from
    (monthly_versions; also a period the files no longer hold), and the periods whose bill
    lines' last build failed (Dagster's status of the monthly dbt asset in ``instance``)."""
    landed = cur_landed(query)
    newest = cur_newest(cur_stores(landing))
    periods = {p for p, run in newest.items() if run is None or landed.get(p) != run}
    current, logged = monthly_versions(query, landing, monthly_files(landing))
    held = {
        "focus_charges": focus_periods(landing / "focus", landing),
        "gcp_billing_export": invoice_months(landing / "gcp_billing", landing),
    }
    for source, source_periods in held.items():
        periods |= {p for p in source_periods if logged.get((source, p)) != current[source]}
    periods |= {p for (source, p), version in logged.items() if version != current[source]}
    if instance is not None:
        periods |= failed_periods(instance, billing_periods(landing))
    return sorted(periods)


def reference_inputs(landing: Path) -> str:
    """One version of the unpartitioned inputs landed by ingest_reference (contracts, price
    books, list prices and exchange rates, service objectives)."""
    files = [
        (p.relative_to(landing).as_posix(), _stamp(p))
        for root in REFERENCE_INPUTS
        for p in ((landing / root).rglob("*") if (landing / root).is_dir() else [landing / root])
        if p.is_file() and not p.name.startswith(".")
    ]
    return digest(files)


# The daily sources' landing assets (raw.<name>): a materialization of a day changes that day.
DAILY_LANDINGS = frozenset(
    {
        "nvml_gpu_windows",
        "nvml_process_windows",
        "dcgm_samples",
        "inference_metric_samples",
        "inference_requests",
    }
)
# The first and last usage day the warehouse's models hold, and those its bills cover.
BUILT_SPAN = (
    "select cast(min(hour_start_at) as date), cast(max(hour_start_at) as date)"
    " from intermediate.int_gpu_costs_allocated"
)
SPANS = " union all ".join(
    f"select cast(min({start}) as date),"  # noqa: S608 (the end is exclusive)
    f" cast(max({end} - interval 1 microsecond) as date) from raw.{table}"
    for table, (start, end) in changed_days.USAGE_SPANS.items()
)
BILLED_SPAN = f"select min(f), max(l) from ({SPANS}) as spans(f, l)"  # noqa: S608 (our names)
# The days from the first to the last a billing period's lines cover (a build of days never
# splits a period's lines: the conservation test of periods checks the periods a run builds),
# those each contract runs, and a marker row (no row: no warehouse).
COVERED = " union all ".join(
    [
        *(
            f"select cast(min({start}) as date),"  # noqa: S608 (our names)
            f" cast(max({end} - interval 1 microsecond) as date) from raw.{table}"
            f" group by {raw_files.TABLES[table].key}"
            for table, (start, end) in changed_days.USAGE_SPANS.items()
        ),
        "select cast(start_at as date), cast(coalesce(end_at, timestamp '9999-12-31')"
        " - interval 1 microsecond as date) from raw.contracts where start_at is not null",
        "select null, null",
    ]
)
# A stretch of days this long with nothing in it is left out of a build of days (build_ranges).
EMPTY_STRETCH_DAYS = 28


# A model of the daily dbt asset, the last it builds: a day whose build failed is a failed
# partition of it in Dagster; and of the monthly one, for a billing period.
DAILY_BUILT = dg.AssetKey(["marts", "fct_cost_per_useful_token"])
PERIOD_BUILT = dg.AssetKey(["marts", "billing_focus"])


def days_to_build(
    materializations: Iterable[dg.AssetMaterialization],
    landing: Path,
    query: Query,
    *,
    every_day: bool = False,
    instance: dg.DagsterInstance | None = None,
) -> list[tuple[str, str]]:
    """The days the models built a day at a time need building after landings, as ranges
    (first, last), a run each, or none: the days the landings' materializations changed
    (pipelines/lib/changed_days.py), every day when contracts or prices changed (or when
    ``every_day``: a full refresh), the days whose last build failed (Dagster's status of the
    daily asset's partitions in ``instance``: a restated bill's days are built again even
    though the bill, landed, no longer differs), and the days between those and the ones built
    already (their contract hours: the reporting window grew), less the long stretches in which
    nothing has a day (build_ranges)."""
    bounds: list[set[str]] = []  # the first and last day with data, listed once when needed

    def every() -> set[str]:
        if not bounds:
            bounds.append(_every_day(landing, query))
        return bounds[0]

    days: set[str] = set(every()) if every_day else set()
    if instance is not None:
        days.update(failed_days(instance, every()))
    for materialization in materializations:
        changed = materialization.metadata.get(changed_days.USAGE_DAYS_CHANGED)
        if isinstance(changed, dg.JsonMetadataValue) and isinstance(changed.data, dict):
            listed = changed.data["days"]
            days.update(every() if listed == changed_days.EVERY_DAY else listed)
        elif materialization.partition and materialization.asset_key.path[-1] in DAILY_LANDINGS:
            days.add(materialization.partition)
    if not days:
        return []
    first, last = min(days), max(days)
    for built_first, built_last in query(BUILT_SPAN, []):
        if isinstance(built_first, date) and isinstance(built_last, date):
            # A gap between the days built and these: its contract hours are built too.
            if first > built_last.isoformat():
                first = (built_last + timedelta(days=1)).isoformat()
            if last < built_first.isoformat():
                last = (built_first - timedelta(days=1)).isoformat()
    return build_ranges(first, last, days, landing, query)


def build_ranges(
    first: str, last: str, changed: set[str], landing: Path, query: Query
) -> list[tuple[str, str]]:
    """[first, last] less every stretch of EMPTY_STRETCH_DAYS or more in which no billing
    period's lines, telemetry or request log has a day, no contract runs and no day changed:
    such a day holds no row of any model built a day at a time, yet Dagster records a build of
    it as a partition of every one of them (bills of years apart would make a first build span
    every day between them). Without the warehouse to read, [first, last] whole."""
    whole = [(first, last)]
    if (date.fromisoformat(last) - date.fromisoformat(first)).days < EMPTY_STRETCH_DAYS:
        return whole
    rows = query(COVERED, [])
    if not rows:  # not even the marker row: the warehouse could not be read
        return whole
    spans = [(f, t) for f, t in rows if isinstance(f, date) and isinstance(t, date)]
    spans += [(date.fromisoformat(day),) * 2 for day in {*changed, *days(landing)}]
    low, high = date.fromisoformat(first), date.fromisoformat(last)
    ranges: list[list[date]] = []
    clipped = ((max(f, low), min(t, high)) for f, t in spans if f <= high and t >= low)
    for start, end in sorted(clipped):
        if ranges and (start - ranges[-1][1]).days <= EMPTY_STRETCH_DAYS:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([start, end])
    return [(start.isoformat(), end.isoformat()) for start, end in ranges]


def _every_day(landing: Path, query: Query) -> set[str]:
    """The first and last day of the landing zone's daily sources and of the bills."""
    held = days(landing)
    bounds = held[:1] + held[-1:]
    for first, last in query(BILLED_SPAN, []):
        bounds += [str(day) for day in (first, last) if day is not None]
    return {min(bounds), max(bounds)} if bounds else set()


def failed_days(instance: dg.DagsterInstance, bounds: set[str]) -> set[str]:
    """The days within ``bounds`` (first and last) whose last build failed."""
    if not bounds:
        return set()
    first, last = date.fromisoformat(min(bounds)), date.fromisoformat(max(bounds))
    candidates = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    status = instance.get_status_by_partition(DAILY_BUILT, candidates, daily) or {}
    return {day for day, state in status.items() if state == dg.AssetPartitionStatus.FAILED}


def failed_periods(instance: dg.DagsterInstance, periods: list[str]) -> set[str]:
    """The billing periods among ``periods`` whose bill lines' last build failed."""
    keys = [month_key(period) for period in periods]
    status = instance.get_status_by_partition(PERIOD_BUILT, keys, monthly) or {}
    return {
        billing_period(key)
        for key, state in status.items()
        if state == dg.AssetPartitionStatus.FAILED
    }
