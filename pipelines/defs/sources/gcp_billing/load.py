"""Google Cloud Billing detailed usage cost export rows under ``gcp_billing/``.

Accepted as exported from BigQuery: JSONL (one object per line, or concatenated pretty-printed
objects), Parquet (nested records) and CSV (flattened dotted names such as ``sku.id``, with
``credits`` and ``labels`` as JSON or as Python-repr lists). Numbers may be strings.

The export is append-only with no row id and late rows, so it is landed per invoice month: every
run reads every file and replaces that month, every file's rows as they are. Each row's credits
land apart (raw.gcp_billing_credits, one row per credit) beside the credits as given
(credits_json). What the rows mean is dbt's (stg_gcp_billing__export_rows): a row found in
several files counts once, and which credits are committed use discounts.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import os
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name, regular_files
from pipelines.lib.warehouse import Quarantine, Rejected, replace_partition

SOURCE = "gcp_billing"
MONEY = pa.decimal128(38, 10)
COLUMNS: dict[str, pa.DataType] = {
    "invoice_month": pa.string(),
    "source_file": pa.string(),
    "source_row": pa.int32(),
    "billing_account_id": pa.string(),
    "service_id": pa.string(),
    "service_description": pa.string(),
    "sku_id": pa.string(),
    "sku_description": pa.string(),
    "usage_start_time": pa.timestamp("us"),
    "usage_end_time": pa.timestamp("us"),
    "project_id": pa.string(),
    "project_name": pa.string(),
    "location_region": pa.string(),
    "location_zone": pa.string(),
    "resource_name": pa.string(),
    "resource_global_name": pa.string(),
    "export_time": pa.timestamp("us"),
    "cost": MONEY,
    "currency": pa.string(),
    "currency_conversion_rate": pa.float64(),
    "usage_amount": pa.float64(),
    "usage_unit": pa.string(),
    "usage_amount_in_pricing_units": pa.float64(),
    "usage_pricing_unit": pa.string(),
    "credits_json": pa.string(),
    "cost_type": pa.string(),
    "consumption_model_id": pa.string(),
    "consumption_model_description": pa.string(),
}
# One row per credit of an export row (the export's `credits` record, repeated).
CREDIT_COLUMNS: dict[str, pa.DataType] = {
    "invoice_month": pa.string(),
    "source_file": pa.string(),
    "source_row": pa.int32(),
    "credit_index": pa.int32(),
    "name": pa.string(),
    "type": pa.string(),
    "full_name": pa.string(),
    "id": pa.string(),
    "amount": MONEY,
}
REQUIRED = ("sku.id", "usage_start_time", "usage_end_time", "cost", "currency", "invoice.month")


def export_files(root: Path) -> list[Path]:
    patterns = ("*.json", "*.jsonl", "*.json.gz", "*.jsonl.gz", "*.csv", "*.csv.gz", "*.parquet")
    return regular_files({p for pattern in patterns for p in root.rglob(pattern)}, root)


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _json_objects(text: str) -> list[dict[str, Any]]:
    """JSONL, or concatenated (pretty-printed) objects, or one JSON array."""
    decoder = json.JSONDecoder()
    objects: list[dict[str, Any]] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return objects
        value, position = decoder.raw_decode(text, position)
        objects.extend(value if isinstance(value, list) else [value])


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        if path.suffix == ".parquet":
            return [_flatten(r) for r in pq.read_table(path).to_pylist()]
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        text = data.decode("utf-8-sig")
        if ".json" in path.name:
            return [_flatten(r) for r in _json_objects(text)]
        return list(csv.DictReader(io.StringIO(text)))
    except (pa.ArrowException, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LandingError(path, f"not a readable billing export file ({exc})") from exc


def _list(value: Any, field: str) -> list[dict[str, Any]]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    text = str(value)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        try:
            # Flattened CSV exports write Python reprs: [{'name': ..., 'amount': -5e-06}].
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"{field} is neither JSON nor a Python list: {text[:80]!r}") from exc
    if not isinstance(parsed, list):
        raise ValueError(f"{field} is not a list")
    return parsed


def _money(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{field} {value!r} is not a number") from exc


def _timestamp(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip().replace(" UTC", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{field} {value!r} is not a timestamp") from exc
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def normalize(record: dict[str, Any]) -> dict[str, Any]:
    missing = [name for name in REQUIRED if record.get(name) in (None, "")]
    if missing:
        raise ValueError(f"required field missing: {', '.join(missing)}")
    usage_amount = record.get("usage.amount")
    if usage_amount is not None and usage_amount != "" and float(usage_amount) < 0:
        raise ValueError(f"negative usage.amount ({usage_amount})")
    credits = _list(record.get("credits"), "credits")
    if not all(isinstance(c, dict) for c in credits):
        raise ValueError("credits is not a list of records")

    def text(value: Any) -> str | None:
        return None if value in (None, "") else str(value)

    def number(name: str) -> float | None:
        value = record.get(name)
        if value is None or value == "":
            return None
        return float(value)

    return {
        "billing_account_id": record.get("billing_account_id"),
        "service_id": record.get("service.id"),
        "service_description": record.get("service.description"),
        "sku_id": str(record["sku.id"]),
        "sku_description": record.get("sku.description"),
        "usage_start_time": _timestamp(record["usage_start_time"], "usage_start_time"),
        "usage_end_time": _timestamp(record["usage_end_time"], "usage_end_time"),
        "project_id": record.get("project.id"),
        "project_name": record.get("project.name"),
        "location_region": record.get("location.region") or record.get("location.location"),
        "location_zone": record.get("location.zone") or None,
        "resource_name": record.get("resource.name") or None,
        "resource_global_name": record.get("resource.global_name") or None,
        "export_time": _timestamp(record.get("export_time"), "export_time"),
        "cost": _money(record["cost"], "cost"),
        "currency": str(record["currency"]),
        "currency_conversion_rate": number("currency_conversion_rate"),
        "usage_amount": number("usage.amount"),
        "usage_unit": record.get("usage.unit"),
        "usage_amount_in_pricing_units": number("usage.amount_in_pricing_units"),
        "usage_pricing_unit": record.get("usage.pricing_unit"),
        "credits_json": json.dumps(credits, default=str) if credits else None,
        "credits": [
            {
                "credit_index": index,
                "name": text(c.get("name")),
                "type": text(c.get("type")),
                "full_name": text(c.get("full_name")),
                "id": text(c.get("id")),
                "amount": _money(c.get("amount", 0), "credits.amount"),
            }
            for index, c in enumerate(credits, start=1)
        ],
        "cost_type": record.get("cost_type"),
        "consumption_model_id": record.get("consumption_model.id"),
        "consumption_model_description": record.get("consumption_model.description"),
        "invoice_month": f"{str(record['invoice.month'])[:4]}-{str(record['invoice.month'])[4:6]}",
    }


def _normalize_all(
    records: Iterable[dict[str, Any]], source: str
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    rows, rejected = [], []
    for number, record in enumerate(records, start=1):
        try:
            row = normalize(record)
        except (ValueError, TypeError) as exc:
            rejected.append(Rejected(source, number, str(exc), json.dumps(record, default=str)))
            continue
        row["source_file"] = source
        row["source_row"] = number
        rows.append(row)
    return rows, rejected


def read_export_file(path: Path, landing: Path) -> tuple[list[dict[str, Any]], list[Rejected]]:
    return _normalize_all(_records(path), lineage_name(path, landing))


def bigquery_client(endpoint: str | None = None) -> Any:
    """google-cloud-bigquery's client (the `bigquery` extra); credentials from Google's default
    chain, or anonymous against a given endpoint (a local fake in the tests)."""
    try:
        from google.cloud import bigquery
    except ImportError as exc:
        raise LandingError(
            "GPULEDGER_GCP_BIGQUERY_TABLE",
            "reading the export from BigQuery needs google-cloud-bigquery",
            expected="pip install 'gpuledger[bigquery]'",
        ) from exc
    if endpoint is None:
        return bigquery.Client()
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project="gpuledger-local",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint},
    )


def read_bigquery_table(client: Any, table: str) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Every row of the export table (project.dataset.table), read with tabledata.list."""
    records = (_flatten(dict(row.items())) for row in client.list_rows(table))
    return _normalize_all(records, f"bigquery://{table}")


