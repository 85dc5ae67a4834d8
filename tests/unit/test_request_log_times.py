"""Request-log times as systems write them (docs/request-logs.md): offsets, a declared zone for
times without one, epoch numbers; usage objects that lack a count; a public trace landed whole."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from pipelines.defs.sources.inference import load as requests
from pipelines.lib.errors import LandingError
from pipelines.lib.warehouse import connect
from tests.conftest import SAMPLES

DAY = date(2023, 11, 16)
ENVELOPE = {"host": "h", "workload": "w", "model": "m", "status": 200, "finish_reason": "stop"}


def _line(number: int, time: object, **fields: object) -> str:
    usage = {"prompt_tokens": 10, "completion_tokens": 2}
    record = {"time": time, "request_id": f"r{number}", **ENVELOPE, "usage": usage}
    return json.dumps(record | fields)


def _land(
    tmp_path: Path, lines: dict[str, list[str]], day: date = DAY
) -> tuple[list[tuple], list[tuple]]:
    """Lands the files of one day; (source_file, source_line, requested_at) rows and
    (source_file, reason, count) of the quarantine."""
    folder = tmp_path / "landing" / "inference" / "requests" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in lines.items():
        (folder / name).write_text("".join(line + "\n" for line in content))
    landing = tmp_path / "landing"
    files = requests.request_files(landing / "inference", day)
    with connect(tmp_path / "w.duckdb") as conn:
        requests.land_day(conn, day, files, landing)
        rows = conn.execute(
            "select source_file, source_line, requested_at from raw.inference_requests"
            " order by 1, 2"
        ).fetchall()
        quarantine = conn.execute(
            "select source_file, reason, count(*) from raw.quarantine group by 1, 2 order by 1, 2"
        ).fetchall()
    return rows, quarantine


def test_times_without_an_offset_are_quarantined_with_one_reason_per_file_and_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(requests.TIME_ZONE_SETTING, raising=False)
    # As Azure's public LLM inference traces write times: no offset, seven decimals.
    naive = [_line(n, f"2023-11-16 18:17:{n:02d}.9799600") for n in range(1, 6)]
    rows, quarantine = _land(
        tmp_path,
        {
            "a.jsonl": naive,
            "b.jsonl": [*naive[:2], _line(9, "2023-11-16T18:00:00Z"), _line(10, "soon")],
        },
    )
    assert [(r[0].rsplit("/", 1)[1], r[1]) for r in rows] == [("b.jsonl", 3)]
    assert [(f.rsplit("/", 1)[1], reason, n) for f, reason, n in quarantine] == [
        ("a.jsonl", requests.NO_OFFSET, 5),
        ("b.jsonl", requests.NO_OFFSET, 2),
        ("b.jsonl", requests.NOT_ISO, 1),
    ]
    assert "GPULEDGER_REQUEST_TIME_ZONE" in requests.NO_OFFSET


def test_a_declared_utc_zone_reads_times_without_an_offset_and_keeps_explicit_offsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(requests.TIME_ZONE_SETTING, "UTC")
    rows, quarantine = _land(
        tmp_path,
        {
            "a.jsonl": [
                _line(1, "2023-11-16 18:17:03.9799600"),
                _line(2, "2023-11-16T18:17:03+02:00"),
            ]
        },
    )
    assert quarantine == []
    assert [r[2] for r in rows] == [
        datetime(2023, 11, 16, 18, 17, 3, 979960),
        datetime(2023, 11, 16, 16, 17, 3),
    ]


def test_a_declared_zone_across_daylight_saving_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """America/New_York: on 2023-11-05 01:30 happens twice (EDT, then EST): the first is taken;
    on 2023-03-12 02:30 never happens: refused. Either side of each change, the offset of the
    day."""
    monkeypatch.setenv(requests.TIME_ZONE_SETTING, "America/New_York")
    autumn, autumn_quarantine = _land(
        tmp_path / "autumn",
        {
            "a.jsonl": [
                _line(1, "2023-11-05T00:30:00"),  # EDT, -4
                _line(2, "2023-11-05T01:30:00"),  # ambiguous: the first, EDT
                _line(3, "2023-11-05T02:30:00"),  # EST, -5
                _line(4, "2023-11-05T01:30:00-05:00"),  # an explicit offset is kept
            ]
        },
        day=date(2023, 11, 5),
    )
    spring, quarantine = _land(
        tmp_path / "spring",
        {
            "a.jsonl": [
                _line(1, "2023-03-12T01:30:00"),  # EST
                _line(2, "2023-03-12T02:30:00"),  # skipped
                _line(3, "2023-03-12T03:30:00"),  # EDT
            ]
        },
        day=date(2023, 3, 12),
    )
    assert [(r[1], r[2]) for r in autumn] == [
        (1, datetime(2023, 11, 5, 4, 30)),
        (2, datetime(2023, 11, 5, 5, 30)),
        (3, datetime(2023, 11, 5, 7, 30)),
        (4, datetime(2023, 11, 5, 6, 30)),
    ]
    assert [(r[1], r[2]) for r in spring] == [
        (1, datetime(2023, 3, 12, 6, 30)),
        (3, datetime(2023, 3, 12, 7, 30)),
    ]
    assert autumn_quarantine == []
    assert [(reason, n) for _, reason, n in quarantine] == [
        ("time does not exist in America/New_York (a daylight-saving change)", 1)
    ]


def test_epoch_seconds_and_milliseconds_as_json_numbers_are_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(requests.TIME_ZONE_SETTING, raising=False)
    rows, quarantine = _land(
        tmp_path,
        {
            "a.jsonl": [
                _line(1, 1700158623.979960),  # float seconds, as LiteLLM writes startTime
                _line(2, 1700158623),
                _line(3, 1700158623979),  # milliseconds
                _line(4, 1700158623979.5),
            ]
        },
    )
    assert quarantine == []
    assert [r[2] for r in rows] == [
        datetime(2023, 11, 16, 18, 17, 3, 979960),
        datetime(2023, 11, 16, 18, 17, 3),
        datetime(2023, 11, 16, 18, 17, 3, 979000),
        datetime(2023, 11, 16, 18, 17, 3, 979500),
    ]


def test_a_declared_zone_that_does_not_exist_stops_the_landing_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(requests.TIME_ZONE_SETTING, "Mars/Olympus_Mons")
    with pytest.raises(LandingError, match=r"GPULEDGER_REQUEST_TIME_ZONE.*Mars/Olympus_Mons"):
        _land(tmp_path, {"a.jsonl": [_line(1, "2023-11-16T18:00:00")]})


def test_changing_the_declared_zone_parses_the_day_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = {"a.jsonl": [_line(1, "2023-11-16T18:00:00")]}
    monkeypatch.setenv(requests.TIME_ZONE_SETTING, "UTC")
    assert [r[2] for r in _land(tmp_path, lines)[0]] == [datetime(2023, 11, 16, 18)]
    monkeypatch.setenv(requests.TIME_ZONE_SETTING, "Asia/Tokyo")
    assert [r[2] for r in _land(tmp_path, lines)[0]] == [datetime(2023, 11, 16, 9)]


def test_a_usage_without_a_count_lands_that_count_as_null_never_zero(tmp_path: Path) -> None:
    file = tmp_path / "a.jsonl"
    file.write_text(
        _line(1, "2023-11-16T18:00:00Z", usage={"prompt_tokens": 12})
        + "\n"
        + _line(2, "2023-11-16T18:00:00Z", usage={"completion_tokens": 3})
        + "\n"
    )
    table, rejected = requests.read_request_table(file, tmp_path)
    assert rejected == []
    assert [
        (r["has_usage"], r["prompt_tokens"], r["completion_tokens"]) for r in table.to_pylist()
    ] == [(True, 12, None), (True, None, 3)]


def test_mooncake_trace_as_request_logs_lands_with_the_traces_own_token_sums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real conversation trace of Kimi (Mooncake, FAST'25; shared/samples/traces): its
    millisecond offsets from a chosen start written as epoch milliseconds, its lengths as the
    usage object. Its sums are read here with json alone."""
    monkeypatch.delenv(requests.TIME_ZONE_SETTING, raising=False)
    trace = SAMPLES / "traces" / "mooncake_conversation_trace.jsonl"
    records = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    start_ms = 1_700_092_800_000  # 2023-11-16T00:00:00Z
    lines = [
        json.dumps(
            {
                "time": start_ms + record["timestamp"],
                "request_id": f"mooncake-{number}",
                "host": "kimi-0",
                "workload": "conversation",
                "model": "moonshotai/Kimi",
                "status": 200,
                "finish_reason": "stop",
                "usage": {
                    "prompt_tokens": record["input_length"],
                    "completion_tokens": record["output_length"],
                },
            }
        )
        for number, record in enumerate(records, start=1)
    ]
    _, quarantine = _land(tmp_path, {"mooncake.jsonl": lines})
    assert quarantine == []
    with connect(tmp_path / "w.duckdb") as conn:
        landed = conn.execute(
            "select count(*), sum(prompt_tokens), sum(completion_tokens),"
            " min(requested_at), max(requested_at) from raw.inference_requests"
        ).fetchone()
    assert landed is not None
    assert landed[:3] == (
        len(records),
        sum(r["input_length"] for r in records),
        sum(r["output_length"] for r in records),
    )
    # The trace's own totals (shared/samples/SOURCES.md), and its hour.
    assert landed[:3] == (12_031, 144_793_823, 4_122_048)
    assert landed[3] == datetime(2023, 11, 16)
    assert (landed[4] - landed[3]).total_seconds() <= 3600


@pytest.mark.parametrize("field", ["time", "request_id", "host", "workload", "model", "status"])
@pytest.mark.parametrize("value", [None, ""])
def test_a_required_field_null_or_empty_is_quarantined_never_landed(
    tmp_path: Path, field: str, value: object
) -> None:
    """The whole-file reader used to take `"time": null` (and every other required field
    null) for clean: the row landed and failed dbt later, or its tokens vanished."""
    good = [_line(n, "2023-11-16T18:00:00Z") for n in (1, 3)]
    bad = json.loads(_line(2, "2023-11-16T18:00:00Z")) | {field: value}
    rows, quarantine = _land(tmp_path, {"a.jsonl": [good[0], json.dumps(bad), good[1]]})
    assert [r[1] for r in rows] == [1, 3]
    reason = f"required field missing: {field}"
    assert quarantine == [("inference/requests/date=2023-11-16/a.jsonl", reason, 1)]
