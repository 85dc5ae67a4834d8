from collections import Counter

import dagster as dg

from pipelines.defs.sources.inference import gateways, load, objectives
from pipelines.lib import changed_days
from pipelines.lib.partitions import daily, days_of, single_run
from pipelines.lib.resources import WarehouseResource
from pipelines.lib.warehouse import replace_partition


@dg.asset(
    key=["raw", "inference_requests"],
    partitions_def=daily,
    backfill_policy=single_run,
    pool="duckdb",
    group_name="inference",
    kinds={"duckdb", "json"},
    description=(
        "Inference request logs of one day: gpuledger's envelope, LiteLLM's logging payloads and "
        "OpenTelemetry GenAI spans. Invalid lines go to raw.quarantine with file, line and "
        "reason."
    ),
)
def inference_requests(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    landed = quarantined = 0
    skipped: Counter[str] = Counter()
    for folder in ("inference/requests", "inference/litellm", "inference/otel"):
        warehouse.sync(folder)
    root = warehouse.landing_root / "inference"
    days = [(day, load.request_files(root, day)) for day in days_of(context)]
    with warehouse.connect() as conn:
        for day, day_landed, day_quarantined, day_skipped in load.land_days(
            conn, days, warehouse.landing_root
        ):
            if day_quarantined:
                context.log.warning(
                    f"{day_quarantined} request log lines of {day} quarantined (raw.quarantine)"
                )
            landed += day_landed
            quarantined += day_quarantined
            skipped += day_skipped
    undated = gateways.undated_files(root)
    if undated:
        context.log.warning(
            f"{len(undated)} gateway log files have no date in their path and are not landed"
            f" (a YYYY-MM-DD folder or name gives a file its day): {', '.join(undated[:10])}"
        )
    files = sum(len(day_files) for _, day_files in days)
    return dg.MaterializeResult(
        metadata={
            "files": files,
            "requests": landed,
            "quarantined": quarantined,
            **{f"skipped: {reason}": count for reason, count in sorted(skipped.items())},
            "gateway files without a date": len(undated),
        }
    )


@dg.asset(
    key=["raw", "service_objectives"],
    pool="duckdb",
    group_name="objectives",
    kinds={"duckdb", "yaml"},
    description=(
        "Service-level objectives per workload (inference/objectives.yml): time to first token, "
        "time per output token, end to end. The useful tokens of requests that met them are "
        "goodput."
    ),
)
def service_objectives(warehouse: WarehouseResource) -> dg.MaterializeResult:
    table = objectives.read_objectives(warehouse.landing_root)
    with warehouse.connect() as conn:
        version, changed = changed_days.land_read_by_every_day(
            conn,
            "service_objectives",
            lambda: replace_partition(conn, "service_objectives", None, table),
        )
    return dg.MaterializeResult(
        data_version=version, metadata={"workloads": table.num_rows, **changed}
    )
