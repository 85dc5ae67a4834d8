"""CUR deliveries read straight from S3 with boto3, against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pipelines.defs.sources.aws_cur import load
from pipelines.lib.resources import WarehouseResource
from pipelines.lib.store import S3Store
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


def test_cur_periods_land_from_s3_like_from_a_folder(
    s3: object, demo_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _upload(s3, demo_pipeline.landing / "aws_cur", "exports/cur")
    monkeypatch.setenv("GPULEDGER_AWS_CUR", f"s3://{BUCKET}/exports/cur")
    pipeline = demo_pipeline.copy_to(tmp_path)
    shutil.rmtree(pipeline.landing / "aws_cur")  # the bill is only in the bucket now
    # The deliveries are those landed from the folder already: a full refresh lands them again.
    pipeline.run(full_refresh=True)

    local = demo_pipeline.query(
        "select billing_period, execution_id, count(*), sum(line_item_unblended_cost)"
        " from raw.aws_cur_line_items group by 1, 2 order by 1"
    )
    assert (
        pipeline.query(
            "select billing_period, execution_id, count(*), sum(line_item_unblended_cost)"
            " from raw.aws_cur_line_items group by 1, 2 order by 1"
        )
        == local
    )
    sources = pipeline.query("select distinct source_file from raw.aws_cur_line_items order by 1")
    assert all(s.startswith(f"s3://{BUCKET}/exports/cur/gpuledger-cur2/data/") for (s,) in sources)
    assert pipeline.query("select sum(cost_usd) from marts.fct_cost_per_useful_token") == (
        demo_pipeline.query("select sum(cost_usd) from marts.fct_cost_per_useful_token")
    )


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
    assert [(r.partition_key, r.run_key) for r in third.run_requests or []] == [
        ("2026-09-01", f"2026-09:{found[1].execution_id}")
    ]
