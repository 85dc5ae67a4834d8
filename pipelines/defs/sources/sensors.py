"""The landing sensor: new files in the landing zone become runs of just the partitions they
change (schedules.reference_after_landing then rebuilds the marts after each landing run).

The AWS CUR has its own sensor (deliveries and manifests, folder or S3: aws_cur/sensors.py).
Every other source is fingerprinted here file by file (path, size, modification time):

* daily sources (NVML spool, dcgm scrapes, request logs, token counters): a changed day gets an
  ``ingest_daily`` run for that day;
* FOCUS and GCP exports: only the changed files are read, and each billing period they hold
  gets a ``billing_monthly`` run (a removed file re-lands the periods it held);
* contracts, price books, list prices and exchange rates are unpartitioned inputs of the
  reference data: a change requests an ``ingest_reference`` run.

A day or billing period the warehouse already holds at its files' versions (raw.landing_log:
landed by `gpuledger run`, a backfill or an earlier run) is not requested again: the sensor
starts from what the warehouse holds, not from an empty cursor. What a partition is and which
version it is at: discovery.py, which `gpuledger run` plans with too.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import dagster as dg

from pipelines.defs.sources import discovery
from pipelines.defs.transform.schedules import billing_job, ingest_job, reference_job
from pipelines.lib.mirror import sync_landing
from pipelines.lib.partitions import month_key
from pipelines.lib.resources import WarehouseResource

INTERVAL_S = int(os.environ.get("GPULEDGER_LANDING_SENSOR_INTERVAL_S", "120"))


@dg.sensor(
    jobs=[ingest_job, billing_job, reference_job],
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Fingerprints the landing zone (all sources but the AWS CUR, which has its own sensor) "
        "and requests runs for exactly the days and billing periods whose files changed, and an "
        "ingest_reference run when contracts or prices change. First evaluation: everything "
        "present."
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

    days = discovery.daily_fingerprints(landing)
    changed = sorted(day for day, fingerprint in days.items() if days_seen.get(day) != fingerprint)
    landed = discovery.landed_days(warehouse.query_landed, landing, changed)
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

    files = discovery.monthly_files(landing)
    file_periods: dict[str, str] = dict(seen.get("file_periods", {}))
    periods: set[str] = set()
    for relative in sorted(f for f, stamp in files.items() if files_seen.get(f) != stamp):
        held = discovery.periods_of(landing, relative)
        periods |= held | (set(file_periods.get(relative, "").split(",")) - {""})
        file_periods[relative] = ",".join(sorted(held))
    for relative in sorted(set(files_seen) - set(files)):
        # A removed file: the periods it held are landed again without it.
        periods |= set(file_periods.pop(relative, "").split(",")) - {""}
    holders: dict[str, set[str]] = defaultdict(set)
    for relative, listed in file_periods.items():
        for period in set(listed.split(",")) - {""}:
            holders[period].add(discovery.monthly_source(relative))
    # A period the warehouse holds at its files' versions is not landed again. With no cursor
    # (a first evaluation) a period landed from files that have changed since is landed again:
    # among them, those of a removed file.
    if periods or not context.cursor:
        current, logged = discovery.monthly_versions(warehouse.query_landed, landing, files)
        periods = {
            p
            for p in periods
            if not holders[p] or any(logged.get((s, p)) != current[s] for s in holders[p])
        }
        if not context.cursor:
            periods |= {p for (s, p), version in logged.items() if version != current[s]}
    marker = discovery.digest(sorted(files.items()))
    for period in sorted(periods):
        requests.append(
            dg.RunRequest(
                job_name=billing_job.name,
                partition_key=month_key(period),
                run_key=f"billing:{period}:{marker}",
            )
        )

    inputs = discovery.reference_inputs(landing)
    if not requests and seen.get("reference_inputs") not in (None, inputs):
        requests.append(dg.RunRequest(job_name=reference_job.name, run_key=f"inputs:{inputs}"))

    cursor = {
        "days": days,
        "files": files,
        "file_periods": file_periods,
        "reference_inputs": inputs,
    }
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))
