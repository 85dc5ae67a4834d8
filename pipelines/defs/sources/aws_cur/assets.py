from typing import Any

import dagster as dg

from pipelines.defs.sources.aws_cur import load
from pipelines.lib import changed_days
from pipelines.lib.partitions import billing_periods_of, month_key, monthly, single_run
from pipelines.lib.resources import WarehouseResource
from pipelines.lib.store import Store


@dg.asset(
    key=["raw", "aws_cur_line_items"],
    partitions_def=monthly,
    backfill_policy=single_run,
    pool="duckdb",
    group_name="aws_cur",
    kinds={"duckdb", "aws"},
    description=(
        "AWS Data Exports (CUR 2.0) line items of each billing period. The newest complete "
        "delivery (manifest whose data files are all present) replaces the period atomically."
    ),
)
def aws_cur_line_items(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    store = warehouse.aws_cur_store()
    for period in billing_periods_of(context):
        context.add_asset_metadata(
            _land_period(context, warehouse, store, period), partition_key=month_key(period)
        )
    return dg.MaterializeResult()


def _land_period(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    store: Store,
    period: str,
) -> dict[str, Any]:
    """Land the newest complete delivery of the period; its materialization's metadata."""
    found = load.deliveries(store, period)
    delivery = load.newest_complete(found)
    if not found:
        # The period's bill comes from another source (FOCUS); nothing of AWS to replace.
        context.log.info(f"no CUR delivery for billing period {period}; left as it was")
        return {"billing_period": period, "deliveries_seen": 0, **changed_days.metadata([])}
    if delivery is None:
        raise dg.Failure(
            f"no complete CUR delivery for billing period {period} in {warehouse.aws_cur}",
            metadata={"deliveries_found": len(found)},
        )
    newer_incomplete = [
        d for d in found if not d.complete and d.delivered_at > delivery.delivered_at
    ]
    for broken in (d for d in newer_incomplete if d.overdue()):
        raise dg.Failure(
            f"delivery {broken.execution_id} of {period} ({store.describe(broken.manifest_key)})"
            f" is newer than the one landed but still lacks {len(broken.missing)} of its data"
            f" files {load.INCOMPLETE_GRACE} after its manifest: {', '.join(broken.missing[:3])}."
            " Restore the files, or remove the broken delivery's manifest to keep"
            f" {delivery.execution_id}."
        )
    for repeated in delivery.repeated:
        context.log.warning(
            f"the manifest of {delivery.execution_id} lists {repeated} more than once;"
            " it is read once"
        )
    for skipped in newer_incomplete:
        context.log.warning(
            f"delivery {skipped.execution_id} of {period} is incomplete "
            f"({len(skipped.missing)} data files not yet arrived); keeping "
            f"{delivery.execution_id}"
        )
    table = load.read_delivery(store, delivery)
    with warehouse.connect() as conn:
        landed = conn.execute(
            "select execution_id, delivered_at from raw.aws_cur_deliveries"
            " where billing_period = ?",
            [period],
        ).fetchall()
        load.refuse_rollback(
            store.describe(""), delivery, found, (landed[0][0], landed[0][1]) if landed else None
        )
        before = changed_days.bill_digests(conn, "aws_cur_line_items", period)
        load.land_delivery(conn, store, delivery, table)
        after = changed_days.bill_digests(conn, "aws_cur_line_items", period)
    return {
        "billing_period": period,
        "execution_id": delivery.execution_id,
        "format": delivery.format,
        "manifest": store.describe(delivery.manifest_key),
        "data_files": len(delivery.data_keys),
        "line_items": table.num_rows,
        "deliveries_seen": len(found),
        "incomplete_deliveries_skipped": len(newer_incomplete),
        **changed_days.metadata(changed_days.bill_days_changed(before, after)),
    }
