"""Checks people look at in the UI beside the dbt tests: quarantined input, telemetry coverage,
and the freshness of every source.

* Quarantine counts (raw.focus_charges, raw.gcp_billing_export, raw.inference_requests,
  raw.nvml_gpu_windows, raw.dcgm_samples, raw.inference_metric_samples): a WARN with the count
  and the most common reasons when rows of that source sit in raw.quarantine, so nothing set
  aside goes unnoticed.
* Telemetry coverage (marts.fct_gpu_utilization_hourly): a WARN listing GPU-hours measured for
  less than GPULEDGER_MIN_COVERAGE (default 0.9) of the hour; their cost is allocated on what
  was measured and the rest is (unallocated).
* Freshness: every raw asset must have been materialized within its window (daily sources 36
  hours, billing 3 days, reference inputs 8 days); evaluated by the freshness sensor.
"""

import os
from collections.abc import Iterator, Mapping
from datetime import timedelta

import dagster as dg
import duckdb
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from pipelines.lib.resources import WarehouseResource

QUARANTINED_SOURCES = {
    "focus": ["raw", "focus_charges"],
    "gcp_billing": ["raw", "gcp_billing_export"],
    "inference_requests": ["raw", "inference_requests"],
    "nvml": ["raw", "nvml_gpu_windows"],
    "dcgm_samples": ["raw", "dcgm_samples"],
    "inference_metric_samples": ["raw", "inference_metric_samples"],
}
MIN_COVERAGE = float(os.environ.get("GPULEDGER_MIN_COVERAGE", "0.9"))


def _quarantine_check(source: str, key: list[str]) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(key),
        name="quarantine_is_empty",
        description=(
            f"Rows of {source} that failed validation wait in raw.quarantine with file, line "
            "and reason; WARN with their count and most common reasons."
        ),
        blocking=False,
    )
    def check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        with warehouse.connect() as conn:
            total = conn.execute(
                "select count(*) from raw.quarantine where source = ?", [source]
            ).fetchone()
            reasons = conn.execute(
                "select reason, count(*) from raw.quarantine where source = ?"
                " group by 1 order by 2 desc, 1 limit 5",
                [source],
            ).fetchall()
        count = int(total[0]) if total else 0
        return dg.AssetCheckResult(
            passed=count == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "quarantined_rows": count,
                "top_reasons": dg.MetadataValue.md(
                    "\n".join(f"- {n} x {reason}" for reason, n in reasons) or "none"
                ),
            },
        )

    return check


quarantine_checks = [_quarantine_check(s, k) for s, k in QUARANTINED_SOURCES.items()]


UTILIZATION = dg.AssetKey(["marts", "fct_gpu_utilization_hourly"])


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "telemetry_coverage",
            asset=UTILIZATION,
            description=(
                "Every GPU-hour should be measured for most of the hour (coverage = measured "
                f"seconds / 3600 >= GPULEDGER_MIN_COVERAGE, default {MIN_COVERAGE}). WARN lists "
                "the GPU-hours below it: a collector stopped, a host rebooted, a GPU was lost."
            ),
            blocking=False,
        ),
        dg.AssetCheckSpec(
            "one_name_per_host",
            asset=UTILIZATION,
            description=(
                "One machine, one name (docs/host-identity.md): a GPU (its UUID) or a cloud "
                "resource id measured under two host names on a day, after the host map "
                "(telemetry/hosts.csv) and its automatic rules, is one machine split in two "
                "(say dcgm-exporter's pod name and the collector's host name): its telemetry "
                "would not meet its own request logs or bill. WARN lists the names seen; add "
                "them to the host map. A run checks the days it built (every day when the check "
                "runs alone)."
            ),
            blocking=False,
        ),
    ],
    can_subset=True,
)
def telemetry_checks(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    """The telemetry's checks of the utilization fact, one step (a run pays one step's start)."""
    selected = {key.name for key in context.selected_asset_check_keys}
    with warehouse.connect() as conn:
        if "telemetry_coverage" in selected:
            yield telemetry_coverage(conn)
        if "one_name_per_host" in selected:
            yield one_name_per_host(conn, *run_days(context.run.tags))


def telemetry_coverage(conn: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    low = conn.execute(
        "select host, gpu_uuid, count(*), min(coverage) from marts.fct_gpu_utilization_hourly"
        " where coverage < ? group by 1, 2 order by 3 desc limit 20",
        [MIN_COVERAGE],
    ).fetchall()
    total = conn.execute("select count(*) from marts.fct_gpu_utilization_hourly").fetchone()
    hours = sum(int(n) for _, _, n, _ in low)
    return dg.AssetCheckResult(
        check_name="telemetry_coverage",
        passed=not low,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "gpu_hours": int(total[0]) if total else 0,
            "gpu_hours_below_coverage": hours,
            "worst": dg.MetadataValue.md(
                "\n".join(f"- {h} {g}: {n} hours, lowest {c:.0%}" for h, g, n, c in low) or "none"
            ),
        },
    )


def one_name_per_host(
    conn: duckdb.DuckDBPyConnection, first: str, last: str
) -> dg.AssetCheckResult:
    split = conn.execute(
        # The collector's GPU-hours (int_gpu_hours: every GPU-hour measured, NVML's over dcgm's)
        # against the names dcgm-exporter gave the same GPUs; not the spool's files again.
        "select kind, id, list(distinct host order by host) as hosts, min(day) from ("
        " select distinct 'gpu' as kind, gpu_uuid as id, host, day"
        " from intermediate.int_gpu_hours"
        " where day between cast(? as date) and cast(? as date) and mig_instance_id is null"
        " union all"
        " select distinct 'gpu', gpu_uuid, host, day from intermediate.int_dcgm_gpu_windows"
        " where day between cast(? as date) and cast(? as date)"
        " union all"
        " select distinct 'cloud resource', cloud_resource_id, host, day"
        " from intermediate.int_gpu_hours"
        " where day between cast(? as date) and cast(? as date)"
        " and cloud_resource_id is not null"
        ") group by kind, id having count(distinct host) > 1 order by kind desc, id limit 20",
        [first, last] * 3,
    ).fetchall()
    return dg.AssetCheckResult(
        check_name="one_name_per_host",
        passed=not split,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "split_machines": len(split),
            "seen": dg.MetadataValue.md(
                "\n".join(
                    f"- {kind} {key} (from {day}): {', '.join(hosts)}"
                    for kind, key, hosts, day in split
                )
                or "none"
            ),
        },
    )


