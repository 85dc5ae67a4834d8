"""Public list prices of GPU capacity, by effective date.

* AWS: Price List (Bulk/Query API) offer files, ``list_prices/aws/*.json`` in the landing zone:
  On-Demand and Capacity Block Linux instance-hour prices of GPU instance types.
* GCP: the Cloud Billing Catalog API through google-cloud-billing's ``CloudCatalogClient``
  (``list_services`` -> Compute Engine, ``list_skus``), tiered rates kept tier by tier. The
  endpoint is configurable (GPULEDGER_GCP_CATALOG_ENDPOINT, e.g. ``http://127.0.0.1:8123`` for a
  local fake); credentials come from Google's default chain.

Prices change (AWS cut p4d.24xlarge by about a third in 2025), so every price keeps its
effective time; dbt turns them into validity ranges.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name
from pipelines.lib.warehouse import replacing

MONEY = pa.decimal128(38, 10)
PRICE_COLUMNS: dict[str, pa.DataType] = {
    "provider": pa.string(),
    "sku_id": pa.string(),
    "price_id": pa.string(),
    "description": pa.string(),
    "instance_type": pa.string(),
    "gpu_count": pa.int32(),
    "resource_group": pa.string(),
    "region": pa.string(),
    "market_option": pa.string(),
    "usage_unit": pa.string(),
    "tier_start_usage_amount": pa.float64(),
    "unit_price": MONEY,
    "currency": pa.string(),
    "effective_at": pa.timestamp("us"),
    "source": pa.string(),
}
COMPUTE_ENGINE = "Compute Engine"


@dataclass(frozen=True)
class CatalogConfig:
    endpoint: str | None = None  # "http://127.0.0.1:8123" for a local fake; None for Google's


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def read_aws_offer_file(path: Path, landing: Path) -> list[dict[str, Any]]:
    """Instance-hour prices of GPU instance types from one AmazonEC2 offer file."""
    try:
        offer = json.loads(path.read_text())
        products = offer["products"]
        terms = offer["terms"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise LandingError(path, f"not an AWS Price List offer file ({exc})") from exc
    rows = []
    for sku, product in products.items():
        attributes = product.get("attributes", {})
        gpus = int(attributes.get("gpu") or 0)
        if not gpus or attributes.get("operatingSystem", "Linux") != "Linux":
            continue
        # Only On-Demand terms: a Reserved term nested under OnDemand (one sample does this)
        # is recognised by its purchase option and skipped.
        for term in terms.get("OnDemand", {}).get(sku, {}).values():
            if term.get("termAttributes", {}).get("PurchaseOption"):
                continue
            for dimension in term.get("priceDimensions", {}).values():
                if dimension.get("unit") != "Hrs":
                    continue
                for currency, price in dimension.get("pricePerUnit", {}).items():
                    rows.append(
                        {
                            "provider": "aws",
                            "sku_id": sku,
                            "price_id": dimension.get("rateCode"),
                            "description": dimension.get("description"),
                            "instance_type": attributes.get("instanceType"),
                            "gpu_count": gpus,
                            "resource_group": "Compute Instance",
                            "region": attributes.get("regionCode") or attributes.get("location"),
                            "market_option": attributes.get("marketoption") or "OnDemand",
                            "usage_unit": "h",
                            "tier_start_usage_amount": float(dimension.get("beginRange") or 0),
                            "unit_price": Decimal(price),
                            "currency": currency,
                            "effective_at": _utc(term["effectiveDate"]),
                            "source": lineage_name(path, landing),
                        }
                    )
    return rows


def catalog_client(config: CatalogConfig) -> Any:
    from google.cloud import billing_v1

    if config.endpoint is None:
        return billing_v1.CloudCatalogClient()
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.billing_v1.services.cloud_catalog.transports.rest import (
        CloudCatalogRestTransport,
    )

    scheme, _, host = config.endpoint.partition("://")
    transport = CloudCatalogRestTransport(
        host=host, url_scheme=scheme, credentials=AnonymousCredentials()
    )
    return billing_v1.CloudCatalogClient(transport=transport)


def read_gcp_catalog(client: Any, source: str) -> list[dict[str, Any]]:
    """GPU SKU prices of Compute Engine, every tier and pricing version the Catalog returns."""
    rows = []
    for service in client.list_services():
        if service.display_name != COMPUTE_ENGINE:
            continue
        for sku in client.list_skus(parent=service.name):
            if sku.category.resource_group != "GPU":
                continue
            for info in sku.pricing_info:
                expression = info.pricing_expression
                for rate in expression.tiered_rates:
                    price = rate.unit_price
                    rows.append(
                        {
                            "provider": "gcp",
                            "sku_id": sku.sku_id,
                            "price_id": None,
                            "description": sku.description,
                            "instance_type": None,
                            "gpu_count": 1,
                            "resource_group": sku.category.resource_group,
                            "region": ",".join(sku.service_regions),
                            "market_option": sku.category.usage_type,
                            "usage_unit": expression.usage_unit,
                            "tier_start_usage_amount": float(rate.start_usage_amount),
                            "unit_price": Decimal(price.units) + Decimal(price.nanos) / 10**9,
                            "currency": price.currency_code,
                            "effective_at": info.effective_time.astimezone(UTC).replace(
                                tzinfo=None
                            ),
                            "source": source,
                        }
                    )
    return rows


def land_prices(conn: duckdb.DuckDBPyConnection, provider: str, rows: list[dict[str, Any]]) -> int:
    """Replace one provider's prices (the sources hold the whole history), atomically."""
    table = pa.Table.from_pylist(
        [{c: r.get(c) for c in PRICE_COLUMNS} for r in rows],
        schema=pa.schema(list(PRICE_COLUMNS.items())),
    )
    with replacing(conn) as staged:
        staged.rows("list_prices", provider, table)
    return table.num_rows


