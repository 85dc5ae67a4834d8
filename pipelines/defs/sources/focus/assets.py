import dagster as dg

from pipelines.defs.sources.focus import load
from pipelines.lib import changed_days
from pipelines.lib.partitions import billing_periods_of, month_key, monthly, single_run
from pipelines.lib.resources import WarehouseResource


@dg.asset(
    key=["raw", "focus_charges"],
    partitions_def=monthly,
    backfill_policy=single_run,
    pool="duckdb",
    group_name="focus",
    kinds={"duckdb", "csv", "parquet"},
    description=(
        "FOCUS 1.0-1.3 export rows of each billing period, from every file under focus/. Rows "
        "that break the ingest rules (docs/focus-ingest.md) are in raw.quarantine with the reason."
    ),
)
def focus_charges(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    warehouse.sync("focus")
    files = load.focus_files(warehouse.landing_root / "focus")
    read = load.read_focus_files(files, warehouse.landing_root)  # once for every period
    for period in billing_periods_of(context):
        with warehouse.connect() as conn:
            before = changed_days.bill_digests(conn, "focus_charges", period)
            landed, quarantined = load.land_period(
                conn, period, files, warehouse.landing_root, read
            )
            after = changed_days.bill_digests(conn, "focus_charges", period)
        if quarantined:
            context.log.warning(
                f"{quarantined} FOCUS rows of {period} quarantined (raw.quarantine)"
            )
        context.add_asset_metadata(
            {
                "files": len(files),
                "rows": landed,
                "quarantined": quarantined,
                **changed_days.metadata(changed_days.bill_days_changed(before, after)),
            },
            partition_key=month_key(period),
        )
    return dg.MaterializeResult()
