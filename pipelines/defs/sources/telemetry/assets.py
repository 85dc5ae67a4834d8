from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from collectors.scrape import DCGM_SCHEMA, INFERENCE_METRICS_SCHEMA
from pipelines.defs.sources.telemetry import hosts, load
from pipelines.lib import changed_days
from pipelines.lib.partitions import daily, days_of, single_run
from pipelines.lib.resources import WarehouseResource
from pipelines.lib.warehouse import replace_partition


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", "nvml_gpu_windows"],
            description="NVML collector spool: one row per GPU per window (docs/spool-schema.md).",
            kinds={"duckdb", "parquet"},
        ),
        dg.AssetSpec(
            ["raw", "nvml_process_windows"],
            description="The spool's per-process busy share and memory, with workload labels.",
            kinds={"duckdb", "parquet"},
        ),
    ],
    partitions_def=daily,
    backfill_policy=single_run,
    pool="duckdb",
    group_name="telemetry",
)
def nvml_telemetry(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    files = windows = processes = 0
    warehouse.sync("telemetry/nvml")
    with warehouse.connect() as conn:
        for day in days_of(context):
            day_files = load.spool_files(warehouse.landing_root / "telemetry" / "nvml", day)
            day_windows, day_processes = load.land_day(conn, day, day_files, warehouse.landing_root)
            if not day_files:
                context.log.warning(
                    f"no NVML spool files for {day}: the day's telemetry is now empty"
                )
            files, windows, processes = (
                files + len(day_files),
                windows + day_windows,
                processes + day_processes,
            )
    yield dg.MaterializeResult(
        asset_key=["raw", "nvml_gpu_windows"],
        metadata={"files": files, "rows": windows},
    )
    yield dg.MaterializeResult(
        asset_key=["raw", "nvml_process_windows"],
        metadata={"files": files, "rows": processes},
    )


def _scrape_asset(
    table: str, folder: str, schema: pa.Schema, group: str, description: str
) -> dg.AssetsDefinition:
    """A day of gpuledger-scrape files under ``folder`` landed as ``raw.<table>``."""

    @dg.asset(
        name=table,
        key_prefix="raw",
        partitions_def=daily,
        backfill_policy=single_run,
        pool="duckdb",
        group_name=group,
        kinds={"duckdb", "parquet"},
        description=description,
    )
    def scrape_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        files = rows = 0
        warehouse.sync(folder)
        with warehouse.connect() as conn:
            for day in days_of(context):
                day_files = load.spool_files(warehouse.landing_root / folder, day)  # same layout
                rows += load.land_scrapes(
                    conn, table, schema, day, day_files, warehouse.landing_root
                )
                files += len(day_files)
        return dg.MaterializeResult(metadata={"files": files, "rows": rows})

    return scrape_asset


dcgm_samples = _scrape_asset(
    "dcgm_samples",
    "telemetry/dcgm",
    DCGM_SCHEMA,
    "telemetry",
    "dcgm-exporter scrapes of one day (gpuledger-scrape), one row per metric sample; used for "
    "hosts that have no NVML spool.",
)
inference_metric_samples = _scrape_asset(
    "inference_metric_samples",
    "inference/metrics",
    INFERENCE_METRICS_SCHEMA,
    "inference",
    "vLLM / TGI / SGLang token counters scraped from /metrics (gpuledger-scrape); they "
    "reconcile the request logs' token totals.",
)


@dg.asset(
    key=["raw", "host_aliases"],
    pool="duckdb",
    group_name="hosts",
    kinds={"duckdb", "csv"},
    description=(
        "The host map (telemetry/hosts.csv): each name a machine goes by in telemetry, logs and "
        "scrapes, with its host and cloud resource id (docs/host-identity.md)."
    ),
)
def host_aliases(warehouse: WarehouseResource) -> dg.MaterializeResult:
    table = hosts.read_host_map(warehouse.landing_root)
    with warehouse.connect() as conn:
        version, changed = changed_days.land_read_by_every_day(
            conn, "host_aliases", lambda: replace_partition(conn, "host_aliases", None, table)
        )
    return dg.MaterializeResult(
        data_version=version, metadata={"aliases": table.num_rows, **changed}
    )
