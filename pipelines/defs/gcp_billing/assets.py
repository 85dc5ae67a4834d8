import dagster as dg

from pipelines.defs.gcp_billing import load
from pipelines.lib.partitions import billing_period, monthly
from pipelines.lib.resources import WarehouseResource


@dg.asset(
    key=["raw", "gcp_billing_export"],
    partitions_def=monthly,
    pool="duckdb",
    group_name="gcp_billing",
    kinds={"duckdb", "gcp"},
    description=(
        "Google Cloud Billing detailed usage cost export rows of one invoice month (JSONL, "
        "Parquet or flattened CSV under gcp_billing/). The month is replaced as a whole, so "
        "late rows and re-exported days never double-count."
    ),
)
def gcp_billing_export(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    month = billing_period(context.partition_key)
    files = load.export_files(warehouse.landing_root / "gcp_billing")
    with warehouse.connect() as conn:
        landed, quarantined = load.land_month(conn, month, files, warehouse.landing_root)
    if quarantined:
        context.log.warning(f"{quarantined} GCP export rows quarantined (raw.quarantine)")
    return dg.MaterializeResult(
        metadata={"files": len(files), "rows": landed, "quarantined": quarantined}
    )
