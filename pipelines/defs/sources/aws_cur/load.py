"""AWS cost and usage deliveries: find the newest complete one per billing period, read, land.

Two delivery formats share one raw table (``raw.aws_cur_line_items``, CUR 2.0 column names):

* **Data Exports CUR 2.0** (Parquet):
  ``<export>/metadata/BILLING_PERIOD=YYYY-MM/[<ts>-<executionId>/]*-Manifest.json`` lists its
  data files (full ``s3://`` URIs) in ``dataFiles``.
* **Legacy CUR** (csv.gz): ``<report>/<yyyymmdd-yyyymmdd>/<assemblyId>/<report>-Manifest.json``
  lists ``reportKeys``; ``<report>/<yyyymmdd-yyyymmdd>/<report>-Manifest.json`` names the
  current assembly. Headers are ``category/ColumnName`` or the Athena snake_case variant; both
  map onto CUR 2.0 names (``lineItem/UsageStartDate`` -> ``line_item_usage_start_date``).

Each delivery restates the whole period of its export: the newest complete delivery (every
data file its manifest names is present) of each export replaces that export's share of the
period, all of a period's exports atomically. A location may hold several exports (top
folders) and GPULEDGER_AWS_CUR may name several locations: groups with several AWS
organizations land each payer account's export, and all count. Two exports of one payer
account for the same period would count its bill twice: they are refused, naming both. A newer
incomplete delivery is skipped while its data files may still be arriving (INCOMPLETE_GRACE
after its manifest was written);
after that the period fails, naming the missing files, rather than rolling back to an older
bill; so does a period whose landed delivery lost its files in the store (refuse_rollback). A
data file a manifest names twice is read once. Money stays in its billed currency
(``line_item_currency_code`` is kept); a delivery that mixes currencies is rejected, and so is
a usage line with negative usage or negative cost (corrections are Credit, Refund or discount
lines of their own).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.lib.arrow import conform, require_columns
from pipelines.lib.errors import LandingError
from pipelines.lib.store import Store
from pipelines.lib.warehouse import refuse_removal, replacing

CUR2_MANIFEST = re.compile(
    r"^(?P<export>[^/]+)/metadata/BILLING_PERIOD=(?P<period>\d{4}-\d{2})/"
    r"(?:(?P<folder>[^/]+)/)?[^/]*Manifest\.json$"
)
LEGACY_MANIFEST = re.compile(
    r"^(?P<report>[^/]+)/(?P<start>\d{8})-(?P<end>\d{8})/(?:(?P<assembly>[^/]+)/)?"
    r"[^/]*-Manifest\.json$"
)
EXECUTION_DIR = re.compile(r"^(\d{8}T\d{6}Z)-")

REQUIRED_COLUMNS = (
    "identity_line_item_id",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_usage_amount",
    "line_item_unblended_cost",
    "line_item_currency_code",
)
# Legacy CUR carries resource ids only when the report was set up with them, and product columns
# only when a month used them; both are needed as soon as a file bills instance hours.
REQUIRED_FOR_INSTANCE_HOURS = ("line_item_resource_id", "product_instance_type")
NOT_NULL = (
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_unblended_cost",
    "line_item_currency_code",
)
# Required only when the delivery has line items that need them.
REQUIRED_FOR_TYPE = {
    "SavingsPlanCoveredUsage": ("savings_plan_savings_plan_effective_cost",),
    "SavingsPlanRecurringFee": (
        "savings_plan_total_commitment_to_date",
        "savings_plan_used_commitment",
    ),
    "DiscountedUsage": ("reservation_effective_cost",),
}
USAGE_TYPES = {"Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"}
# How long a delivery's data files may trail its manifest before the delivery counts as broken.
INCOMPLETE_GRACE = timedelta(hours=float(os.environ.get("GPULEDGER_CUR_INCOMPLETE_GRACE_H", "24")))
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
    "bill_payer_account_name": pa.string(),
    "line_item_line_item_description": pa.string(),
    "pricing_unit": pa.string(),
    "product_region_code": pa.string(),
    "line_item_availability_zone": pa.string(),
}


@dataclass(frozen=True)
class Delivery:
    period: str
    execution_id: str
    format: str  # "cur2" or "legacy"
    manifest_key: str
    # Sorts deliveries of a period oldest first: (is the current one, delivery time, id).
    order: tuple[int, str, str]
    export_arn: str | None
    data_keys: tuple[str, ...]
    missing: tuple[str, ...]
    # When the store last saw the manifest written (LocalStore: mtime in ns; S3: ISO 8601).
    listed_at: str = ""
    # Data files the manifest names more than once (each is read once).
    repeated: tuple[str, ...] = ()
    # The export (CUR 2.0) or report (legacy) it belongs to: its folder in the location, as
    # the rows' source_file names it (relative to the landing zone, or an s3:// URI).
    export: str = ""

    @property
    def complete(self) -> bool:
        return not self.missing

    def overdue(self, now: datetime | None = None) -> bool:
        """An incomplete delivery whose manifest is older than INCOMPLETE_GRACE."""
        if self.complete or not self.listed_at:
            return False
        stamp = self.listed_at
        written = (
            datetime.fromtimestamp(int(stamp) / 1e9, UTC)
            if stamp.isdigit()
            else datetime.fromisoformat(stamp)
        )
        return (now or datetime.now(UTC)) - written > INCOMPLETE_GRACE

    @property
    def delivered_at(self) -> str:
        return self.order[1]


def snake_case_column(name: str) -> str:
    """Legacy ``lineItem/UsageStartDate`` -> CUR 2.0 ``line_item_usage_start_date``.

    The rule AWS uses for CUR 2.0 and Athena: every capital letter starts a word, so
    ``savingsPlan/SavingsPlanARN`` becomes ``savings_plan_savings_plan_a_r_n``.
    """
    if "/" not in name:
        return name.strip()
    category, _, field = name.strip().partition("/")

    def words(text: str) -> str:
        return re.sub(r"(?<!^)([A-Z])", r"_\1", text).lower()

    return f"{words(category)}_{words(field)}"


def billing_periods(store: Store, present: dict[str, str] | None = None) -> list[str]:
    periods = set()
    for key in store.listing() if present is None else present:
        if match := CUR2_MANIFEST.match(key):
            periods.add(match.group("period"))
        elif match := LEGACY_MANIFEST.match(key):
            periods.add(f"{match.group('start')[:4]}-{match.group('start')[4:6]}")
    return sorted(periods)


def _manifest(store: Store, key: str) -> dict[str, object]:
    try:
        manifest = json.loads(store.read(key))
    except (OSError, json.JSONDecodeError) as exc:
        raise LandingError(store.describe(key), f"not a readable manifest ({exc})") from exc
    if not isinstance(manifest, dict):
        raise LandingError(store.describe(key), "manifest is not a JSON object")
    return manifest


def _locate(
    uris: object, anchor: str, present: dict[str, str], manifest: str
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Map a manifest's file list onto store keys: (found keys, missing names, names listed
    more than once). A file listed twice is one file: it is read once."""
    if not isinstance(uris, list) or not uris:
        raise LandingError(manifest, "manifest lists no data files", column="dataFiles")
    found: list[str] = []
    missing: list[str] = []
    repeated: list[str] = []
    marker = f"/{anchor}/"
    for uri in uris:
        text = "/" + str(uri).lstrip("/")
        key = anchor + "/" + text.split(marker, 1)[1] if marker in text else None
        if (key is not None and key in found) or str(uri) in missing:
            repeated.append(str(uri))
        elif key is not None and key in present:
            found.append(key)
        else:
            missing.append(str(uri))
    return tuple(found), tuple(missing), tuple(repeated)


