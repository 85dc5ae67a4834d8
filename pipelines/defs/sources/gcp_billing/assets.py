import os
from collections.abc import Iterator

import dagster as dg

from pipelines.defs.sources.gcp_billing import load
from pipelines.lib import changed_days
from pipelines.lib.partitions import billing_periods_of, month_key, monthly, single_run
from pipelines.lib.resources import WarehouseResource


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", "gcp_billing_export"],
            description=(
                "Google Cloud Billing detailed usage cost export rows of each invoice month "
                "(JSONL, Parquet or flattened CSV under gcp_billing/, and the BigQuery export "
                "table named by GPULEDGER_GCP_BIGQUERY_TABLE), every file's rows as they are. "
                "The month is replaced as a whole; staging counts a row repeated across files "
                "once."
            ),
            kinds={"duckdb", "gcp"},
        ),
        dg.AssetSpec(
            ["raw", "gcp_billing_credits"],
            description="The credits of each export row, one row per credit.",
            kinds={"duckdb", "gcp"},
        ),
    ],
    partitions_def=monthly,
    backfill_policy=single_run,
    pool="duckdb",
    group_name="gcp_billing",
)
def gcp_billing_export(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    warehouse.sync("gcp_billing")
    files = load.export_files(warehouse.landing_root / "gcp_billing")
    table = os.environ.get("GPULEDGER_GCP_BIGQUERY_TABLE")
    table_rows = None
    if table:
        client = load.bigquery_client(os.environ.get("GPULEDGER_GCP_BIGQUERY_ENDPOINT"))
        table_rows = load.read_bigquery_table(client, table)
    read = load.read_export_files(files, warehouse.landing_root, table_rows)  # once for all
    for month in billing_periods_of(context):
        with warehouse.connect() as conn:
            before = changed_days.bill_digests(conn, "gcp_billing_export", month)
            landed, quarantined = load.land_month(
                conn, month, files, warehouse.landing_root, read, from_bigquery=bool(table)
            )
            after = changed_days.bill_digests(conn, "gcp_billing_export", month)
        if quarantined:
            context.log.warning(
                f"{quarantined} GCP export rows of {month} quarantined (raw.quarantine)"
            )
        context.add_asset_metadata(
            {
                "files": len(files),
                "rows": landed,
                "quarantined": quarantined,
                # The credits are part of each export row (credits_json).
                **changed_days.metadata(changed_days.bill_days_changed(before, after)),
            },
            asset_key=["raw", "gcp_billing_export"],
            partition_key=month_key(month),
        )
    yield dg.MaterializeResult(asset_key=["raw", "gcp_billing_export"])
    yield dg.MaterializeResult(asset_key=["raw", "gcp_billing_credits"])
