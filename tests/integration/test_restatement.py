"""A restated bill replaces, never adds, and rebuilds the usage days whose lines changed."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.conftest import Pipeline
from tests.restated_bills import periods_built, redeliver, restate_october_hour

pytestmark = pytest.mark.integration


def test_a_restated_cur_day_rebuilds_that_day_and_prices_every_day(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    """How a change travels: the landing of a bill reports the usage days whose lines changed
    (usage_days_changed, pipelines/lib/changed_days.py), a day of telemetry its own day, a
    price book every day; the run then builds those days, and the day on either side (their
    batches, macros/batch.sql)."""
    import dagster as dg

    pipeline = demo_pipeline.copy_to(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    first, second, third = sorted(
        str(d)
        for (d,) in pipeline.query(
            "select distinct cast(hour_start_at as date) from marts.fct_cost_per_useful_token"
            " where workload not like '(%'"
        )
    )
    cost_before = dict(_cost_by_day_and_kind(pipeline))

    # The bill: October restated, one hour of the first day's savings-plan-covered GPU usage
    # $1.00 dearer, and the plan's fee for that hour $1.00 more used (so $1.00 less unused).
    restate_october_hour(pipeline.landing, f"{first} 05", "55555555-5555-5555-5555-555555555555")
    summary = pipeline.run(instance=instance)
    # The build's window went to dbt's process, not into this one's environment.
    assert not {"GPULEDGER_BATCH_SIZE", "GPULEDGER_RUN_DAYS_START"} & os.environ.keys()
    # October alone is landed again, its bill lines built again (a billing period of the
    # monthly dbt asset), and the one day its lines changed is built, not the month.
    assert [(job, key) for job, key, _ in summary.runs] == [
        ("billing_monthly", "2026-10-01"),
        ("ingest_reference", None),
        ("build_daily", f"{first}...{first}"),
    ]
    october = summary.runs[0][2]
    assert _usage_days_changed(instance, october, "aws_cur_line_items") == [first]
    assert periods_built(instance, [run_id for _, _, run_id in summary.runs]) == {"2026-10-01"}
    # The restated dollar moved from unused commitment to the GPUs, and nothing else did.
    cost_after = dict(_cost_by_day_and_kind(pipeline))
    assert cost_after[(first, "gpu")] - cost_before[(first, "gpu")] == Decimal("1")
    assert cost_after[(first, "unused")] - cost_before[(first, "unused")] == Decimal("-1")
    assert {k: v for k, v in cost_after.items() if k[0] != first} == {
        k: v for k, v in cost_before.items() if k[0] != first
    }

    # Telemetry: one host's spool file of the second day is gone; a GPU no bill names reports
    # for the first time on the third day. A gateway's own log (LiteLLM's payloads) arrives for
    # the third day. The run builds the days from the second to the third.
    lost = sorted((pipeline.landing / "telemetry" / "nvml").glob(f"host=*/date={second}/*"))[0]
    lost.unlink()
    _respool(pipeline, third, "p4d-001", host="lab-001", resource="lab-001", uuid="GPU-lab-001")
    tokens_before = _tokens(pipeline)
    _litellm_calls(pipeline, third)
    summary = pipeline.run()
    assert [(job, key) for job, key, _ in summary.runs][-1] == (
        "build_daily",
        f"{second}...{third}",
    )
    assert pipeline.query(
        "select count(*) > 0 from marts.fct_gpu_utilization_hourly where gpu_uuid = 'GPU-lab-001'"
    ) == [(True,)]
    # The gateway's calls count by the envelope's rules: the retried one once (its last
    # attempt), goodput only within chat-assistant's objectives; no other day or workload moved.
    assert pipeline.query(
        "select request_id, retry_of from raw.inference_requests"
        " where source_system = 'litellm' order by 1"
    ) == [("call-a", "req-a"), ("call-b1", "req-b"), ("call-b2", "req-b")]
    tokens_after = _tokens(pipeline)
    chat = (third, "chat-assistant")
    (useful_before, good_before), (useful_after, good_after) = (
        tokens_before.pop(chat),
        tokens_after.pop(chat),
    )
    assert useful_after - useful_before == 1000 + 200 + 800 + 100
    assert good_after - good_before == 1000 + 200
    assert tokens_after == tokens_before

    # The price book: a negotiated price for one API model. Prices are read by every day.
    (pipeline.landing / "prices").mkdir(exist_ok=True)
    (pipeline.landing / "prices" / "negotiated.json").write_text(
        json.dumps(
            {
                "gpt-4o-mini": {
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "input_cost_per_token": 1e-7,
                    "output_cost_per_token": 4e-7,
                }
            }
        )
    )
    summary = pipeline.run(instance=instance)
    [reference] = [run_id for job, _, run_id in summary.runs if job == "ingest_reference"]
    assert _usage_days_changed(instance, reference, "api_prices") == "every day"
    [every_day] = [key for job, key, _ in summary.runs if job == "build_daily"]
    [(billed_first, billed_last)] = pipeline.query(
        "select min(line_item_usage_start_date)::date::varchar,"
        " (max(line_item_usage_end_date) - interval 1 microsecond)::date::varchar"
        " from raw.aws_cur_line_items"
    )
    assert every_day == f"{min(first, billed_first)}...{max(third, billed_last)}"

    # A billed GPU swapped on the third day: its slot is the new GPU on that day, and the old
    # one on the days before.
    _respool(pipeline, third, "p4d-001", uuid="GPU-ffffffff-swapped", gpu_index=0)
    pipeline.run(start=date.fromisoformat(third), end=date.fromisoformat(third))
    assert pipeline.query(
        "select distinct cast(hour_start_at as date)::varchar"
        " from intermediate.int_gpu_costs_hourly where gpu_uuid = 'GPU-ffffffff-swapped' order by 1"
    ) == [(third,)]

    incremental = pipeline.fingerprint()
    pipeline.run(full_refresh=True)
    assert pipeline.fingerprint() == incremental


def _litellm_calls(pipeline: Pipeline, day: str) -> None:
    """LiteLLM StandardLoggingPayload files, as its S3 logger writes them, of calls to the demo's
    chat model at noon: one within chat-assistant's objectives (first token at 0.3 s, then
    (4.28 - 0.3) s / 199 tokens = 20 ms a token: docs/calibration.md), and one proxy request
    retried after a 503 whose answer came too late for them (first token at 1.5 s)."""
    noon = datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    folder = pipeline.landing / "inference" / "litellm" / day
    folder.mkdir(parents=True)
    for call, trace, status, at, first, end, prompt, completion in [
        ("call-a", "req-a", "success", 0, 0.3, 4.28, 1000, 200),
        ("call-b1", "req-b", "failure", 60, 0.01, 0.02, 800, 0),
        ("call-b2", "req-b", "success", 61, 1.5, 5.0, 800, 100),
    ]:
        payload = {
            "id": call,
            "trace_id": trace,
            "call_type": "acompletion",
            "status": status,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "startTime": noon + at,
            "endTime": noon + at + end,
            "completionStartTime": noon + at + first,
            "model": "meta-llama/Llama-3.1-70B-Instruct",
            "api_base": "http://p5-000:8000/v1",
            "metadata": {"user_api_key_team_alias": "chat-assistant"},
            "response": {"choices": [{"finish_reason": "stop"}]} if status == "success" else {},
            "error_information": {"error_code": "503"} if status == "failure" else None,
        }
        (folder / f"time-12-00-{at:02d}_{call}.json").write_text(json.dumps(payload))


def _tokens(pipeline: Pipeline) -> dict[tuple[str, str], tuple[int, int | None]]:
    """Useful and goodput tokens per day and workload."""
    rows = pipeline.query(
        "select cast(usage_date as varchar), workload, sum(useful_tokens),"
        " case when bool_or(goodput_tokens is null) then null else sum(goodput_tokens) end"
        " from marts.fct_workload_unit_cost_daily group by 1, 2"
    )
    return {(day, workload): (int(useful), goodput) for day, workload, useful, goodput in rows}


def _usage_days_changed(instance: Any, run_id: str, table: str) -> object:
    """What a run's landing of raw.<table> reported as the usage days it changed."""
    import dagster as dg

    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        if materialization is not None and materialization.asset_key.path == ["raw", table]:
            return materialization.metadata["usage_days_changed"].value["days"]
    raise AssertionError(f"run {run_id} landed no raw.{table}")


