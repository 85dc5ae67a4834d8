"""Bills restated in a test: a CUR delivery copied as a newer one, one hour of it dearer; and
the billing periods a run built."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def periods_built(instance: Any, run_ids: list[str]) -> set[str]:
    """The billing periods whose bill lines (marts.billing_focus, the last of the monthly dbt
    asset) those runs built: the partitions Dagster recorded."""
    import dagster as dg

    return {
        entry.asset_materialization.partition
        for run_id in run_ids
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        if entry.asset_materialization is not None
        and entry.asset_materialization.asset_key.path == ["marts", "billing_focus"]
    }


def restate_hour(data_file: Path, hour: str, dollars: float) -> None:
    """A CUR 2.0 data file with one hour's covered GPU usage and plan fee dearer."""
    table = pq.read_table(data_file)
    start = pc.cast(table["line_item_usage_start_date"], pa.string())
    at_hour = pc.starts_with(start, hour)
    kind = table["line_item_line_item_type"]
    covered = pc.and_(at_hour, pc.equal(kind, "SavingsPlanCoveredUsage"))
    fee = pc.and_(at_hour, pc.equal(kind, "SavingsPlanRecurringFee"))
    assert pc.sum(covered).as_py() >= 1 and pc.sum(fee).as_py() == 1
    first_covered = pc.equal(pc.cumulative_sum(pc.cast(covered, pa.int64())), 1)
    one_line = pc.and_(covered, first_covered)
    for column, mask in (
        ("savings_plan_savings_plan_effective_cost", one_line),
        ("savings_plan_used_commitment", fee),
    ):
        index = table.schema.get_field_index(column)
        values = table[column]
        table = table.set_column(index, column, pc.if_else(mask, pc.add(values, dollars), values))
    pq.write_table(table, data_file)


def redeliver(period_dir: Path, source: Path, stamp: str, execution_id: str) -> Path:
    """Copy a delivery to a newer execution folder, as AWS's create-new mode lays it out."""
    target = period_dir / f"{stamp}-{execution_id}"
    shutil.copytree(source, target)
    data_period = Path(str(period_dir).replace("/metadata/", "/data/"))
    data_source = data_period / source.name
    shutil.copytree(data_source, data_period / target.name)
    manifest_file = next(target.glob("*Manifest.json"))
    manifest = json.loads(manifest_file.read_text())
    manifest["executionId"] = execution_id
    manifest["dataFiles"] = [u.replace(source.name, target.name) for u in manifest["dataFiles"]]
    manifest_file.write_text(json.dumps(manifest))
    return target


def redelivered_data_file(landing: Path, period: str, execution_id: str) -> Path:
    """A period's CUR delivered again by AWS (a new execution of the export, an hour after the
    newest, as AWS restates a period): the first data file of the new delivery, to change."""
    period_dir = next(landing.glob(f"aws_cur/*/metadata/BILLING_PERIOD={period}"))
    newest = sorted(period_dir.iterdir())[-1]
    stamp = datetime.strptime(newest.name[:16], "%Y%m%dT%H%M%SZ") + timedelta(hours=1)
    restated = redeliver(period_dir, newest, stamp.strftime("%Y%m%dT%H%M%SZ"), execution_id)
    return sorted(Path(str(restated).replace("/metadata/", "/data/")).glob("*.parquet"))[0]


def restate_october_hour(landing: Path, hour: str, execution_id: str) -> None:
    """October's CUR delivered again (as `execution_id`), `hour` of it $1.00 dearer
    (restate_hour)."""
    restate_hour(redelivered_data_file(landing, "2026-10", execution_id), hour, dollars=1.0)