def invoice_months(root: Path, landing: Path) -> list[str]:
    """Invoice months in the export files, and in the BigQuery table when one is configured."""
    months: set[str] = set()
    for path in export_files(root):
        months |= {r["invoice_month"] for r in read_export_file(path, landing)[0]}
    table = os.environ.get("GPULEDGER_GCP_BIGQUERY_TABLE")
    if table:
        client = bigquery_client(os.environ.get("GPULEDGER_GCP_BIGQUERY_ENDPOINT"))
        months |= {r["invoice_month"] for r in read_bigquery_table(client, table)[0]}
    return sorted(months)


def read_export_files(
    files: list[Path],
    landing: Path,
    table_rows: tuple[list[dict[str, Any]], list[Rejected]] | None = None,
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Every row of the export files (and, when given, the rows read from the BigQuery
    table), and those that could not be read."""
    rows: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for path in files:
        file_rows, file_rejected = read_export_file(path, landing)
        rows += file_rows
        rejected += file_rejected
    if table_rows is not None:
        rows += table_rows[0]
        rejected += table_rows[1]
    return rows, rejected


def land_month(
    conn: duckdb.DuckDBPyConnection,
    month: str,
    files: list[Path],
    landing: Path,
    read: tuple[list[dict[str, Any]], list[Rejected]],
    from_bigquery: bool = False,
) -> tuple[int, int]:
    """Replace the invoice month with the rows of ``read`` (what read_export_files gave for the
    files, with the BigQuery table's rows when ``from_bigquery``); (landed, quarantined)."""
    every_row, rejected = read
    rows = [r for r in every_row if r["invoice_month"] == month]
    table = pa.Table.from_pylist(
        [{c: r.get(c) for c in COLUMNS} for r in rows], schema=pa.schema(list(COLUMNS.items()))
    )
    credits = pa.Table.from_pylist(
        [
            {
                **credit,
                "invoice_month": month,
                "source_file": r["source_file"],
                "source_row": r["source_row"],
            }
            for r in rows
            for credit in r["credits"]
        ],
        schema=pa.schema(list(CREDIT_COLUMNS.items())),
    )
    replace_partition(
        conn,
        "gcp_billing_export",
        month,
        table,
        Quarantine(SOURCE, month, rejected, whole_source=True),
        also={"gcp_billing_credits": credits},
        # The month's version (its files'; none read from BigQuery), for the landing sensor.
        landed=(
            ("gcp_billing_export", date.fromisoformat(f"{month}-01"), files, landing)
            if not from_bigquery
            else None
        ),
    )
    return table.num_rows, len(rejected)