def deliveries(store: Store, period: str, present: dict[str, str] | None = None) -> list[Delivery]:
    """Every delivery of a billing period, oldest first (``present``: the store's keys, if the
    caller listed them already)."""
    present = store.listing() if present is None else present
    found: list[Delivery] = []
    current_assembly: dict[str, str] = {}
    legacy: list[tuple[str, re.Match[str]]] = []
    for key in sorted(present):
        if (match := CUR2_MANIFEST.match(key)) and match.group("period") == period:
            manifest = _manifest(store, key)
            for required in ("executionId", "dataFiles"):
                if required not in manifest:
                    raise LandingError(
                        store.describe(key), "manifest field missing", column=required
                    )
            data, missing, repeated = _locate(
                manifest["dataFiles"], match.group("export"), present, store.describe(key)
            )
            folder = match.group("folder") or ""
            stamp = EXECUTION_DIR.match(folder)
            when = (
                datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%SZ").isoformat()
                if stamp
                else str(manifest.get("exportCreationTime") or present[key])
            )
            found.append(
                Delivery(
                    period,
                    str(manifest["executionId"]),
                    "cur2",
                    key,
                    (0, when, str(manifest["executionId"])),
                    str(manifest.get("exportArn") or "") or None,
                    data,
                    missing,
                    present[key],
                    repeated,
                    store.lineage(match.group("export")),
                )
            )
        elif (match := LEGACY_MANIFEST.match(key)) and (
            f"{match.group('start')[:4]}-{match.group('start')[4:6]}" == period
        ):
            if match.group("assembly") is None:
                pointer = _manifest(store, key)
                current_assembly[key.rsplit("/", 1)[0]] = str(pointer.get("assemblyId", ""))
            else:
                legacy.append((key, match))
    for key, match in legacy:
        manifest = _manifest(store, key)
        for required in ("assemblyId", "reportKeys"):
            if required not in manifest:
                raise LandingError(store.describe(key), "manifest field missing", column=required)
        assembly = str(manifest["assemblyId"])
        range_dir = f"{match.group('report')}/{match.group('start')}-{match.group('end')}"
        data, missing, repeated = _locate(
            manifest["reportKeys"], match.group("report"), present, store.describe(key)
        )
        is_current = int(current_assembly.get(range_dir) == assembly)
        found.append(
            Delivery(
                period,
                assembly,
                "legacy",
                key,
                (is_current, present[key], assembly),
                None,
                data,
                missing,
                present[key],
                repeated,
                store.lineage(match.group("report")),
            )
        )
    return sorted(found, key=lambda d: d.order)