RATE_COLUMNS: dict[str, pa.DataType] = {
    "currency": pa.string(),
    "billing_period": pa.string(),
    "usd_per_unit": MONEY,
    "source_file": pa.string(),
    "source_row": pa.int32(),
}
CURRENCY = re.compile(r"^[A-Z]{3}$")
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def read_exchange_rates(path: Path, landing: Path) -> list[dict[str, Any]]:
    """``prices/exchange_rates.csv``: ``currency,billing_period,usd_per_unit``, one row per
    currency and month (the rate the finance team books that month's bills at).

    A bill line in another currency is converted with the rate of its billing period; a
    currency and period without a rate stops the run (it is never read as USD).
    """
    name = lineage_name(path, landing)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"currency", "billing_period", "usd_per_unit"} - set(reader.fieldnames or ())
        if missing:
            raise LandingError(
                path,
                f"missing column(s) {', '.join(sorted(missing))}",
                row=1,
                expected="header currency,billing_period,usd_per_unit",
            )
        rows: list[dict[str, Any]] = []
        seen: dict[tuple[str, str], int] = {}
        for number, record in enumerate(reader, start=2):
            currency = (record["currency"] or "").strip().upper()
            period = (record["billing_period"] or "").strip()
            rate_text = (record["usd_per_unit"] or "").strip()
            if not CURRENCY.match(currency):
                raise LandingError(
                    path, f"currency {currency!r}", row=number, column="currency",
                    expected="an ISO 4217 code such as EUR",
                )  # fmt: skip
            if not PERIOD.match(period):
                raise LandingError(
                    path, f"billing period {period!r}", row=number, column="billing_period",
                    expected="YYYY-MM",
                )  # fmt: skip
            try:
                rate = Decimal(rate_text)
            except ArithmeticError:
                rate = Decimal(0)
            if not rate.is_finite() or rate <= 0:
                raise LandingError(
                    path, f"rate {rate_text!r}", row=number, column="usd_per_unit",
                    expected="a positive number of US dollars per unit of the currency",
                )  # fmt: skip
            if (currency, period) in seen:
                raise LandingError(
                    path,
                    f"second rate for {currency} in {period}"
                    f" (the first is in row {seen[currency, period]})",
                    row=number,
                    column="billing_period",
                    expected="one rate per currency and billing period",
                )
            seen[currency, period] = number
            rows.append(
                {
                    "currency": currency,
                    "billing_period": period,
                    "usd_per_unit": rate,
                    "source_file": name,
                    "source_row": number,
                }
            )
    return rows


def land_exchange_rates(conn: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> int:
    """Replace every exchange rate (the file holds the whole history), atomically."""
    table = pa.Table.from_pylist(rows, schema=pa.schema(list(RATE_COLUMNS.items())))
    with replacing(conn) as staged:
        staged.rows("exchange_rates", None, table)
    return table.num_rows