@dg.asset_check(
    asset=dg.AssetKey(["raw", "nvml_process_windows"]),
    description=(
        "The busy shares of a GPU window's processes add up to at most 1 (a GPU is busy at most "
        "all of the time). WARN lists the windows above it, with host, GPU and window: "
        "allocation scales their shares down to 1, so a process the collector misread (or a "
        "ghost) takes cost from the others. A run checks the days it landed (every day when "
        "the check runs alone)."
    ),
    blocking=False,
)
def busy_shares_at_most_one(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    first, last = run_days(context.run.tags)
    with warehouse.connect() as conn:
        over = conn.execute(
            "select host, gpu_uuid, window_start, sum(busy_share) as total,"
            " count(*) over () as windows from raw.nvml_process_windows"
            " where partition_date between cast(? as date) and cast(? as date)"
            " group by host, gpu_uuid, window_start, window_end"
            " having sum(busy_share) > 1.000001 order by total desc, 1, 2, 3 limit 20",
            [first, last],
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "windows_above_one": int(over[0][4]) if over else 0,
            "worst": dg.MetadataValue.md(
                "\n".join(f"- {h} {g} window {w:%Y-%m-%d %H:%M}: {t:.2f}" for h, g, w, t, _ in over)
                or "none"
            ),
        },
    )


def run_days(tags: Mapping[str, str]) -> tuple[str, str]:
    """The first and last day of a run of daily partitions, from its tags; every day for a run
    of none."""
    if PARTITION_NAME_TAG in tags:
        return tags[PARTITION_NAME_TAG], tags[PARTITION_NAME_TAG]
    if ASSET_PARTITION_RANGE_START_TAG in tags:
        return tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]
    return "0001-01-01", "9999-12-31"


DAILY = [
    ["raw", "nvml_gpu_windows"],
    ["raw", "nvml_process_windows"],
    ["raw", "dcgm_samples"],
    ["raw", "inference_requests"],
    ["raw", "inference_metric_samples"],
]
BILLING = [
    ["raw", "aws_cur_line_items"],
    ["raw", "focus_charges"],
    ["raw", "gcp_billing_export"],
]
REFERENCE = [
    ["raw", "contracts"],
    ["raw", "contract_resources"],
    ["raw", "api_prices"],
    ["raw", "api_equivalents"],
    ["raw", "list_prices"],
    ["raw", "exchange_rates"],
    ["raw", "service_objectives"],
    ["raw", "host_aliases"],
]

freshness_checks = [
    *dg.build_last_update_freshness_checks(
        assets=[dg.AssetKey(k) for k in DAILY], lower_bound_delta=timedelta(hours=36)
    ),
    *dg.build_last_update_freshness_checks(
        assets=[dg.AssetKey(k) for k in BILLING], lower_bound_delta=timedelta(days=3)
    ),
    *dg.build_last_update_freshness_checks(
        assets=[dg.AssetKey(k) for k in REFERENCE], lower_bound_delta=timedelta(days=8)
    ),
]
freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks,
    name="freshness_checks_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
