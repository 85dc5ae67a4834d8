"""The landing sensor: new files in the landing zone become runs of just the partitions they
change (schedules.transform_after_landing then rebuilds the marts after each landing run).

The AWS CUR has its own sensor (deliveries and manifests, folder or S3: aws_cur/sensors.py).
Every other source is fingerprinted here file by file (path, size, modification time):

* daily sources (NVML spool, dcgm scrapes, request logs, token counters): a changed day gets an
  ``ingest_daily`` run for that day;
* FOCUS and GCP exports: only the changed files are read, and each billing period they hold
  gets a ``billing_monthly`` run (a removed file re-lands the periods it held);
* contracts, price books, list prices and exchange rates are unpartitioned inputs of the
  transform: a change requests a ``transform`` run.

A day or billing period the warehouse already holds at its files' versions (raw.landing_log:
landed by `gpuledger run`, a backfill or an earlier run) is not requested again: the sensor
starts from what the warehouse holds, not from an empty cursor.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from datetime import date
from pathlib import Path

import dagster as dg

from pipelines.defs.sources.focus.load import focus_files, read_focus_file
from pipelines.defs.sources.gcp_billing.load import export_files, read_export_file
from pipelines.defs.sources.inference.load import request_files
from pipelines.defs.sources.telemetry.load import spool_files
from pipelines.defs.transform.schedules import billing_job, ingest_job, transform_job
from pipelines.lib.mirror import sync_landing
from pipelines.lib.partitions import month_key
from pipelines.lib.resources import WarehouseResource
from pipelines.lib.warehouse import input_version

INTERVAL_S = int(os.environ.get("GPULEDGER_LANDING_SENSOR_INTERVAL_S", "120"))
DAILY_ROOTS = ("telemetry/nvml", "telemetry/dcgm", "inference/metrics")
TRANSFORM_INPUTS = ("contracts", "prices", "list_prices")


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _digest(items: list[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(sorted(items)).encode()).hexdigest()[:16]


def daily_fingerprints(landing: Path) -> dict[str, str]:
    """day -> fingerprint of every file of that day in the daily sources."""
    by_day: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for root in DAILY_ROOTS:
        for path in (landing / root).glob("host=*/date=*/*.parquet"):
            if not path.name.startswith("."):
                day = path.parent.name.removeprefix("date=")
                by_day[day].append((path.relative_to(landing).as_posix(), _stamp(path)))
    for path in (landing / "inference" / "requests").glob("date=*/*.jsonl"):
        day = path.parent.name.removeprefix("date=")
        by_day[day].append((path.relative_to(landing).as_posix(), _stamp(path)))
    return {day: _digest(files) for day, files in by_day.items()}


def day_versions(landing: Path, day: date) -> dict[str, tuple[str, int]]:
    """Per daily source (its raw.landing_log name): the version and count of the files that
    ``ingest_daily`` would land for the day, listed as its assets list them."""
    listings = {
        "nvml": spool_files(landing / "telemetry" / "nvml", day),
        "dcgm_samples": spool_files(landing / "telemetry" / "dcgm", day),
        "inference_metric_samples": spool_files(landing / "inference" / "metrics", day),
        "inference_requests": request_files(landing / "inference" / "requests", day),
    }
    return {
        source: (input_version(files, landing), len(files)) for source, files in listings.items()
    }


def landed_days(warehouse: WarehouseResource, days: list[str]) -> set[str]:
    """The days the warehouse already holds at their files' current versions."""
    if not days:
        return set()
    logged = {
        (str(source), str(day)): (str(version), int(str(files)))
        for source, day, version, files in warehouse.query_landed(
            "select source, cast(partition_date as varchar), input_version, files"
            " from raw.landing_log where cast(partition_date as varchar) in (select unnest(?))",
            [days],
        )
    }
    landed = set()
    for day in days:
        current = day_versions(warehouse.landing_root, date.fromisoformat(day))
        if all(
            logged.get((source, day), (version, 0) if count == 0 else None) == (version, count)
            for source, (version, count) in current.items()
        ):
            landed.add(day)
    return landed


def monthly_files(landing: Path) -> dict[str, str]:
    """FOCUS and GCP export file -> stamp."""
    files = [*focus_files(landing / "focus"), *export_files(landing / "gcp_billing")]
    return {p.relative_to(landing).as_posix(): _stamp(p) for p in files}


def _monthly_source(relative: str) -> str:
    """The raw.landing_log source of a file monthly_files lists."""
    return "focus_charges" if relative.startswith("focus/") else "gcp_billing_export"


