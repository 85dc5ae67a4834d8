import dagster as dg

from pipelines.defs.sources.inference import load
from pipelines.lib.partitions import daily, days_of, single_run
from pipelines.lib.resources import WarehouseResource


@dg.asset(
    key=["raw", "inference_requests"],
    partitions_def=daily,
    backfill_policy=single_run,
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
    landed = quarantined = 0
    warehouse.sync("inference/requests")
    root = warehouse.landing_root / "inference" / "requests"
    days = [(day, load.request_files(root, day)) for day in days_of(context)]
    with warehouse.connect() as conn:
        for day, day_landed, day_quarantined in load.land_days(conn, days, warehouse.landing_root):
            if day_quarantined:
                context.log.warning(
                    f"{day_quarantined} request log lines of {day} quarantined (raw.quarantine)"
                )
            landed += day_landed
            quarantined += day_quarantined
    files = sum(len(day_files) for _, day_files in days)
    return dg.MaterializeResult(
        metadata={"files": files, "requests": landed, "quarantined": quarantined}
    )
