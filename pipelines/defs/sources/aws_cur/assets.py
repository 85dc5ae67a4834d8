from collections.abc import Iterable
from typing import Any

import dagster as dg
import pyarrow as pa

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
        "AWS Data Exports (CUR 2.0) and legacy CUR line items of each billing period. Each "
        "export's newest complete delivery (manifest whose data files are all present) replaces "
        "its part of the period, every export of every location at once; one payer account's "
        "period in two exports is refused."
    ),
)
def aws_cur_line_items(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    stores = warehouse.aws_cur_stores()
    for period in billing_periods_of(context):
        context.add_asset_metadata(
            _land_period(context, warehouse, stores, period), partition_key=month_key(period)
        )
    return dg.MaterializeResult()


def _newest(
    context: dg.AssetExecutionContext, store: Store, period: str, found: list[load.Delivery]
) -> load.Delivery:
    """The export's delivery to land: its newest complete one, unless a newer one is overdue."""
    delivery = load.newest_complete(found)
    if delivery is None:
        raise dg.Failure(
            f"no complete CUR delivery for billing period {period} in {found[0].export}",
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
    return delivery


def _land_period(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    stores: list[Store],
    period: str,
) -> dict[str, Any]:
    """Land each export's newest complete delivery of the period (every location's, every
    export's); its materialization's metadata."""
    chosen: list[tuple[Store, load.Delivery, list[load.Delivery]]] = []
    for store in stores:
        for found in load.by_export(load.deliveries(store, period)).values():
            chosen.append((store, _newest(context, store, period, found), found))
    if not chosen:
        # The period's bill comes from another source (FOCUS); nothing of AWS to replace.
        context.log.info(f"no CUR delivery for billing period {period}; left as it was")
        return {"billing_period": period, "deliveries_seen": 0, **changed_days.metadata([])}
    tables = {d.export: load.read_delivery(store, d) for store, d, _ in chosen}
    load.refuse_shared_payers(period, tables)
    with warehouse.connect() as conn:
        landed = {
            str(export): (str(execution), str(delivered))
            for export, execution, delivered in conn.execute(
                "select export, execution_id, delivered_at from raw.aws_cur_deliveries"
                " where billing_period = ?",
                [period],
            ).fetchall()
        }
        for _, delivery, found in chosen:
            load.refuse_rollback(delivery.export, delivery, found, landed.get(delivery.export))
        before = changed_days.bill_digests(conn, "aws_cur_line_items", period)
        load.land_deliveries(conn, period, [(store, d, tables[d.export]) for store, d, _ in chosen])
        after = changed_days.bill_digests(conn, "aws_cur_line_items", period)
    return {
        "billing_period": period,
        "exports": len(chosen),
        "execution_id": ";".join(d.execution_id for _, d, _ in chosen),
        "format": ",".join(sorted({d.format for _, d, _ in chosen})),
        "manifest": ", ".join(store.describe(d.manifest_key) for store, d, _ in chosen),
        "data_files": sum(len(d.data_keys) for _, d, _ in chosen),
        "line_items": sum(t.num_rows for t in tables.values()),
        "deliveries_seen": sum(len(found) for _, _, found in chosen),
        "payer_accounts": ", ".join(
            sorted(
                {
                    p
                    for t in tables.values()
                    for p in t.column("bill_payer_account_id").to_pylist()
                    if p
                }
            )
        ),
        **changed_days.metadata(changed_days.bill_days_changed(before, after)),
    }


def _payers(tables: Iterable[pa.Table]) -> set[str]:
    return {p for t in tables for p in t.column("bill_payer_account_id").to_pylist() if p}