def monthly_versions(
    warehouse: WarehouseResource, files: dict[str, str]
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """(the current version of each monthly source's ``files`` (monthly_files), the version
    each (source, period) the warehouse holds rows of was landed at, from raw.landing_log)."""
    landing = warehouse.landing_root
    current = {
        source: input_version([landing / f for f in files if _monthly_source(f) == source], landing)
        for source in ("focus_charges", "gcp_billing_export")
    }
    logged = {
        (str(source), str(day)[:7]): str(version)
        for source, day, version in warehouse.query_landed(
            "select source, cast(partition_date as varchar), input_version from raw.landing_log"
            " where source in ('focus_charges', 'gcp_billing_export')",
            [],
        )
    }
    held = {
        (str(source), str(period))
        for source, period in warehouse.query_landed(
            "select distinct 'focus_charges', billing_period from raw.focus_charges union all"
            " select distinct 'gcp_billing_export', invoice_month from raw.gcp_billing_export",
            [],
        )
    }
    # Only the periods a source has rows of: its files' version is logged for every period a
    # billing run landed, also those where it had none.
    return current, {key: version for key, version in logged.items() if key in held}


def periods_of(landing: Path, relative: str) -> set[str]:
    path = landing / relative
    if relative.startswith("focus/"):
        return {r["billing_period"] for r in read_focus_file(path, landing)[0]}
    return {r["invoice_month"] for r in read_export_file(path, landing)[0]}


def transform_inputs(landing: Path) -> str:
    files = [
        (p.relative_to(landing).as_posix(), _stamp(p))
        for root in TRANSFORM_INPUTS
        for p in (landing / root).rglob("*")
        if p.is_file() and not p.name.startswith(".")
    ]
    return _digest(files)


@dg.sensor(
    jobs=[ingest_job, billing_job, transform_job],
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Fingerprints the landing zone (all sources but the AWS CUR, which has its own sensor) "
        "and requests runs for exactly the days and billing periods whose files changed, and a "
        "transform when contracts or prices change. First evaluation: everything present."
    ),
)
def landing_new_files(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    landing = warehouse.landing_root
    # Folders kept in S3 (pipelines/lib/mirror.py) are mirrored first; what changed there then
    # shows as changed local files.
    for synced in sync_landing(landing):
        if synced.downloaded or synced.removed:
            context.log.info(
                f"{synced.uri}: {synced.downloaded} new or changed, {synced.removed} removed"
            )
    seen = json.loads(context.cursor) if context.cursor else {}
    days_seen: dict[str, str] = seen.get("days", {})
    files_seen: dict[str, str] = seen.get("files", {})
    requests: list[dg.RunRequest] = []

    days = daily_fingerprints(landing)
    changed = sorted(day for day, fingerprint in days.items() if days_seen.get(day) != fingerprint)
    landed = landed_days(warehouse, changed)
    for day in changed:
        fingerprint = days[day]
        if day not in landed:
            requests.append(
                dg.RunRequest(
                    job_name=ingest_job.name,
                    partition_key=day,
                    run_key=f"ingest:{day}:{fingerprint}",
                )
            )

    files = monthly_files(landing)
    file_periods: dict[str, str] = dict(seen.get("file_periods", {}))
    periods: set[str] = set()
    for relative in sorted(f for f, stamp in files.items() if files_seen.get(f) != stamp):
        held = periods_of(landing, relative)
        periods |= held | (set(file_periods.get(relative, "").split(",")) - {""})
        file_periods[relative] = ",".join(sorted(held))
    for relative in sorted(set(files_seen) - set(files)):
        # A removed file: the periods it held are landed again without it.
        periods |= set(file_periods.pop(relative, "").split(",")) - {""}
    holders: dict[str, set[str]] = defaultdict(set)
    for relative, listed in file_periods.items():
        for period in set(listed.split(",")) - {""}:
            holders[period].add(_monthly_source(relative))
    # A period the warehouse holds at its files' versions is not landed again. With no cursor
    # (a first evaluation) a period landed from files that have changed since is landed again:
    # among them, those of a removed file.
    if periods or not context.cursor:
        current, logged = monthly_versions(warehouse, files)
        periods = {
            p
            for p in periods
            if not holders[p] or any(logged.get((s, p)) != current[s] for s in holders[p])
        }
        if not context.cursor:
            periods |= {p for (s, p), version in logged.items() if version != current[s]}
    marker = _digest(sorted(files.items()))
    for period in sorted(periods):
        requests.append(
            dg.RunRequest(
                job_name=billing_job.name,
                partition_key=month_key(period),
                run_key=f"billing:{period}:{marker}",
            )
        )

    inputs = transform_inputs(landing)
    if not requests and seen.get("transform_inputs") not in (None, inputs):
        requests.append(dg.RunRequest(job_name=transform_job.name, run_key=f"inputs:{inputs}"))

    cursor = {
        "days": days,
        "files": files,
        "file_periods": file_periods,
        "transform_inputs": inputs,
    }
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))