def by_export(found: list[Delivery]) -> dict[str, list[Delivery]]:
    """Deliveries grouped by their export, each oldest first."""
    exports: dict[str, list[Delivery]] = {}
    for delivery in found:
        exports.setdefault(delivery.export, []).append(delivery)
    return dict(sorted(exports.items()))


def period_version(newest: dict[str, Delivery | None]) -> str | None:
    """One id of a period's deliveries across its exports (each export's newest complete
    one), None while an export has none complete."""
    if not newest or any(d is None for d in newest.values()):
        return None
    return ";".join(f"{export}={d.execution_id}" for export, d in sorted(newest.items()) if d)


def refuse_shared_payers(period: str, tables: dict[str, pa.Table]) -> None:
    """Two exports of one payer account in the same period would count its bill twice."""
    seen: dict[str, str] = {}
    for export, table in sorted(tables.items()):
        payers = {p for p in table.column("bill_payer_account_id").to_pylist() if p}
        for payer in sorted(payers):
            if payer in seen:
                raise LandingError(
                    export,
                    f"billing period {period} of payer account {payer} is delivered by two "
                    f"exports ({seen[payer]} and {export})",
                    column="bill_payer_account_id",
                    expected="one export per payer account and billing period: remove or "
                    "move the other export",
                )
            seen[payer] = export


def newest_complete(found: list[Delivery]) -> Delivery | None:
    complete = [d for d in found if d.complete]
    return complete[-1] if complete else None


def refuse_rollback(
    where: str, delivery: Delivery, found: list[Delivery], landed: tuple[str, str] | None
) -> None:
    """The warehouse never goes back to an older delivery than the one it holds (``landed``:
    its execution id and delivery time) unless the removal is allowed (source ``aws_cur``):
    that delivery's files gone or unreadable in the store would otherwise roll the bill back."""
    if landed is None or landed[0] == delivery.execution_id or landed[1] <= delivery.delivered_at:
        return
    held = next((d for d in found if d.execution_id == landed[0]), None)
    state = (
        f"its manifest is gone from {where}"
        if held is None
        else f"{len(held.missing)} of its data files are missing ({', '.join(held.missing[:2])})"
    )
    refuse_removal(
        where,
        "aws_cur",
        f"complete delivery of {delivery.period} as new as the one landed",
        f"delivery {landed[0]} of {landed[1]}, newer than {delivery.execution_id}, and {state}",
    )


def _read_cur2(store: Store, key: str) -> pa.Table:
    where = store.describe(key)
    try:
        return pq.read_table(pa.BufferReader(store.read(key)))
    except (pa.ArrowException, OSError) as exc:
        raise LandingError(where, f"not a readable Parquet file ({exc})") from exc


def _read_legacy(store: Store, key: str) -> pa.Table:
    where = store.describe(key)
    data = store.read(key)
    try:
        if key.endswith(".gz"):
            data = gzip.decompress(data)
        first_line = data.split(b"\n", 1)[0]
        header = next(csv.reader(io.StringIO(first_line.decode("utf-8-sig"))))
        table = pacsv.read_csv(
            pa.BufferReader(data),
            # Text in, typed by conform(): no guessing of timestamps or numbers.
            convert_options=pacsv.ConvertOptions(
                strings_can_be_null=True, column_types=dict.fromkeys(header, pa.string())
            ),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
        )
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise LandingError(where, f"not a readable CUR CSV file ({exc})") from exc
    names = [snake_case_column(n) for n in table.column_names]
    table = table.rename_columns(names)
    # CSV holds text: timestamps as "2018-08-01T00:00:00Z" or "2022-07-01 00:00:00.000" (UTC).
    columns = {}
    for name in names:
        if name in columns or name not in RAW_TYPES:
            continue
        column = table.column(name)
        if pa.types.is_timestamp(RAW_TYPES[name]):
            column = pc.replace_substring_regex(column, r"Z$", "")
        columns[name] = column
    return pa.table(columns)


