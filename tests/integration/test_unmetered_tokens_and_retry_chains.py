"""Every useful token counted once, and no cost shown that was not measured (DESIGN.md rules 5
and 6), on the 4-GPU fleet with faults written into its landing zone:

* a host sent no telemetry for a day (g5-000 on 2026-04-01) and another none for three hours
  (g5-001 on 2026-03-31, 10:00-13:00);
* a workload, `retry-lab`, that logged requests on no GPU the telemetry saw, in retry chains:
  a mixed chain, a cycle, chains of 50 and 70 retries, and one across midnight, files and a
  re-shipped copy;
* and the same fleet with request logs and telemetry but no bill or contract.

The expected figures come from the generator's own requests and truth.json, not from the
models.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from synth import build_fleet
from tests.conftest import Pipeline

pytestmark = pytest.mark.integration

FLEET = {"gpus": 4, "days": 2, "seed": 11, "start": date(2026, 3, 31)}
DAY_1, DAY_2 = date(2026, 3, 31), date(2026, 4, 1)
LAB_MODEL = "meta-llama/Llama-3.1-70B-Instruct"
CENT = Decimal("0.005")


def _is_dark(host: str, at: datetime) -> bool:
    """The host-hours whose telemetry this test removes."""
    if host == "g5-000":
        return at.date() == DAY_2
    return host == "g5-001" and at.date() == DAY_1 and 10 <= at.hour < 13


def _lab_line(request_id: str, at: datetime, status: int = 200, **fields: object) -> str:
    return json.dumps(
        {
            "time": at.isoformat() + "Z",
            "request_id": request_id,
            "host": "g5-000",
            "workload": "retry-lab",
            "model": LAB_MODEL,
            "status": status,
            "finish_reason": "stop" if status == 200 else None,
            "usage": {"prompt_tokens": 100, "completion_tokens": 10} if status == 200 else None,
            **fields,
        }
    )


def _chain(prefix: str, retries: int, start: datetime) -> list[str]:
    """An attempt and `retries` retries, each naming the one before; all succeed."""
    return [
        _lab_line(
            f"{prefix}{n}",
            start + timedelta(seconds=n),
            attempt=n + 1,
            retry_of=f"{prefix}{n - 1}" if n else None,
        )
        for n in range(retries + 1)
    ]


def _write_retry_lab(landing: Path) -> None:
    day_1 = datetime(2026, 3, 31)
    lines_1 = [
        # Mixed: m2 retries m1, m3 retries m2, m4 retries m1; only m4, the last, counts.
        _lab_line("m1", day_1.replace(hour=9), status=503, attempt=1),
        _lab_line("m2", day_1.replace(hour=9, second=10), status=503, attempt=2, retry_of="m1"),
        _lab_line("m3", day_1.replace(hour=9, second=20), attempt=3, retry_of="m2"),
        _lab_line("m4", day_1.replace(hour=9, second=30), attempt=4, retry_of="m1"),
        # A cycle.
        _lab_line("y1", day_1.replace(hour=9, minute=5), retry_of="y2"),
        _lab_line("y2", day_1.replace(hour=9, minute=6), retry_of="y1", attempt=2),
        *_chain("d", 50, day_1.replace(hour=11)),
        *_chain("e", 70, day_1.replace(hour=12)),
        _lab_line("n1", day_1.replace(hour=23, minute=59, second=50), status=503),
    ]
    day_2 = datetime(2026, 4, 1)
    retry = _lab_line("n2", day_2.replace(second=20), attempt=2, retry_of="n1")
    folders = landing / "inference" / "requests"
    (folders / f"date={DAY_1}" / "retry-lab.jsonl").write_text("\n".join(lines_1) + "\n")
    (folders / f"date={DAY_2}" / "retry-lab-b.jsonl").write_text(retry + "\n")
    # The same two attempts shipped again in another file.
    (folders / f"date={DAY_2}" / "retry-lab-c.jsonl").write_text(retry + "\n" + lines_1[-1] + "\n")


def _darken_telemetry(landing: Path) -> None:
    nvml = landing / "telemetry" / "nvml"
    shutil.rmtree(nvml / "host=g5-000" / f"date={DAY_2}")
    (spool,) = (nvml / "host=g5-001" / f"date={DAY_1}").glob("*.parquet")
    table = pq.read_table(spool)
    hour = pc.hour(table["window_start"])
    keep = pc.or_(pc.less(hour, 10), pc.greater_equal(hour, 13))
    pq.write_table(table.filter(keep), spool)


def _fresh(source: Pipeline, folder: Path) -> Pipeline:
    shutil.copytree(source.landing, folder / "landing")
    return Pipeline(folder / "landing", folder / "gpuledger.duckdb")


@pytest.fixture(scope="module")
def faulty(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    pipeline = _fresh(pipeline_factory(**FLEET), tmp_path_factory.mktemp("faulty"))
    _darken_telemetry(pipeline.landing)
    _write_retry_lab(pipeline.landing)
    pipeline.run()
    return pipeline


@pytest.fixture(scope="module")
def unbilled(
    pipeline_factory: Callable[..., Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    pipeline = _fresh(pipeline_factory(**FLEET), tmp_path_factory.mktemp("unbilled"))
    shutil.rmtree(pipeline.landing / "aws_cur")
    shutil.rmtree(pipeline.landing / "contracts")
    pipeline.run()
    return pipeline


def _generated_tokens() -> tuple[dict, dict]:
    """(useful, unmetered) tokens per (day, workload), from the generator's requests."""
    useful: dict[tuple[str, str], int] = defaultdict(int)
    unmetered: dict[tuple[str, str], int] = defaultdict(int)
    for request in build_fleet(**FLEET).all_requests:
        if not request.useful:
            continue
        key = (request.created_at.date().isoformat(), request.workload)
        tokens = (request.prompt_tokens or 0) + (request.completion_tokens or 0)
        useful[key] += tokens
        if _is_dark(request.host, request.created_at):
            unmetered[key] += tokens
    return useful, unmetered


