"""The legacy CUR samples in ../shared/samples/aws-cur: each loads with totals equal to the
file's own column sums, or fails with a specific message."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.defs.sources.aws_cur import load as cur
from pipelines.lib.errors import LandingError
from pipelines.lib.store import LocalStore
from tests.conftest import SAMPLES

AWS = SAMPLES / "aws-cur"


def _column_sum(path: Path, *names: str) -> tuple[int, Decimal]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:  # type: ignore[operator]
        rows = list(csv.DictReader(handle))
    name = next(n for n in names if n in rows[0])
    return len(rows), sum((Decimal(r[name] or "0") for r in rows), Decimal(0))


def _legacy_layout(root: Path, report: str, period: str, csvs: list[Path], current: int) -> None:
    """Deliver CSV files the way legacy CUR does: one assembly per file, gzip, manifests."""
    start = period.replace("-", "") + "01"
    year, month = int(period[:4]), int(period[5:])
    end = f"{year + month // 12}{month % 12 + 1:02d}01"
    range_dir = root / report / f"{start}-{end}"
    for i, source in enumerate(csvs):
        assembly = f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd"
        folder = range_dir / assembly
        folder.mkdir(parents=True)
        (folder / f"{report}-1.csv.gz").write_bytes(gzip.compress(source.read_bytes()))
        manifest = {
            "assemblyId": assembly,
            "billingPeriod": {"start": f"{start}T000000.000Z", "end": f"{end}T000000.000Z"},
            "reportKeys": [f"/{report}/{start}-{end}/{assembly}/{report}-1.csv.gz"],
            "compression": "GZIP",
        }
        (folder / f"{report}-Manifest.json").write_text(json.dumps(manifest))
        if i == current:
            (range_dir / f"{report}-Manifest.json").write_text(json.dumps(manifest))


def test_restated_legacy_period_keeps_the_current_assembly_and_its_currency(
    tmp_path: Path,
) -> None:
    final, not_final = AWS / "koku" / "2023-06-01.csv", AWS / "koku" / "2023-06-01-not-final.csv"
    # The final (invoiced) file is the second assembly; the top-level manifest names it.
    _legacy_layout(tmp_path, "koku", "2023-06", [not_final, final], current=1)
    store = LocalStore(tmp_path)
    found = cur.deliveries(store, "2023-06")
    assert [d.format for d in found] == ["legacy", "legacy"]
    delivery = cur.newest_complete(found)
    assert delivery is not None and delivery.execution_id.startswith("00000001")
    table = cur.read_delivery(store, delivery)
    rows, total = _column_sum(final, "lineItem/UnblendedCost")
    assert table.num_rows == rows == 3
    assert Decimal(str(sum(table.column("line_item_unblended_cost").to_pylist()))) == total
    assert set(table.column("line_item_currency_code").to_pylist()) == {"NOK"}
    assert set(table.column("bill_invoice_id").to_pylist()) == {"987654321"}
    assert set(table.column("line_item_line_item_type").to_pylist()) == {"SavingsPlanCoveredUsage"}


@pytest.mark.parametrize(
    ("sample", "period", "cost_column"),
    [
        ("koku/2022-07-01-alt-columns.csv", "2022-07", "line_item_unblended_cost"),
        ("sample-anonymous-aws-export-dataset.csv", "2023-11", "lineItem/UnblendedCost"),
    ],
)
def test_both_legacy_header_styles_load_with_the_files_own_totals(
    tmp_path: Path, sample: str, period: str, cost_column: str
) -> None:
    _legacy_layout(tmp_path, "report", period, [AWS / sample], current=0)
    store = LocalStore(tmp_path)
    delivery = cur.newest_complete(cur.deliveries(store, period))
    assert delivery is not None
    table = cur.read_delivery(store, delivery)
    rows, total = _column_sum(AWS / sample, cost_column)
    assert table.num_rows == rows
    loaded = sum(Decimal(str(v)) for v in table.column("line_item_unblended_cost").to_pylist())
    assert abs(loaded - total) < Decimal("0.0000001")
    assert table.schema.field("line_item_usage_start_date").type.unit == "us"
    assert table.column("line_item_usage_start_date").null_count == 0


def test_legacy_s3_layout_sample_is_found_and_rejected_for_mixing_billing_periods(
    tmp_path: Path,
) -> None:
    shutil.copytree(AWS / "legacy-s3-layout", tmp_path, dirs_exist_ok=True)
    store = LocalStore(tmp_path)
    assert cur.billing_periods(store) == ["2018-08"]
    (delivery,) = cur.deliveries(store, "2018-08")
    assert delivery.complete and delivery.order[0] == 1  # the top-level manifest points at it
    # The nise-generated file holds June, July and August 2018 lines under an August delivery.
    with pytest.raises(LandingError) as error:
        cur.read_delivery(store, delivery)
    assert str(error.value) == (
        f"{store.describe(delivery.data_keys[0])}, row 1, column 'bill_billing_period_start_date':"
        " line item of billing period 2018-06 in a delivery for 2018-08 (expected 2018-08-01)"
    )


def test_snake_case_mapping_matches_cur2_names() -> None:
    assert cur.snake_case_column("lineItem/UsageStartDate") == "line_item_usage_start_date"
    assert cur.snake_case_column("savingsPlan/SavingsPlanARN") == "savings_plan_savings_plan_a_r_n"
    assert cur.snake_case_column("product/instanceType") == "product_instance_type"
    assert cur.snake_case_column("line_item_unblended_cost") == "line_item_unblended_cost"


def test_a_delivery_mixing_currencies_is_rejected(tmp_path: Path) -> None:
    source = (AWS / "koku" / "2022-07-01-alt-columns.csv").read_text().splitlines()
    header, first, second = source[0], source[1], source[2]
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([header, first, second.replace(",USD,", ",EUR,", 1)]) + "\n")
    _legacy_layout(tmp_path / "cur", "report", "2022-07", [mixed], current=0)
    store = LocalStore(tmp_path / "cur")
    delivery = cur.newest_complete(cur.deliveries(store, "2022-07"))
    assert delivery is not None
    with pytest.raises(
        LandingError, match=r"row 2, column 'line_item_currency_code': currency EUR"
    ):
        cur.read_delivery(store, delivery)


def test_legacy_reports_of_two_payer_accounts_both_count_and_one_payer_twice_is_refused(
    tmp_path: Path,
) -> None:
    """Two organizations' legacy CUR reports in one location: each is its period's bill for
    its payer account, read once; the same account's report twice would count it twice."""
    final = AWS / "koku" / "2023-06-01.csv"
    other = tmp_path / "other.csv"
    other.write_text(final.read_text().replace("0099999999999", "0088888888888"))
    _legacy_layout(tmp_path / "cur", "org-a", "2023-06", [final], current=0)
    _legacy_layout(tmp_path / "cur", "org-b", "2023-06", [other], current=0)
    store = LocalStore(tmp_path / "cur")
    exports = cur.by_export(cur.deliveries(store, "2023-06"))
    assert [e.rsplit("/", 1)[1] for e in exports] == ["org-a", "org-b"]
    tables = {}
    for export, found in exports.items():
        delivery = cur.newest_complete(found)
        assert delivery is not None
        tables[export] = cur.read_delivery(store, delivery)
    cur.refuse_shared_payers("2023-06", tables)  # two accounts: both count
    rows, total = _column_sum(final, "lineItem/UnblendedCost")
    for table, payer in zip(tables.values(), ("0099999999999", "0088888888888"), strict=True):
        assert set(table.column("bill_payer_account_id").to_pylist()) == {payer}
        assert table.num_rows == rows
        assert (
            sum(Decimal(str(v)) for v in table.column("line_item_unblended_cost").to_pylist())
            == total
        )

    _legacy_layout(tmp_path / "cur", "org-a-copy", "2023-06", [final], current=0)
    exports = cur.by_export(cur.deliveries(store, "2023-06"))
    tables = {
        export: cur.read_delivery(store, cur.newest_complete(found))  # type: ignore[arg-type]
        for export, found in exports.items()
    }
    with pytest.raises(LandingError, match=r"payer account 0099999999999 is delivered by two"):
        cur.refuse_shared_payers("2023-06", tables)
