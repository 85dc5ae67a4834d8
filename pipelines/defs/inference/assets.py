import dagster as dg

from pipelines.defs.inference import load
from pipelines.lib.partitions import daily, day_of
from pipelines.lib.resources import WarehouseResource


@dg.asset(
    key=["raw", "inference_requests"],
    partitions_def=daily,
    pool="duckdb",
    group_name="inference",
    kinds={"duckdb", "json"},
    description=(
        "Inference request logs of one day. Invalid lines go to raw.quarantine with file, line "
        "and reason."
    ),
)
def inference_requests(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    day = day_of(context.partition_key)
    files = load.request_files(warehouse.landing_root / "inference" / "requests", day)
    with warehouse.connect() as conn:
        landed, quarantined = load.land_day(conn, day, files, warehouse.landing_root)
    if quarantined:
        context.log.warning(
            f"{quarantined} request log lines of {day} quarantined (raw.quarantine)"
        )
    return dg.MaterializeResult(
        metadata={"files": len(files), "requests": landed, "quarantined": quarantined}
    )
