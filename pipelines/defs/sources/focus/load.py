"""FinOps FOCUS 1.0-1.3 exports from any provider (CSV, CSV.gz, Parquet) under ``focus/``.

Real exports deviate from the spec; these rules (docs/focus-ingest.md) make them loadable
without trusting them blindly:

1. Column names match FOCUS names case-insensitively (``SkuPriceid`` is ``SkuPriceId``);
   unknown columns are kept only when ``x_``-prefixed, as the spec allows.
2. ``NULL``, ``null`` and empty strings are nulls.
3. Timestamps without a zone are UTC; a value that is not a timestamp quarantines its row.
4. Enumerated values are matched case-insensitively to the spec's spelling
   (``Usage-based`` -> ``Usage-Based``); an unknown value quarantines its row.
5. Shifted columns are detected, not trusted: a row whose ``AvailabilityZone`` or
   ``BillingCurrency`` holds a number, or whose costs do not parse, is quarantined.

Quarantined rows go to ``raw.quarantine`` with file, row and reason; loaded plus quarantined
rows always add up to the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name, regular_files
from pipelines.lib.warehouse import Quarantine, Rejected, replace_partition

SOURCE = "focus"
NUMERIC = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ConsumedQuantity",
    "PricingQuantity",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "CommitmentDiscountQuantity",
)
TIMESTAMPS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
TEXT = (
    "AvailabilityZone",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedUnit",
    "InvoiceId",
    "InvoiceIssuerName",
    "PricingCategory",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuPriceId",
    "SkuMeter",
    "SkuPriceDetails",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
)
REQUIRED = (
    "BillingPeriodStart",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "BilledCost",
    "EffectiveCost",
)
ENUMS = {
    "ChargeCategory": ("Usage", "Purchase", "Tax", "Credit", "Adjustment"),
    "ChargeClass": ("Correction",),
    "ChargeFrequency": ("One-Time", "Recurring", "Usage-Based"),
    "CommitmentDiscountStatus": ("Used", "Unused"),
    "CommitmentDiscountCategory": ("Spend", "Usage"),
    "PricingCategory": ("Standard", "Dynamic", "Committed", "Other"),
}
CANONICAL = {name.lower(): name for name in (*NUMERIC, *TIMESTAMPS, *TEXT)}
NULLS = {"", "null", "NULL", "Null"}
NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE]-?\d+)?$")
COLUMNS: dict[str, pa.DataType] = {
    "billing_period": pa.string(),
    "source_file": pa.string(),
    "source_row": pa.int32(),
    **{name: pa.timestamp("us") for name in TIMESTAMPS},
    **{name: pa.float64() for name in NUMERIC},
    **{name: pa.string() for name in TEXT},
    "x_extensions": pa.string(),
}


def focus_files(root: Path) -> list[Path]:
    patterns = ("*.csv", "*.csv.gz", "*.parquet")
    return regular_files({p for pattern in patterns for p in root.rglob(pattern)}, root)


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path).to_pylist()
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        text = data.decode("utf-8-sig")
    except (pa.ArrowException, OSError, EOFError, UnicodeDecodeError) as exc:
        raise LandingError(path, f"not a readable FOCUS file ({exc})") from exc
    # Blank lines between rows (seen in the spec's own examples) are not rows.
    return [
        row
        for row in csv.DictReader(io.StringIO(text))
        if any((v or "").strip() for v in row.values())
    ]


def _timestamp(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def normalize(record: dict[str, Any]) -> dict[str, Any]:
    """One export row to FOCUS columns; ValueError says why the row cannot be trusted."""
    row: dict[str, Any] = {}
    extensions: dict[str, Any] = {}
    for name, value in record.items():
        if name is None:
            raise ValueError("more values than header columns (shifted row)")
        text = (
            None if value is None or (isinstance(value, str) and value.strip() in NULLS) else value
        )
        canonical = CANONICAL.get(name.strip().lower())
        if canonical is None:
            if name.strip().lower().startswith("x_"):
                extensions[name.strip()] = text
            continue
        row[canonical] = text
    missing = [
        c for c in REQUIRED if row.get(c) is None and c not in ("BilledCost", "EffectiveCost")
    ]
    if missing:
        raise ValueError(f"required value missing: {', '.join(missing)}")
    for name in TIMESTAMPS:
        if row.get(name) is not None and not isinstance(row[name], datetime):
            try:
                row[name] = _timestamp(str(row[name]))
            except ValueError as exc:
                raise ValueError(f"{name} {row[name]!r} is not a timestamp") from exc
        elif isinstance(row.get(name), datetime) and row[name].tzinfo is not None:
            row[name] = row[name].astimezone(UTC).replace(tzinfo=None)
    for name in NUMERIC:
        if row.get(name) is not None:
            try:
                row[name] = float(row[name])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name} {row[name]!r} is not a number") from exc
    for name in ("BilledCost", "EffectiveCost"):
        if row.get(name) is None:
            raise ValueError(f"required value missing: {name}")
    for name, allowed in ENUMS.items():
        value = row.get(name)
        if value is None:
            continue
        match = next((a for a in allowed if a.lower() == str(value).strip().lower()), None)
        if match is None:
            raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
        row[name] = match
    for name in ("AvailabilityZone", "BillingCurrency", "RegionId"):
        if row.get(name) is not None and NUMBER.match(str(row[name]).strip()):
            raise ValueError(f"{name} holds a number ({row[name]}): columns shifted in the export")
    row["x_extensions"] = (
        None if not extensions else ",".join(f"{k}={v}" for k, v in sorted(extensions.items()))
    )
    return row


def read_focus_file(path: Path, landing: Path) -> tuple[list[dict[str, Any]], list[Rejected]]:
    name = lineage_name(path, landing)
    rows, rejected = [], []
    for number, record in enumerate(_records(path), start=1):
        try:
            row = normalize(record)
        except ValueError as exc:
            rejected.append(Rejected(name, number, str(exc), json.dumps(record, default=str)))
            continue
        row["billing_period"] = row["BillingPeriodStart"].strftime("%Y-%m")
        row["source_file"] = name
        row["source_row"] = number
        rows.append(row)
    return rows, rejected


def billing_periods(root: Path, landing: Path) -> list[str]:
    periods: set[str] = set()
    for path in focus_files(root):
        rows, _ = read_focus_file(path, landing)
        periods |= {r["billing_period"] for r in rows}
    return sorted(periods)


def read_focus_files(
    files: list[Path], landing: Path
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Every row of the files, and those that could not be read."""
    rows: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for path in files:
        file_rows, file_rejected = read_focus_file(path, landing)
        rows += file_rows
        rejected += file_rejected
    return rows, rejected


def land_period(
    conn: duckdb.DuckDBPyConnection,
    period: str,
    files: list[Path],
    landing: Path,
    read: tuple[list[dict[str, Any]], list[Rejected]],
) -> tuple[int, int]:
    """Replace the billing period's FOCUS rows (and their quarantine) with those of the files
    (``read``: what read_focus_files gave for them); (landed, quarantined)."""
    every_row, rejected = read
    rows = [r for r in every_row if r["billing_period"] == period]
    table = pa.Table.from_pylist(
        [{c: r.get(c) for c in COLUMNS} for r in rows], schema=pa.schema(list(COLUMNS.items()))
    )
    # Rows that could not be read have no trustworthy period: the source's quarantine is
    # replaced whole, under the partition that read it last.
    replace_partition(
        conn,
        "focus_charges",
        period,
        table,
        Quarantine(SOURCE, period, rejected, whole_source=True),
        # The period's version (its files'), so that the landing sensor starts from it.
        landed=("focus_charges", date.fromisoformat(f"{period}-01"), files, landing),
    )
    return table.num_rows, len(rejected)