def _respool(
    pipeline: Pipeline,
    day: str,
    like: str,
    *,
    uuid: str,
    host: str | None = None,
    resource: str | None = None,
    gpu_index: int | None = None,
) -> None:
    """Write a spool file of `day` from host `like`'s: as another host's (`host`, `resource`,
    one GPU `uuid`), or in place with the GPU at `gpu_index` given the id `uuid`."""
    [path] = (pipeline.landing / "telemetry" / "nvml").glob(f"host={like}/date={day}/*.parquet")
    table = pq.read_table(path)
    if host is None:
        index = pc.equal(table["gpu_index"], pa.scalar(gpu_index, table["gpu_index"].type))
        column = pc.if_else(index, pa.scalar(uuid), table["gpu_uuid"])
        table = table.set_column(table.schema.get_field_index("gpu_uuid"), "gpu_uuid", column)
        target = path
    else:
        table = table.filter(pc.equal(table["gpu_index"], 0))
        for name, value in (("host", host), ("cloud_resource_id", resource), ("gpu_uuid", uuid)):
            column = pa.repeat(pa.scalar(value, table.schema.field(name).type), table.num_rows)
            table = table.set_column(table.schema.get_field_index(name), name, column)
        target = path.parents[1].with_name(f"host={host}") / f"date={day}" / f"{host}.parquet"
        target.parent.mkdir(parents=True)
    pq.write_table(table, target)


