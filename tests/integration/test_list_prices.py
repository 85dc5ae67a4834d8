"""List prices: AWS Price List offer files and GCP's Catalog API (the real client against a
local fake endpoint), joined by effective date."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.defs.sources.list_prices import load
from tests.conftest import SAMPLES, Pipeline
from tests.fixtures.fake_catalog import fake_catalog

pytestmark = pytest.mark.integration
SKUS = SAMPLES / "gcp-pricing-catalog" / "skus.json"


def test_catalog_client_reads_gpu_skus_with_tiered_rates_and_pages() -> None:
    with fake_catalog(SKUS) as (endpoint, served):
        rows = load.read_gcp_catalog(load.catalog_client(load.CatalogConfig(endpoint)), endpoint)
    # The real client followed nextPageToken to the second (empty) page.
    assert served == [
        "/v1/services",
        "/v1/services/6F81-5844-456A/skus",
        "/v1/services/6F81-5844-456A/skus",
    ]
    assert [(r["sku_id"], r["description"], r["unit_price"], r["currency"]) for r in rows] == [
        ("039F-D0DA-4055", "Nvidia Tesla A100 GPU running in Americas", Decimal("2.933908"), "USD")
    ]
    assert rows[0]["usage_unit"] == "h"
    assert rows[0]["effective_at"].isoformat() == "2023-03-24T10:52:50.681000"


def test_aws_offer_files_give_on_demand_and_capacity_block_prices(tmp_path: Path) -> None:
    rows = [
        row
        for path in sorted((SAMPLES / "aws-pricing").glob("*.json"))
        for row in load.read_aws_offer_file(path, SAMPLES)
    ]
    assert [
        (r["instance_type"], r["market_option"], r["unit_price"], r["gpu_count"]) for r in rows
    ] == [
        ("p4d.24xlarge", "OnDemand", Decimal("32.7726000000"), 8),
        # Capacity Blocks are prepaid: their usage lines read $0.00/h.
        ("p4d.24xlarge", "CapacityBlock", Decimal("0E-10"), 8),
    ]
    # pricing-us-east-2.json's GPU type (p3.8xlarge) is Windows BYOL only: no Linux price.


@pytest.fixture(scope="module")
def priced_pipeline(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    base = pipeline_factory(gpus=1, days=1, seed=5)  # the GCP and FOCUS suites' fleet: built once
    pipeline = base.copy_to(tmp_path_factory.mktemp("prices"))
    aws = pipeline.landing / "list_prices" / "aws"
    aws.mkdir(parents=True)
    for path in (SAMPLES / "aws-pricing").glob("*.json"):
        (aws / path.name).write_bytes(path.read_bytes())
    # A later offer file: p4d.24xlarge On-Demand cut to $21.96 from 2025-06-01.
    later = json.loads((SAMPLES / "aws-pricing" / "pricing-us-east-1.json").read_text())
    term = later["terms"]["OnDemand"]["H7NGEAC6UEHNTKSJ"]["H7NGEAC6UEHNTKSJ.JRTCKXETXF"]
    term["effectiveDate"] = "2025-06-01T00:00:00Z"
    dimension = next(iter(term["priceDimensions"].values()))
    dimension["pricePerUnit"] = {"USD": "21.9600000000"}
    (aws / "pricing-us-east-1-20250601.json").write_text(json.dumps(later))
    with fake_catalog(SKUS) as (endpoint, _), pytest.MonkeyPatch.context() as env:
        env.setenv("GPULEDGER_GCP_CATALOG_ENDPOINT", endpoint)
        pipeline.run()
    return pipeline


@pytest.mark.parametrize(
    ("moment", "price"),
    [("2025-01-01", Decimal("32.7726000000")), ("2025-07-01", Decimal("21.9600000000"))],
)
def test_as_of_join_picks_the_price_in_force(
    priced_pipeline: Pipeline, moment: str, price: Decimal
) -> None:
    rows = priced_pipeline.query(
        "select unit_price, gpu_hour_price from marts.dim_gpu_list_price"
        " where instance_type = 'p4d.24xlarge' and market_option = 'OnDemand'"
        " and valid_from_at <= cast(? as timestamp)"
        " and (valid_to_at > cast(? as timestamp) or valid_to_at is null)",
        [moment, moment],
    )
    assert rows == [(price, price / 8)]


def test_gcp_gpu_price_lands_beside_aws(priced_pipeline: Pipeline) -> None:
    rows = priced_pipeline.query(
        "select provider, count(*) from marts.dim_gpu_list_price group by 1 order by 1"
    )
    assert rows == [("aws", 3), ("gcp", 1)]
