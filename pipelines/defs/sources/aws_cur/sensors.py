import json
import os

import dagster as dg

from pipelines.defs.sources.aws_cur import load
from pipelines.defs.transform.schedules import billing_job
from pipelines.lib.partitions import month_key
from pipelines.lib.resources import WarehouseResource

# How often to list the CUR location; AWS refreshes an export up to three times a day.
INTERVAL_S = int(os.environ.get("GPULEDGER_CUR_SENSOR_INTERVAL_S", "300"))


@dg.sensor(
    job=billing_job,
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Lists the CUR location (folder or s3://) and requests a billing run for every period "
        "whose newest complete delivery is one it has not seen. A delivery whose manifest "
        "arrived before its data files waits until they are all there."
    ),
)
def aws_cur_new_delivery(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    store = warehouse.aws_cur_store()
    present = store.listing()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    # The deliveries the warehouse holds already (landed by `gpuledger run` or an earlier run)
    # are not requested again.
    landed = {
        str(period): str(execution)
        for period, execution in warehouse.query_landed(
            "select billing_period, execution_id from raw.aws_cur_deliveries", []
        )
    }
    requests = []
    for period in load.billing_periods(store, present):
        newest = load.newest_complete(load.deliveries(store, period, present))
        if newest is None or seen.get(period) == newest.execution_id:
            continue
        if landed.get(period) == newest.execution_id:
            seen[period] = newest.execution_id
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{period}:{newest.execution_id}", partition_key=month_key(period)
            )
        )
        seen[period] = newest.execution_id
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