def _cost_by_day_and_kind(pipeline: Pipeline) -> list[tuple[tuple[str, str], Decimal]]:
    """Cost per usage day, on GPUs and as unused commitment, to the cent."""
    return [
        ((str(day), kind), cost)
        for day, kind, cost in pipeline.query(
            "select cast(hour_start_at as date),"
            " case when workload like '%(unused commitment)' then 'unused' else 'gpu' end,"
            " round(sum(cost_usd), 2) from marts.fct_cost_per_useful_token group by 1, 2"
        )
    ]


def test_restated_month_delivered_three_times_counts_once(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    period_dir = next(pipeline.landing.glob("aws_cur/*/metadata/BILLING_PERIOD=2026-10"))
    _preliminary, final = sorted(period_dir.iterdir())
    cost_before = pipeline.query("select sum(cost_usd) from marts.fct_cost_per_useful_token")
    lines_before = pipeline.query(
        "select count(*) from raw.aws_cur_line_items where billing_period = '2026-10'"
    )
    # The first delivery was preliminary (4% over the final price, no savings plan): only the
    # final one is in the warehouse.
    assert pipeline.query(
        "select execution_id from raw.aws_cur_deliveries where billing_period = '2026-10'"
    ) == [(final.name.split("-", 1)[1],)]

    redeliver(period_dir, final, "20261104T030000Z", "33333333-3333-3333-3333-333333333333")
    pipeline.run()

    assert (
        pipeline.query(
            "select count(*) from raw.aws_cur_line_items where billing_period = '2026-10'"
        )
        == lines_before
    )
    assert pipeline.query(
        "select count(distinct execution_id) from raw.aws_cur_line_items"
        " where billing_period = '2026-10'"
    ) == [(1,)]
    assert pipeline.query(
        "select execution_id from raw.aws_cur_deliveries where billing_period = '2026-10'"
    ) == [("33333333-3333-3333-3333-333333333333",)]
    assert (
        pipeline.query("select sum(cost_usd) from marts.fct_cost_per_useful_token") == cost_before
    )


def test_newest_delivery_whose_data_files_have_not_all_arrived_is_not_used(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = demo_pipeline.copy_to(tmp_path)
    period_dir = next(pipeline.landing.glob("aws_cur/*/metadata/BILLING_PERIOD=2026-10"))
    final = sorted(period_dir.iterdir())[-1]
    newer = redeliver(period_dir, final, "20261105T030000Z", "44444444-4444-4444-4444-444444444444")
    manifest_file = next(newer.glob("*Manifest.json"))
    manifest = json.loads(manifest_file.read_text())
    manifest["dataFiles"].append(manifest["dataFiles"][0].replace("00001", "00002"))
    manifest_file.write_text(json.dumps(manifest))

    pipeline.run()

    assert pipeline.query(
        "select execution_id from raw.aws_cur_deliveries where billing_period = '2026-10'"
    ) == [(final.name.split("-", 1)[1],)]


def test_the_days_of_a_failed_build_are_built_by_the_next_run(
    demo_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restated bill is landed, then the build of the day it changed fails (here: before dbt
    starts, as a crash would). The next run finds no bill that differs from what is landed, and
    builds that day all the same: Dagster holds it as a failed partition of the daily models."""
    import dagster as dg

    from pipelines.defs.transform import assets
    from pipelines.runner import RunFailed

    pipeline = demo_pipeline.copy_to(tmp_path)
    instance = dg.DagsterInstance.ephemeral()  # one instance for both runs, as under DAGSTER_HOME
    first = "2026-10-30"
    cost_before = dict(_cost_by_day_and_kind(pipeline))
    restate_october_hour(pipeline.landing, f"{first} 05", "77777777-7777-7777-7777-777777777777")

    def crash(window: dg.TimeWindow) -> assets.Batches:
        raise RuntimeError("the build stopped")

    with monkeypatch.context() as patched:
        patched.setattr(assets, "batches", crash)
        with pytest.raises(RunFailed, match="build_daily"):
            pipeline.run(instance=instance)
    assert dict(_cost_by_day_and_kind(pipeline)) == cost_before

    summary = pipeline.run(instance=instance)
    assert [(job, key) for job, key, _ in summary.runs][-1] == ("build_daily", f"{first}...{first}")
    cost_after = dict(_cost_by_day_and_kind(pipeline))
    assert cost_after[(first, "gpu")] - cost_before[(first, "gpu")] == Decimal("1")
    # Built: no day is failed any more, and the run after builds nothing.
    assert [job for job, _, _ in pipeline.run(instance=instance).runs][-1] == "publish"
