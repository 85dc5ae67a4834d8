"""CUR deliveries read straight from S3 with boto3, against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.defs.sources.aws_cur import load
from pipelines.lib.resources import WarehouseResource
from pipelines.lib.store import LocalStore, S3Store
from synth import build_fleet, write_landing_zone
from tests.conftest import Pipeline
from tests.fixtures.moto_s3 import moto_s3

pytestmark = pytest.mark.integration
BUCKET = "billing-exports"


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_s3(monkeypatch, BUCKET) as client:
        yield client


def _upload(client: object, root: Path, prefix: str, skip: tuple[str, ...] = ()) -> None:
    for path in sorted(root.rglob("*")):
        key = f"{prefix}/{path.relative_to(root).as_posix()}"
        if path.is_file() and not any(part in key for part in skip):
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())  # type: ignore[attr-defined]


def _second_payer(export: Path, out: Path, payer: str) -> Path:
    """Another organization's CUR 2.0 export, made from the demo's: its usage lines under
    payer account ``payer``, on instances of its own (no telemetry), in an export of its own
    name."""
    shutil.copytree(export, out)
    for path in out.rglob("*.parquet"):
        table = pq.read_table(path)
        table = table.filter(pc.equal(table.column("line_item_line_item_type"), "Usage"))
        for name, change in (
            ("bill_payer_account_id", lambda v: payer),
            ("line_item_usage_account_id", lambda v: payer),
            ("identity_line_item_id", lambda v: f"{v}-b"),
            ("line_item_resource_id", lambda v: v and f"{v}-b"),
        ):
            values = [change(v) for v in table.column(name).to_pylist()]
            table = table.set_column(
                table.schema.get_field_index(name), name, pa.array(values, pa.string())
            )
        pq.write_table(table, path)
    for manifest in out.rglob("*Manifest.json"):
        manifest.write_text(manifest.read_text().replace(f"/{export.name}/", f"/{out.name}/"))
    return out


def _day_sums(export: Path) -> dict[tuple[str, str], Decimal]:
    """Cost per (payer account, usage day) in the Parquet files of each period's newest
    complete delivery of the export (a period's earlier deliveries are restated by it)."""
    store = LocalStore(export.parent)
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    columns = ["bill_payer_account_id", "line_item_usage_start_date", "line_item_unblended_cost"]
    for period in load.billing_periods(store):
        delivery = load.newest_complete(load.deliveries(store, period))
        assert delivery is not None
        for key in delivery.data_keys:
            for row in pq.read_table(export.parent / key, columns=columns).to_pylist():
                day = str(row["line_item_usage_start_date"].date())
                cost = Decimal(str(row["line_item_unblended_cost"]))
                sums[(row["bill_payer_account_id"], day)] += cost
    return dict(sums)


def test_cur_periods_of_two_payer_accounts_land_from_two_s3_locations(
    s3: object, demo_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's CUR and a second organization's (another payer account) in two locations of
    the bucket: both land, each counted once, and the first reads as it did from a folder."""
    export = demo_pipeline.landing / "aws_cur" / "gpuledger-cur2"
    second = _second_payer(export, tmp_path / "second" / "acme-cur2", "222233334444")
    _upload(s3, demo_pipeline.landing / "aws_cur", "exports/cur")
    _upload(s3, second.parent, "exports/acme")
    monkeypatch.setenv(
        "GPULEDGER_AWS_CUR", f"s3://{BUCKET}/exports/cur, s3://{BUCKET}/exports/acme"
    )
    pipeline = demo_pipeline.copy_to(tmp_path / "pipeline")
    shutil.rmtree(pipeline.landing / "aws_cur")  # the bill is only in the bucket now
    # The deliveries are those landed from the folder already: a full refresh lands them again.
    pipeline.run(full_refresh=True)

    lines = (
        "select billing_period, execution_id, count(*), sum(line_item_unblended_cost)"
        " from raw.aws_cur_line_items where bill_payer_account_id <> '222233334444'"
        " group by 1, 2 order by 1"
    )
    assert pipeline.query(lines) == demo_pipeline.query(lines)
    sources = pipeline.query(
        "select distinct regexp_extract(source_file, '^s3://[^/]+/[^/]+/[^/]+/[^/]+/')"
        " from raw.aws_cur_line_items order by 1"
    )
    assert sources == [
        (f"s3://{BUCKET}/exports/acme/acme-cur2/",),
        (f"s3://{BUCKET}/exports/cur/gpuledger-cur2/",),
    ]
    # Each payer's daily cost is its files' own, once.
    expected = _day_sums(export) | _day_sums(second)
    landed = {
        (payer, str(day)): cost
        for payer, day, cost in pipeline.query(
            'select "BillingAccountId", cast("ChargePeriodStart" as date),'
            ' sum("BilledCost") from marts.billing_focus'
            " where x_source_system = 'aws_cur' group by 1, 2"
        )
    }
    assert landed == {
        key: pytest.approx(value, abs=Decimal("0.000001")) for key, value in expected.items()
    }
    assert {payer for payer, _ in landed} == {"222233334444", *(p for p, _ in _day_sums(export))}
    deliveries = pipeline.query(
        "select billing_period, count(*) from raw.aws_cur_deliveries group by 1 order by 1"
    )
    assert deliveries and all(count == 2 for _, count in deliveries)


def test_sensor_requests_a_run_only_for_new_complete_deliveries(s3: object, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_landing_zone(build_fleet(gpus=1, days=1, seed=3, start=date(2026, 9, 10)), landing)
    cur_root = landing / "aws_cur"
    # Only the preliminary delivery of 2026-09 is in the bucket at first.
    preliminary, final = sorted(next(cur_root.glob("*/metadata/BILLING_PERIOD=2026-09")).iterdir())
    _upload(s3, cur_root, "cur", skip=(final.name,))
    resource = WarehouseResource(
        landing=str(landing), warehouse=str(tmp_path / "w.duckdb"), aws_cur=f"s3://{BUCKET}/cur"
    )
    from pipelines.defs.sources.aws_cur.sensors import aws_cur_new_delivery

    def tick(cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(cursor=cursor, resources={"warehouse": resource})
        result = aws_cur_new_delivery(context)
        assert isinstance(result, dg.SensorResult)
        return result

    first = tick(None)
    assert [r.partition_key for r in first.run_requests or []] == ["2026-09-01"]
    assert tick(first.cursor).run_requests == []  # nothing new: no run

    # The final delivery's manifest arrives before its data file: still no run.
    _upload(s3, cur_root, "cur", skip=(preliminary.name, ".parquet"))
    assert tick(first.cursor).run_requests == []
    store = S3Store.from_uri(f"s3://{BUCKET}/cur")
    found = load.deliveries(store, "2026-09")
    assert [d.complete for d in found] == [True, False]
    assert found[1].missing[0].endswith(".snappy.parquet")

    # Its data file lands: one run, keyed by the new execution.
    _upload(s3, cur_root, "cur", skip=(preliminary.name,))
    third = tick(first.cursor)
    version = f"s3://{BUCKET}/cur/{found[1].export.rsplit('/', 1)[1]}={found[1].execution_id}"
    assert [(r.partition_key, r.run_key) for r in third.run_requests or []] == [
        ("2026-09-01", f"2026-09:{version}")
    ]
