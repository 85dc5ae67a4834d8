import os

import dagster as dg

from pipelines.defs.sources.list_prices import load
from pipelines.lib import changed_days
from pipelines.lib.paths import regular_files
from pipelines.lib.resources import WarehouseResource


@dg.asset(
    key=["raw", "list_prices"],
    pool="duckdb",
    group_name="list_prices",
    kinds={"duckdb", "aws", "gcp"},
    description=(
        "GPU list prices by effective date: AWS Price List offer files under list_prices/aws/ "
        "(On-Demand and Capacity Block), and, when GPULEDGER_GCP_CATALOG_ENDPOINT is set (or "
        "GPULEDGER_GCP_CATALOG=google), GCP GPU SKUs from the Cloud Billing Catalog API."
    ),
)
def list_prices(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    aws_folder = warehouse.landing_root / "list_prices" / "aws"
    aws_files = regular_files(aws_folder.glob("*.json"), aws_folder)
    aws_rows = [
        row for path in aws_files for row in load.read_aws_offer_file(path, warehouse.landing_root)
    ]
    endpoint = os.environ.get("GPULEDGER_GCP_CATALOG_ENDPOINT")
    gcp_rows = None
    if endpoint or os.environ.get("GPULEDGER_GCP_CATALOG") == "google":
        config = load.CatalogConfig(endpoint=endpoint)
        gcp_rows = load.read_gcp_catalog(
            load.catalog_client(config), endpoint or "cloudbilling.googleapis.com"
        )
    with warehouse.connect() as conn:
        before = changed_days.versions(conn, ("list_prices",))
        aws = load.land_prices(conn, "aws", aws_rows)
        gcp = load.land_prices(conn, "gcp", gcp_rows) if gcp_rows is not None else None
        # Not read by a day, but built by the build of days (dim_gpu_list_price).
        changed = changed_days.versions(conn, ("list_prices",)) != before
        version = changed_days.data_version(conn, "list_prices")
    if gcp is None:
        context.log.info("GCP Catalog not configured; GCP list prices left as they were")
    return dg.MaterializeResult(
        metadata={
            "aws_offer_files": len(aws_files),
            "aws_prices": aws,
            "gcp_prices": gcp,
            **changed_days.metadata(changed_days.EVERY_DAY if changed else []),
        },
        data_version=version,
    )


@dg.asset(
    key=["raw", "exchange_rates"],
    pool="duckdb",
    group_name="list_prices",
    kinds={"duckdb"},
    description=(
        "US dollars per unit of each billing currency, per billing period, from "
        "prices/exchange_rates.csv (currency,billing_period,usd_per_unit). GPU bill lines in "
        "another currency are converted with it (GCP export rows use their own "
        "currency_conversion_rate); a currency and period without a rate stops the run."
    ),
)
def exchange_rates(warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = warehouse.landing_root / "prices" / "exchange_rates.csv"
    rows = load.read_exchange_rates(path, warehouse.landing_root) if path.exists() else []
    landed: list[int] = []
    with warehouse.connect() as conn:
        version, changed = changed_days.land_read_by_every_day(
            conn, "exchange_rates", lambda: landed.append(load.land_exchange_rates(conn, rows))
        )
    return dg.MaterializeResult(
        data_version=version,
        metadata={
            "rates": landed[0],
            "currencies": ", ".join(sorted({r["currency"] for r in rows})) or "none",
            **changed,
        },
    )