def _daily(pipeline: Pipeline) -> dict[tuple[str, str], tuple]:
    rows = pipeline.query(
        "select cast(usage_date as varchar), workload, cost_usd, useful_tokens,"
        " metered_useful_tokens, unmetered_useful_tokens, cost_per_million_useful_tokens,"
        " unpriced_reason from marts.fct_workload_unit_cost_daily"
        " where workload not like '(%'"
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def test_tokens_of_hours_without_telemetry_are_counted_unmetered_and_not_priced(
    faulty: Pipeline,
) -> None:
    useful, unmetered = _generated_tokens()
    useful[(DAY_1.isoformat(), "retry-lab")] = 220  # m4 and d50
    useful[(DAY_2.isoformat(), "retry-lab")] = 110  # n2, once
    unmetered[(DAY_1.isoformat(), "retry-lab")] = 220
    unmetered[(DAY_2.isoformat(), "retry-lab")] = 110
    daily = _daily(faulty)
    assert {k for k, v in useful.items() if v} <= set(daily)
    assert (
        unmetered[(DAY_2.isoformat(), "chat-assistant")]
        == useful[(DAY_2.isoformat(), "chat-assistant")]
        > 1_000_000
    )
    assert (
        0
        < unmetered[(DAY_1.isoformat(), "code-complete")]
        < useful[(DAY_1.isoformat(), "code-complete")]
    )
    for key, (cost, tokens, metered, dark, per_million, reason) in daily.items():
        assert tokens == useful[key], key
        assert dark == unmetered[key], key
        assert metered == tokens - dark, key
        if metered:
            assert reason is None, key
            assert abs(per_million - cost * 1_000_000 / metered) < Decimal("0.000001"), key
        else:
            assert per_million is None, key
    # A whole day with no telemetry of its workload: no cost known, no price per token.
    chat = daily[(DAY_2.isoformat(), "chat-assistant")]
    assert (chat[0], chat[4], chat[5]) == (None, None, "no_gpu_telemetry")
    assert daily[(DAY_1.isoformat(), "retry-lab")][4:] == (None, "no_gpu_telemetry")
    assert daily[(DAY_1.isoformat(), "translate-canary")][4:] == (None, "no_useful_tokens")


def test_the_hourly_fact_keeps_unmetered_tokens_on_rows_of_no_gpu(faulty: Pipeline) -> None:
    _, unmetered = _generated_tokens()
    rows = faulty.query(
        "select cast(cast(hour_start_at as date) as varchar), workload,"
        " sum(useful_prompt_tokens + useful_completion_tokens), count(cost_usd),"
        " count(gpu_uuid), bool_or(is_metered), min(unmetered_reason)"
        " from marts.fct_cost_per_useful_token"
        " where gpu_uuid is null and cost_bucket = 'workload' group by 1, 2"
    )
    off_gpus = {(r[0], r[1]): r[2:] for r in rows}
    expected = {k: v for k, v in unmetered.items() if v}
    expected[(DAY_1.isoformat(), "retry-lab")] = 220
    expected[(DAY_2.isoformat(), "retry-lab")] = 110
    assert {k: v[0] for k, v in off_gpus.items()} == expected
    assert {v[1:] for v in off_gpus.values()} == {(0, 0, False, "no_gpu_telemetry")}


def test_both_facts_hold_the_same_useful_tokens_per_day_workload_and_model(
    faulty: Pipeline,
) -> None:
    hourly = faulty.query(
        "select cast(hour_start_at as date), workload, model,"
        " cast(round(sum(useful_prompt_tokens)) as bigint),"
        " cast(round(sum(useful_completion_tokens)) as bigint)"
        " from marts.fct_cost_per_useful_token where model is not null group by 1, 2, 3"
        " having sum(useful_prompt_tokens + useful_completion_tokens) > 0 order by all"
    )
    daily = faulty.query(
        "select usage_date, workload, model, useful_prompt_tokens, useful_completion_tokens"
        " from marts.fct_workload_unit_cost_daily where useful_tokens > 0 order by all"
    )
    assert hourly == daily
    assert len(daily) == 8


def test_cost_stays_conserved_to_the_cent_with_hours_missing(faulty: Pipeline) -> None:
    """What the dark hours cost is unallocated: every day still sums to the generator's bill
    and contracts."""
    truth = json.loads((faulty.landing / "truth.json").read_text())
    for fact, day_column, table in (
        ("hourly", "cast(hour_start_at as date)", "marts.fct_cost_per_useful_token"),
        ("daily", "usage_date", "marts.fct_workload_unit_cost_daily"),
    ):
        totals = dict(
            faulty.query(
                f"select cast({day_column} as varchar), sum(cost_usd) from {table} group by 1"
            )
        )
        for day in truth["daily"]:
            assert abs(totals[day["date"]] - Decimal(day["gpu_cost_usd"])) < CENT, (fact, day)
    # g5-000's GPU on the dark day is unallocated whole.
    [(dark_cost,)] = faulty.query(
        "select sum(cost_usd) from marts.fct_cost_per_useful_token"
        " where host = 'g5-000' and cast(hour_start_at as date) = ? and workload = '(unallocated)'",
        [DAY_2],
    )
    assert abs(dark_cost - Decimal("0.724320") * 24) < CENT


def test_retry_chains_are_followed_to_their_first_attempt(faulty: Pipeline) -> None:
    rows = faulty.query(
        "select request_id, waste_reason from intermediate.int_requests_classified"
        " where workload = 'retry-lab'"
    )
    verdicts = defaultdict(list)
    for request_id, reason in rows:
        verdicts[request_id].append(reason)
    assert len(rows) == len(verdicts)  # the re-shipped copies count once
    useful = sorted(k for k, v in verdicts.items() if v == [None])
    assert useful == ["d50", "m4", "n2"]
    assert {verdicts[k][0] for k in ("m1", "m2", "m3", "n1", "d0", "d49", "e0", "e64")} == {
        "superseded_by_retry"
    }
    # A cycle, and the attempts more than 64 retries from their chain's first.
    unresolved = sorted(k for k, v in verdicts.items() if v == ["retry_chain_unresolved"])
    assert unresolved == ["e65", "e66", "e67", "e68", "e69", "e70", "y1", "y2"]


def test_unresolved_retry_chains_are_listed_with_file_and_line(faulty: Pipeline) -> None:
    # The builds of the models made a day at a time and of the others, and their tests.
    by_name = {
        r["unique_id"].split(".")[2]: r
        for target in ("dbt-target-monthly", "dbt-target")
        for r in json.loads((faulty.warehouse.parent / target / "run_results.json").read_text())[
            "results"
        ]
    }
    chains = by_name["assert_retry_chains_resolve"]
    assert (chains["status"], chains["failures"]) == ("warn", 8)
    assert by_name["assert_facts_hold_the_same_useful_tokens"]["status"] == "pass"
    assert by_name["assert_request_token_counts_known"]["status"] == "pass"


def test_request_logs_without_a_bill_have_tokens_but_no_cost(unbilled: Pipeline) -> None:
    useful, _ = _generated_tokens()
    daily = _daily(unbilled)
    assert set(daily) == {k for k in useful} | {
        (d.isoformat(), "translate-canary") for d in (DAY_1, DAY_2)
    }
    for key, (cost, tokens, metered, dark, per_million, reason) in daily.items():
        assert (tokens, metered, dark) == (useful[key], 0, useful[key]), key
        assert (cost, per_million) == (None, None), key
        assert reason == ("no_gpu_cost" if tokens else "no_useful_tokens"), key
    hourly = unbilled.query(
        "select is_metered, unmetered_reason, count(*), count(cost_usd), count(gpu_uuid)"
        " from marts.fct_cost_per_useful_token group by 1, 2"
    )
    assert [r[:2] + r[3:] for r in hourly] == [(False, "no_gpu_cost", 0, hourly[0][2])]


def test_the_summary_and_the_report_say_which_tokens_were_not_priced(
    faulty: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import print_summary
    from report import build_report

    useful, unmetered = _generated_tokens()
    dark = unmetered[(DAY_2.isoformat(), "chat-assistant")]
    whole = sum(v for (_, workload), v in useful.items() if workload == "chat-assistant")
    assert dark < whole
    print_summary(faulty.warehouse)
    printed = " ".join(capsys.readouterr().out.split())
    assert (
        f"unmetered: {dark:,} of chat-assistant's {whole:,} useful tokens" in printed
        and "(no GPU telemetry of the workload on its host in those hours)" in printed
    )
    assert "unmetered: 330 of retry-lab's 330 useful tokens" in printed
    page = build_report(faulty.warehouse)
    assert f"unmetered: {dark:,} of chat-assistant&#x27;s {whole:,} useful tokens" in page
