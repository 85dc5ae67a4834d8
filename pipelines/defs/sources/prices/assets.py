from collections.abc import Iterator

import dagster as dg

from pipelines.defs.sources.prices import load
from pipelines.lib import changed_days
from pipelines.lib.resources import WarehouseResource


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", "api_prices"],
            description=(
                "API token prices (LiteLLM model_prices_and_context_window.json format): the "
                "bundled snapshot overridden by prices/*.json in the landing zone."
            ),
            group_name="prices",
            kinds={"duckdb", "json"},
        ),
        dg.AssetSpec(
            ["raw", "api_equivalents"],
            description=(
                "Which API model each served model is compared with (served_model,api_model): "
                "bundled defaults overridden by prices/api_equivalents.csv."
            ),
            group_name="prices",
            kinds={"duckdb", "csv"},
        ),
    ],
    pool="duckdb",
)
def price_book(warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    prices, equivalents, files = load.price_book(warehouse.landing_root)
    with warehouse.connect() as conn:
        before = changed_days.versions(conn, changed_days.READ_BY_EVERY_DAY)
        load.land_price_book(conn, prices, equivalents)
        changed = changed_days.versions(conn, changed_days.READ_BY_EVERY_DAY) != before
        versions = [changed_days.data_version(conn, t) for t in ("api_prices", "api_equivalents")]
    yield dg.MaterializeResult(
        asset_key=["raw", "api_prices"],
        data_version=versions[0],
        metadata={
            "api_models": len(prices),
            "override_files": ", ".join(str(f) for f in files) or "none",
            **changed_days.metadata(changed_days.EVERY_DAY if changed else []),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["raw", "api_equivalents"],
        metadata={"served_models": len(equivalents)},
        data_version=versions[1],
    )
