"""Publish for BI after every successful transform: snapshot and Parquet exports (serving.py)."""

from pathlib import Path

import dagster as dg

from pipelines.defs.transform.assets import daily_dbt_models
from pipelines.lib.resources import WarehouseResource
from pipelines.lib.serving import publish


def serving_paths(warehouse: Path) -> tuple[Path, Path]:
    """``<warehouse folder>/serving`` and ``<warehouse folder>/exports``."""
    return warehouse.parent / "serving", warehouse.parent / "exports"


@dg.asset(
    key=["serving", "warehouse_snapshot"],
    deps=[daily_dbt_models],
    group_name="serving",
    pool="duckdb",
    kinds={"duckdb", "parquet"},
    description=(
        "Read-only copy of the warehouse for BI tools (serving/gpuledger.duckdb) and Parquet "
        "exports of every mart (exports/<mart>.parquet, or exports/<mart>/<YYYY-MM>.parquet for "
        "the marts by usage day, a month written again only when one of its days changed), each "
        "written to a temp file and renamed: "
        "a reader never blocks a run nor sees a half-written file (README, Serving)."
    ),
)
def warehouse_snapshot(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    source = Path(warehouse.warehouse)
    serving, exports = serving_paths(source)
    published = publish(source, serving, exports)
    context.log.info(f"published {published.snapshot} and {len(published.exports)} exports")
    return dg.MaterializeResult(
        metadata={
            "snapshot": dg.MetadataValue.path(str(published.snapshot)),
            "exports": dg.MetadataValue.path(str(exports)),
            "rows": dg.MetadataValue.json(published.exports),
            "published_at": published.published_at,
        }
    )
