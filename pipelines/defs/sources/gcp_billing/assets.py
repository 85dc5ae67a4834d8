import os

import dagster as dg

from pipelines.defs.sources.gcp_billing import load
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
        "Parquet or flattened CSV under gcp_billing/, and the BigQuery export table named by "
        "GPULEDGER_GCP_BIGQUERY_TABLE). The month is replaced as a whole, so late rows and "
        "re-exported days never double-count."
    ),
)
def gcp_billing_export(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    month = billing_period(context.partition_key)
    warehouse.sync("gcp_billing")
    files = load.export_files(warehouse.landing_root / "gcp_billing")
    table = os.environ.get("GPULEDGER_GCP_BIGQUERY_TABLE")
    table_rows = None
    if table:
        client = load.bigquery_client(os.environ.get("GPULEDGER_GCP_BIGQUERY_ENDPOINT"))
        table_rows = load.read_bigquery_table(client, table)
    with warehouse.connect() as conn:
        landed, quarantined = load.land_month(
            conn, month, files, warehouse.landing_root, table_rows
        )
    if quarantined:
        context.log.warning(f"{quarantined} GCP export rows quarantined (raw.quarantine)")
    return dg.MaterializeResult(
        metadata={"files": len(files), "rows": landed, "quarantined": quarantined}
    )
