"""AWS Data Exports (CUR 2.0) deliveries: find the newest complete one, validate it, land it.

Layout (DESIGN.md):
``<export>/metadata/BILLING_PERIOD=YYYY-MM/[<ts>-<executionId>/]*-Manifest.json``
and the data files the manifest lists under ``<export>/data/BILLING_PERIOD=YYYY-MM/...``. Every
delivery restates the whole period, so the newest complete delivery replaces the period.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.lib.arrow import conform, read_parquet, read_parquet_schema, require_columns
from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name
from pipelines.lib.warehouse import transaction

PERIOD_DIR = re.compile(r"^BILLING_PERIOD=(\d{4}-\d{2})$")
EXECUTION_DIR = re.compile(r"^(\d{8}T\d{6}Z)-")

REQUIRED_COLUMNS = (
    "identity_line_item_id",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_resource_id",
    "line_item_usage_amount",
    "line_item_unblended_cost",
    "line_item_currency_code",
    "product_instance_type",
)
NOT_NULL = (
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_unblended_cost",
    "line_item_currency_code",
)
# Required only when the delivery has line items of the type that needs them.
REQUIRED_FOR_TYPE = {
    "SavingsPlanCoveredUsage": ("savings_plan_savings_plan_effective_cost",),
    "SavingsPlanRecurringFee": (
        "savings_plan_total_commitment_to_date",
        "savings_plan_used_commitment",
    ),
    "DiscountedUsage": ("reservation_effective_cost",),
}
TS = pa.timestamp("us")
RAW_TYPES: dict[str, pa.DataType] = {
    "identity_line_item_id": pa.string(),
    "identity_time_interval": pa.string(),
    "bill_billing_period_start_date": TS,
    "bill_invoice_id": pa.string(),
    "bill_payer_account_id": pa.string(),
    "line_item_usage_account_id": pa.string(),
    "line_item_line_item_type": pa.string(),
    "line_item_usage_start_date": TS,
    "line_item_usage_end_date": TS,
    "line_item_product_code": pa.string(),
    "line_item_usage_type": pa.string(),
    "line_item_operation": pa.string(),
    "line_item_resource_id": pa.string(),
    "line_item_usage_amount": pa.float64(),
    "line_item_unblended_cost": pa.float64(),
    "line_item_currency_code": pa.string(),
    "product_instance_type": pa.string(),
    "product_product_family": pa.string(),
    "pricing_public_on_demand_cost": pa.float64(),
    "savings_plan_savings_plan_a_r_n": pa.string(),
    "savings_plan_savings_plan_effective_cost": pa.float64(),
    "savings_plan_total_commitment_to_date": pa.float64(),
    "savings_plan_used_commitment": pa.float64(),
    "reservation_effective_cost": pa.float64(),
}


@dataclass(frozen=True)
class Delivery:
    period: str
    execution_id: str
    export_arn: str | None
    manifest_file: Path
    delivered_at: str
    data_files: tuple[Path, ...]
    missing_files: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing_files


def billing_periods(root: Path) -> list[str]:
    """Every billing period with at least one manifest under ``root`` (the aws_cur folder)."""
    periods = set()
    for folder in root.glob("*/metadata/BILLING_PERIOD=*"):
        match = PERIOD_DIR.match(folder.name)
        if match and any(folder.rglob("*Manifest.json")):
            periods.add(match.group(1))
    return sorted(periods)


def _read_manifest(path: Path, export_dir: Path, period: str) -> Delivery:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LandingError(path, f"not a readable manifest ({exc})") from exc
    for key in ("executionId", "dataFiles"):
        if key not in manifest:
            raise LandingError(path, "manifest field missing", column=key)
    files: list[Path] = []
    missing: list[str] = []
    marker = f"/{export_dir.name}/"
    for uri in manifest["dataFiles"]:
        # dataFiles are full s3:// URIs of where AWS wrote them; map them onto this landing zone.
        if marker not in uri:
            missing.append(uri)
            continue
        local = export_dir / uri.split(marker, 1)[1]
        if local.is_file():
            files.append(local)
        else:
            missing.append(uri)
    stamp = EXECUTION_DIR.match(path.parent.name)
    delivered_at = (
        stamp.group(1)
        if stamp
        else str(manifest.get("exportCreationTime") or f"mtime:{path.stat().st_mtime_ns:020d}")
    )
    return Delivery(
        period=period,
        execution_id=str(manifest["executionId"]),
        export_arn=manifest.get("exportArn"),
        manifest_file=path,
        delivered_at=delivered_at,
        data_files=tuple(files),
        missing_files=tuple(missing),
    )


def deliveries(root: Path, period: str) -> list[Delivery]:
    """All deliveries of a period, oldest first."""
    found = []
    for export_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        meta = export_dir / "metadata" / f"BILLING_PERIOD={period}"
        for manifest in sorted(meta.rglob("*Manifest.json")):
            found.append(_read_manifest(manifest, export_dir, period))
    return sorted(found, key=lambda d: (d.delivered_at, d.execution_id))


def newest_complete(found: list[Delivery]) -> Delivery | None:
    complete = [d for d in found if d.complete]
    return complete[-1] if complete else None


def read_delivery(delivery: Delivery, landing: Path) -> pa.Table:
    tables = []
    for path in delivery.data_files:
        schema = read_parquet_schema(path)
        require_columns(path, schema, REQUIRED_COLUMNS, "CUR 2.0 data file")
        present = [c for c in RAW_TYPES if c in schema.names]
        table = conform(path, read_parquet(path, present), RAW_TYPES, NOT_NULL)
        types = set(table.column("line_item_line_item_type").to_pylist())
        for line_type, needs in REQUIRED_FOR_TYPE.items():
            if line_type in types:
                require_columns(path, schema, needs, f"CUR 2.0 data file with {line_type} lines")
        source = pa.array([lineage_name(path, landing)] * table.num_rows, pa.string())
        tables.append(table.append_column("source_file", source))
    if not tables:
        return pa.table({name: pa.array([], t) for name, t in RAW_TYPES.items()})
    return pa.concat_tables(tables)


def land_delivery(
    conn: duckdb.DuckDBPyConnection, delivery: Delivery, table: pa.Table, landing: Path
) -> None:
    """Replace the billing period with this delivery, atomically."""
    conn.register("delivery_rows", table)
    try:
        with transaction(conn):
            conn.execute(
                "delete from raw.aws_cur_line_items where billing_period = ?", [delivery.period]
            )
            conn.execute(
                "delete from raw.aws_cur_deliveries where billing_period = ?", [delivery.period]
            )
            columns = ", ".join(RAW_TYPES)
            conn.execute(
                f"insert into raw.aws_cur_line_items (billing_period, execution_id, source_file, "  # noqa: S608
                f"{columns}) select ?, ?, source_file, {columns} from delivery_rows",
                [delivery.period, delivery.execution_id],
            )
            conn.execute(
                "insert into raw.aws_cur_deliveries values (?, ?, ?, ?, ?, ?, ?)",
                [
                    delivery.period,
                    delivery.execution_id,
                    delivery.export_arn,
                    lineage_name(delivery.manifest_file, landing),
                    delivery.delivered_at,
                    len(delivery.data_files),
                    table.num_rows,
                ],
            )
    finally:
        conn.unregister("delivery_rows")
