"""The API price book for the token-consumer comparison, and which API model a served model is.

* Price book: LiteLLM's ``model_prices_and_context_window.json`` format. A small snapshot ships
  with gpuledger (``pipelines/reference/model_prices.json``); every ``prices/*.json`` file in the
  landing zone is read after it, in name order, and replaces entries by model key, so the
  current LiteLLM file or negotiated prices override the snapshot. Only token-priced chat and
  completion entries are kept (``input_cost_per_token`` and ``output_cost_per_token``).
* Equivalents: ``served_model,api_model`` (``pipelines/reference/api_equivalents.csv``, then
  ``prices/api_equivalents.csv`` replacing rows by served model). An api_model missing from the
  price book is an error naming the row.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.lib.errors import LandingError
from pipelines.lib.paths import REFERENCE_DIR, lineage_name, regular_files
from pipelines.lib.warehouse import replacing

REFERENCE = REFERENCE_DIR
BUNDLED_BOOK = REFERENCE / "model_prices.json"
BUNDLED_EQUIVALENTS = REFERENCE / "api_equivalents.csv"
PRICE_MODES = {"chat", "completion", "responses"}
MONEY = pa.decimal128(38, 18)
PRICE_COLUMNS: dict[str, pa.DataType] = {
    "api_model": pa.string(),
    "provider": pa.string(),
    "mode": pa.string(),
    "input_cost_per_token": MONEY,
    "output_cost_per_token": MONEY,
    "cache_read_input_token_cost": MONEY,
    "source_file": pa.string(),
}
EQUIVALENT_COLUMNS: dict[str, pa.DataType] = {
    "served_model": pa.string(),
    "api_model": pa.string(),
    "source_file": pa.string(),
    "source_row": pa.int32(),
}


def _price(path: Path, model: str, entry: dict[str, Any], field: str) -> Decimal | None:
    value = entry.get(field)
    if value is None:
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        price = Decimal(-1)
    if not price.is_finite() or price < 0 or isinstance(value, bool):
        raise LandingError(
            path,
            f"model {model!r}: {field} is {value!r}",
            column=field,
            expected="a non-negative number of US dollars per token",
        )
    return price


def read_price_book(path: Path, name: str) -> dict[str, dict[str, Any]]:
    try:
        book = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LandingError(path, f"not a JSON price book ({exc})") from exc
    if not isinstance(book, dict):
        raise LandingError(path, "not a JSON object keyed by model", expected="LiteLLM's format")
    prices = {}
    for model, entry in book.items():
        if model == "sample_spec" or not isinstance(entry, dict):
            continue
        if entry.get("mode", "chat") not in PRICE_MODES:
            continue
        input_cost = _price(path, model, entry, "input_cost_per_token")
        output_cost = _price(path, model, entry, "output_cost_per_token")
        if input_cost is None or output_cost is None:
            continue
        prices[model] = {
            "api_model": model,
            "provider": entry.get("litellm_provider"),
            "mode": entry.get("mode", "chat"),
            "input_cost_per_token": input_cost,
            "output_cost_per_token": output_cost,
            "cache_read_input_token_cost": _price(
                path, model, entry, "cache_read_input_token_cost"
            ),
            "source_file": name,
        }
    return prices


def read_equivalents(path: Path, name: str) -> dict[str, dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"served_model", "api_model"} - set(reader.fieldnames or ())
        if missing:
            raise LandingError(
                path,
                f"missing column(s) {', '.join(sorted(missing))}",
                row=1,
                expected="header served_model,api_model",
            )
        rows = {}
        for number, record in enumerate(reader, start=2):
            served = (record["served_model"] or "").strip()
            api = (record["api_model"] or "").strip()
            if not served or not api:
                raise LandingError(
                    path,
                    "empty served_model or api_model",
                    row=number,
                    column="served_model" if not served else "api_model",
                )
            rows[served] = {
                "served_model": served,
                "api_model": api,
                "source_file": name,
                "source_row": number,
            }
    return rows


def price_book(landing: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Path]]:
    """The bundled snapshot overlaid with the landing zone's files: (prices, equivalents, files)."""
    folder = landing / "prices"
    books = regular_files(folder.glob("*.json"), folder)
    prices = read_price_book(BUNDLED_BOOK, "gpuledger:reference/model_prices.json")
    for path in books:
        prices.update(read_price_book(path, lineage_name(path, landing)))
    equivalents = read_equivalents(BUNDLED_EQUIVALENTS, "gpuledger:reference/api_equivalents.csv")
    override = folder / "api_equivalents.csv"
    if override.exists():
        own = read_equivalents(override, lineage_name(override, landing))
        for row in own.values():
            if row["api_model"] not in prices:
                raise LandingError(
                    override,
                    f"api_model {row['api_model']!r} is not in the price book",
                    row=row["source_row"],
                    column="api_model",
                    expected="a model key of the bundled price book or of prices/*.json",
                )
        equivalents.update(own)
    equivalents = {k: v for k, v in equivalents.items() if v["api_model"] in prices}
    files = [*books, *([override] if override.exists() else [])]
    return list(prices.values()), list(equivalents.values()), files


def land_price_book(
    conn: duckdb.DuckDBPyConnection, prices: list[dict[str, Any]], equivalents: list[dict[str, Any]]
) -> None:
    price_table = pa.Table.from_pylist(prices, schema=pa.schema(list(PRICE_COLUMNS.items())))
    equivalent_table = pa.Table.from_pylist(
        equivalents, schema=pa.schema(list(EQUIVALENT_COLUMNS.items()))
    )
    with replacing(conn) as staged:
        staged.rows("api_prices", None, price_table)
        staged.rows("api_equivalents", None, equivalent_table)
