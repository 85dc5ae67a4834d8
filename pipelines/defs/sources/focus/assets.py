import dagster as dg

from pipelines.defs.sources.focus import load
from pipelines.lib import changed_days
from pipelines.lib.partitions import billing_period, monthly, run_per_period
from pipelines.lib.resources import WarehouseResource


@dg.asset(
    key=["raw", "focus_charges"],
    partitions_def=monthly,
    backfill_policy=run_per_period,
    pool="duckdb",
    group_name="focus",
    kinds={"duckdb", "csv", "parquet"},
    description=(
        "FOCUS 1.0-1.3 export rows of one billing period, from every file under focus/. Rows "
        "that break the ingest rules (docs/focus-ingest.md) are in raw.quarantine with the reason."
    ),
)
def focus_charges(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    period = billing_period(context.partition_key)
    warehouse.sync("focus")
    files = load.focus_files(warehouse.landing_root / "focus")
    with warehouse.connect() as conn:
        before = changed_days.bill_digests(conn, "focus_charges", period)
        landed, quarantined = load.land_period(conn, period, files, warehouse.landing_root)
        after = changed_days.bill_digests(conn, "focus_charges", period)
    if quarantined:
        context.log.warning(f"{quarantined} FOCUS rows quarantined (raw.quarantine)")
    return dg.MaterializeResult(
        metadata={
            "files": len(files),
            "rows": landed,
            "quarantined": quarantined,
            **changed_days.metadata(changed_days.bill_days_changed(before, after)),
        }
    )
