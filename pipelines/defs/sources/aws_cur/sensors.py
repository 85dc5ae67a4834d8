import json
import os

import dagster as dg

from pipelines.defs.sources import discovery
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
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    # The deliveries the warehouse holds already (landed by `gpuledger run` or an earlier run)
    # are not requested again.
    landed = discovery.cur_landed(warehouse.query_landed)
    requests = []
    for period, execution in discovery.cur_newest(warehouse.aws_cur_stores()).items():
        if execution is None or seen.get(period) == execution:
            continue
        seen[period] = execution
        if landed.get(period) != execution:
            requests.append(
                dg.RunRequest(run_key=f"{period}:{execution}", partition_key=month_key(period))
            )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