def read_delivery(store: Store, delivery: Delivery) -> pa.Table:
    tables = []
    for key in delivery.data_keys:
        where = store.describe(key)
        raw = _read_cur2(store, key) if delivery.format == "cur2" else _read_legacy(store, key)
        require_columns(where, raw.schema, REQUIRED_COLUMNS, "CUR data file")
        present = [c for c in RAW_TYPES if c in raw.column_names]
        usage_types = raw.column("line_item_usage_type").to_pylist()
        if any(u and "BoxUsage" in u for u in usage_types):
            require_columns(
                where, raw.schema, REQUIRED_FOR_INSTANCE_HOURS, "CUR with instance hours"
            )
        table = conform(where, raw.select(present), RAW_TYPES, NOT_NULL)
        _require_period(where, delivery.period, table)
        _require_non_negative_usage(where, table)
        types = set(table.column("line_item_line_item_type").to_pylist())
        for line_type, needs in REQUIRED_FOR_TYPE.items():
            if line_type in types:
                require_columns(where, raw.schema, needs, f"CUR data file with {line_type} lines")
        lineage = pa.repeat(pa.scalar(store.lineage(key), pa.string()), table.num_rows)
        tables.append(table.append_column("source_file", lineage))
    _require_one_currency(store, delivery, tables)
    return pa.concat_tables(tables)


def _require_period(where: str, period: str, table: pa.Table) -> None:
    """A delivery restates one billing period; a row of another would double-count it."""
    starts = table.column("bill_billing_period_start_date").to_pylist()
    for row, start in enumerate(starts, start=1):
        if start is not None and start.strftime("%Y-%m") != period:
            raise LandingError(
                where,
                f"line item of billing period {start:%Y-%m} in a delivery for {period}",
                row=row,
                column="bill_billing_period_start_date",
                expected=f"{period}-01",
            )


def _require_non_negative_usage(where: str, table: pa.Table) -> None:
    """Usage lines bill what was used: a negative amount or cost there would silently lower a
    fleet's cost (AWS writes corrections as Credit, Refund and discount lines of their own)."""
    types = table.column("line_item_line_item_type").to_pylist()
    for column in ("line_item_usage_amount", "line_item_unblended_cost"):
        values = table.column(column).to_pylist()
        for row, (line_type, value) in enumerate(zip(types, values, strict=True), start=1):
            if line_type in USAGE_TYPES and value is not None and value < 0:
                what = "usage" if column == "line_item_usage_amount" else "cost"
                raise LandingError(
                    where,
                    f"negative {what} ({value}) on a {line_type} line",
                    row=row,
                    column=column,
                    expected=f"{what} >= 0 (corrections come as Credit or Refund lines)",
                )


def _require_one_currency(store: Store, delivery: Delivery, tables: list[pa.Table]) -> None:
    first: str | None = None
    for key, table in zip(delivery.data_keys, tables, strict=True):
        currencies = table.column("line_item_currency_code").to_pylist()
        for row, code in enumerate(currencies, start=1):
            if first is None:
                first = code
            elif code != first:
                raise LandingError(
                    store.describe(key),
                    f"currency {code} differs from {first} earlier in billing period "
                    f"{delivery.period}",
                    row=row,
                    column="line_item_currency_code",
                    expected=f"one currency per billing period ({first})",
                )


def land_deliveries(
    conn: duckdb.DuckDBPyConnection,
    period: str,
    landed: list[tuple[Store, Delivery, pa.Table]],
) -> None:
    """Replace the billing period with these deliveries (one per export), atomically."""
    rows = pa.concat_tables(
        [
            table.append_column(
                "execution_id", pa.repeat(pa.scalar(delivery.execution_id), table.num_rows)
            )
            for _, delivery, table in landed
        ]
    )
    with replacing(conn) as staged:
        staged.rows("aws_cur_line_items", period, rows)
        conn.execute("delete from raw.aws_cur_deliveries where billing_period = ?", [period])
        for store, delivery, table in landed:
            conn.execute(
                "insert into raw.aws_cur_deliveries values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    period,
                    delivery.export,
                    delivery.execution_id,
                    delivery.export_arn,
                    store.lineage(delivery.manifest_key),
                    delivery.delivered_at,
                    len(delivery.data_keys),
                    table.num_rows,
                ],
            )
