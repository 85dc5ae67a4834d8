from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.defs.sources.aws_cur import load as cur
from pipelines.defs.sources.inference.load import (
    COLUMNS,
    parse_record,
    read_clean_request_file,
    read_day,
    read_request_file,
    read_request_table,
)
from pipelines.defs.sources.list_prices.load import read_exchange_rates
from pipelines.defs.sources.telemetry import load as telemetry
from pipelines.defs.sources.telemetry.load import read_spool_file
from pipelines.lib.errors import LandingError
from pipelines.lib.store import LocalStore
from pipelines.lib.warehouse import connect
from synth import build_fleet, write_landing_zone


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    write_landing_zone(build_fleet(gpus=18, days=2, seed=1), root)
    return root


def test_deliveries_are_ordered_and_the_newest_complete_one_wins(landing: Path) -> None:
    store = LocalStore(landing / "aws_cur", landing)
    found = cur.deliveries(store, "2026-10")
    assert len(found) == 2
    assert found[0].delivered_at < found[1].delivered_at
    assert cur.newest_complete(found) == found[1]
    assert cur.billing_periods(store) == ["2026-10"]


def test_delivery_with_a_missing_data_file_is_incomplete(landing: Path, tmp_path: Path) -> None:
    export = tmp_path / "aws_cur" / "exp"
    meta = export / "metadata" / "BILLING_PERIOD=2026-10" / "20261101T000000Z-abc"
    meta.mkdir(parents=True)
    (meta / "exp-Manifest.json").write_text(
        json.dumps(
            {
                "executionId": "abc",
                "dataFiles": [
                    "s3://b/p/exp/data/BILLING_PERIOD=2026-10/20261101T000000Z-abc/exp-00001.snappy.parquet"
                ],
            }
        )
    )
    (delivery,) = cur.deliveries(LocalStore(tmp_path / "aws_cur"), "2026-10")
    assert not delivery.complete
    assert delivery.missing[0].endswith("exp-00001.snappy.parquet")
    assert cur.newest_complete([delivery]) is None


def test_cur_null_cost_is_rejected_with_row_and_column(landing: Path, tmp_path: Path) -> None:
    store = LocalStore(landing / "aws_cur", landing)
    delivery = cur.newest_complete(cur.deliveries(store, "2026-10"))
    assert delivery is not None
    table = pq.read_table(store.root / delivery.data_keys[0])
    costs = table.column("line_item_unblended_cost").to_pylist()
    costs[4] = None
    broken = tmp_path / "broken.parquet"
    broken_store = LocalStore(tmp_path)
    pq.write_table(
        table.set_column(
            table.schema.get_field_index("line_item_unblended_cost"),
            "line_item_unblended_cost",
            pa.array(costs, pa.float64()),
        ),
        broken,
    )
    with pytest.raises(LandingError) as error:
        cur.read_delivery(
            broken_store,
            cur.Delivery("2026-10", "x", "cur2", "m", (0, "t", "x"), None, ("broken.parquet",), ()),
        )
    assert str(error.value) == (
        f"{broken}, row 5, column 'line_item_unblended_cost': value is null (expected a value)"
    )


def test_spool_file_flattens_processes_with_their_window(landing: Path) -> None:
    path = next(landing.glob("telemetry/nvml/host=p4d-001/date=2026-10-30/*.parquet"))
    windows, processes = read_spool_file(path, landing)
    assert windows.num_rows == 8 * 1440
    # GPUs 0-3: rag-search; 4-7: code-complete and doc-summarize share each GPU.
    assert processes.num_rows == 4 * 1440 + 4 * 1440 * 2
    assert set(processes.column("workload").to_pylist()) == {
        "rag-search",
        "code-complete",
        "doc-summarize",
    }
    assert windows.schema.field("window_start").type == pa.timestamp("us")


def test_spool_file_of_an_unknown_schema_version_is_rejected(landing: Path, tmp_path: Path) -> None:
    path = next(landing.glob("telemetry/nvml/host=g5-002/date=2026-10-30/*.parquet"))
    table = pq.read_table(path)
    index = table.schema.get_field_index("schema_version")
    future = tmp_path / "future.parquet"
    pq.write_table(
        table.set_column(index, "schema_version", pa.array([9] * table.num_rows, pa.int16())),
        future,
    )
    with pytest.raises(
        LandingError, match=r"column 'schema_version': unsupported spool schema_version \[9\]"
    ):
        read_spool_file(future, tmp_path)


def _landed_telemetry(warehouse: Path, landing: Path, day: date) -> dict[str, list[tuple]]:
    files = telemetry.spool_files(landing / "telemetry" / "nvml", day)
    with connect(warehouse) as conn:
        counts = telemetry.land_day(conn, day, files, landing)
        out = {
            table: sorted(conn.execute(f"select * from raw.{table}").fetchall(), key=repr)
            for table in ("nvml_gpu_windows", "nvml_process_windows")
        }
    assert counts == (len(out["nvml_gpu_windows"]), len(out["nvml_process_windows"]))
    return out


def test_spool_files_landed_from_parquet_equal_those_read_through_arrow(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = date(2026, 10, 30)
    files = telemetry.spool_files(landing / "telemetry" / "nvml", day)
    assert files and all(telemetry.vouched_by_footer(p) for p in files)
    straight = _landed_telemetry(tmp_path / "a.duckdb", landing, day)
    monkeypatch.setattr(telemetry, "vouched_by_footer", lambda path, footer=None: False)
    through_arrow = _landed_telemetry(tmp_path / "b.duckdb", landing, day)
    assert len(straight["nvml_gpu_windows"]) == sum(pq.read_metadata(p).num_rows for p in files)
    assert straight == through_arrow
    first = straight["nvml_gpu_windows"][0]
    assert any(isinstance(v, datetime) and v.tzinfo is None and v.date() == day for v in first)
    # Each process row carries how many processes its window listed (the attribution's fast path
    # for windows of one process relies on it).
    with connect(tmp_path / "a.duckdb") as conn:
        listed = conn.execute(
            "select window_process_count, count(*) = window_process_count"
            " from raw.nvml_process_windows group by gpu_uuid, window_start, window_process_count"
        ).fetchall()
    assert {count for count, _ in listed} == {1, 2}
    assert all(agrees for _, agrees in listed)


def test_a_spool_file_its_footer_cannot_vouch_for_is_read_through_arrow(
    landing: Path, tmp_path: Path
) -> None:
    path = next(landing.glob("telemetry/nvml/host=g5-002/date=2026-10-30/*.parquet"))
    table = pq.read_table(path)
    # Another integer type than the collector writes: Arrow casts it.
    index = table.schema.get_field_index("gpu_index")
    widened = tmp_path / "widened.parquet"
    pq.write_table(
        table.set_column(index, "gpu_index", table["gpu_index"].cast(pa.int64())), widened
    )
    assert telemetry.vouched_by_footer(path) and not telemetry.vouched_by_footer(widened)
    # No statistics in the footer: nothing vouches for the required columns.
    bare = tmp_path / "bare.parquet"
    pq.write_table(table, bare, write_statistics=False)
    assert not telemetry.vouched_by_footer(bare)
    # A null host: the Arrow reader quarantines the row, naming it, and lands the others.
    hosts = table["host"].to_pylist()
    hosts[4] = None
    broken = tmp_path / "host=g5-002" / "date=2026-10-30" / "broken.parquet"
    broken.parent.mkdir(parents=True)
    pq.write_table(
        table.set_column(table.schema.get_field_index("host"), "host", pa.array(hosts)), broken
    )
    assert not telemetry.vouched_by_footer(broken)
    with connect(tmp_path / "w.duckdb") as conn:
        landed, _ = telemetry.land_day(conn, date(2026, 10, 30), [broken], tmp_path)
        quarantined = conn.execute(
            "select source, partition_key, source_file, source_line, reason from raw.quarantine"
        ).fetchall()
    assert landed == table.num_rows - 1
    assert quarantined == [
        (
            "nvml",
            "2026-10-30",
            "host=g5-002/date=2026-10-30/broken.parquet",
            5,
            "host is null or empty",
        )
    ]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([], "line is not a JSON object"),
        (
            {
                "time": "2026-10-30T00:00:00Z",
                "request_id": "r",
                "host": "h",
                "workload": "w",
                "model": "m",
            },
            "required field missing: status",
        ),
        (
            {
                "time": "2026-10-30T00:00:00",
                "request_id": "r",
                "host": "h",
                "workload": "w",
                "model": "m",
                "status": 200,
            },
            "time has no UTC offset; declare the source's time zone with "
            "GPULEDGER_REQUEST_TIME_ZONE",
        ),
        (
            {
                "time": "2026-10-30T00:00:00Z",
                "request_id": "r",
                "host": "h",
                "workload": "w",
                "model": "m",
                "status": 200,
                "usage": {"prompt_tokens": -1},
            },
            "usage.prompt_tokens must be a non-negative integer, got -1",
        ),
    ],
)
def test_request_record_errors_say_what_is_wrong(record: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_record(record)


def test_request_record_reads_openai_usage_and_envelope() -> None:
    row = parse_record(
        {
            "time": "2026-10-30T10:00:00.5+02:00",
            "request_id": "r1",
            "host": "h",
            "workload": "w",
            "model": "m",
            "status": 200,
            "finish_reason": "stop",
            "attempt": 2,
            "retry_of": "r0",
            "synthetic": False,
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "total_tokens": 15,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
        }
    )
    assert row["requested_at"].isoformat() == "2026-10-30T08:00:00.500000"
    assert (
        row["prompt_tokens"],
        row["completion_tokens"],
        row["cached_prompt_tokens"],
        row["reasoning_tokens"],
        row["attempt"],
        row["retry_of"],
    ) == (10, 5, 4, 2, 2, "r0")


def test_request_file_keeps_good_lines_and_rejects_bad_ones(tmp_path: Path) -> None:
    log = tmp_path / "h.jsonl"
    good = {
        "time": "2026-10-30T00:00:00Z",
        "request_id": "r",
        "host": "h",
        "workload": "w",
        "model": "m",
        "status": 200,
        "usage": None,
    }
    log.write_text(json.dumps(good) + "\n\n[1]\n")
    rows, rejected = read_request_file(log, tmp_path)
    assert [r["source_line"] for r in rows] == [1]
    assert rows[0]["has_usage"] is False
    assert [(r.source_row, r.reason) for r in rejected] == [(3, "line is not a JSON object")]


def test_clean_request_files_read_whole_give_the_rows_of_the_line_reader(landing: Path) -> None:
    schema = pa.schema(list(COLUMNS.items()))
    files = sorted((landing / "inference" / "requests").rglob("*.jsonl"))
    whole = 0
    for path in files:
        rows, rejected = read_request_file(path, landing)
        fast = read_clean_request_file(path, landing)
        if fast is None:
            assert rejected, f"{path.name} is clean but was read line by line"
            continue
        whole += 1
        assert rejected == []
        assert fast.equals(pa.Table.from_pylist(rows, schema=schema)), path.name
    assert len(files) > 4 and whole >= len(files) - 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"time": "2026-10-30T00:00:00"}, "time has no UTC offset; declare the source's"),
        ({"time": "yesterday"}, "time is not a valid ISO 8601 time"),
        ({"time": True}, "time must be an ISO 8601 string or epoch seconds or milliseconds"),
        ({"time": 1e300}, "time is outside the years 1 to 9999"),
        ({"status": "200"}, "status must be an HTTP status code, got '200'"),
        ({"status": 99}, "status must be an HTTP status code, got 99"),
        ({"model": ""}, "required field missing: model"),
        ({"attempt": True}, "attempt must be a non-negative integer, got True"),
        ({"attempt": -1}, "attempt must be a non-negative integer, got -1"),
        ({"usage": [1]}, "usage must be an object or null"),
        ({"usage": {"prompt_tokens": 1.5}}, "usage.prompt_tokens must be a non-negative integer"),
        ({"usage": {"completion_tokens": -2}}, "usage.completion_tokens must be a non-negative"),
        ({"endpoint": 5}, "endpoint must be a string or null, got 5"),
        ({"finish_reason": ["stop"]}, "finish_reason must be a string or null, got ['stop']"),
        ({"retry_of": 7}, "retry_of must be a string or null, got 7"),
        ({"synthetic": "false"}, "synthetic must be true, false or null, got 'false'"),
        ({"synthetic": 1}, "synthetic must be true, false or null, got 1"),
        ({"request_id": 7}, None),  # read as the text "7"
        ({"host": True}, None),  # "True", as Python writes it
        ({"workload": {"a": [1]}}, None),
        ({"model": -1.5e3}, None),
        ({"status": {"code": 200}}, "status must be an HTTP status code"),
        ({"status": 2**64}, "status must be an HTTP status code"),
        ({"attempt": 2**31}, "attempt must be below 2**31"),  # Arrow reads it, as int64
        ({"usage": {"prompt_tokens": 2**63}}, "usage.prompt_tokens must be below 2**63"),
        ({"usage": {"prompt_tokens_details": 5}}, "usage.prompt_tokens_details must be an"),
        ({"time": "2026-10-30T24:00:00Z"}, "time is not a valid ISO 8601 time"),
        ({"time": "2026-02-30T00:00:00Z"}, "time is not a valid ISO 8601 time"),
        ({"time": 1_761_782_400.25}, None),  # epoch seconds, read line by line
        ({"time": "2026-10-30T00:00:00.1234567Z"}, None),
    ],
)
def test_a_file_with_a_line_arrow_cannot_vouch_for_is_read_line_by_line(
    tmp_path: Path, change: dict[str, object], reason: str | None
) -> None:
    good = {
        "time": "2026-10-30T00:00:00.25+01:00",
        "request_id": "r",
        "host": "h",
        "workload": "w",
        "model": "m",
        "status": 200,
        "attempt": 0,
        "usage": {"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 1}},
    }
    log = tmp_path / "h.jsonl"
    log.write_text(json.dumps(good) + "\n" + json.dumps({**good, **change}) + "\n")
    assert read_clean_request_file(log, tmp_path) is None
    table, rejected = read_request_table(log, tmp_path)
    assert [(r.source_row, r.reason[: len(reason)]) for r in rejected] == (
        [(2, reason)] if reason else []
    )
    assert table.num_rows == (1 if reason else 2)
    first = table.to_pylist()[0]
    assert (first["requested_at"].isoformat(), first["attempt"], first["cached_prompt_tokens"]) == (
        "2026-10-29T23:00:00.250000",
        0,  # landed as logged; staging reads 0 as the first attempt
        1,
    )
    # The same line alone is clean: read whole, with the line reader's values.
    log.write_text(json.dumps(good) + "\n")
    fast = read_clean_request_file(log, tmp_path)
    assert fast is not None and fast.to_pylist()[0] == {**first, "source_line": 1}


_ENVELOPE = '"time": "2026-10-30T00:00:00Z", "host": "h", "workload": "w", "model": "m"'


@pytest.mark.parametrize(
    ("line", "whole"),
    [
        # has_usage false, which Arrow cannot tell from {"x": 1}
        (f'{{{_ENVELOPE}, "request_id": "r", "status": 200, "usage": {{}}}}', False),
        (f'{{{_ENVELOPE}, "request_id": "r", "status": 200, "usage": {{"x": 3}}}}', False),
        (f'{{ {_ENVELOPE} , "request_id" : "r\\u00e9\\"" , "status" : 200 , "x": [1] }}', True),
        (f'{{{_ENVELOPE}, "request_id": "r", "status": 200, "attempt": -0}}', True),
        (f'{{{_ENVELOPE}, "request_id": "r", "status": 200}}'.replace("T", " ", 1), True),
        (f'{{{_ENVELOPE}, "request_id": "r", "request_id": "s", "status": 200}}', False),
        (f'{{{_ENVELOPE}, "request_id": "r", "status": 200, "synthetic": true}}\n', False),
        # A combining accent right after the opening quote, and a character outside the BMP.
        (f'{{{_ENVELOPE}, "request_id": "\u0301r\U0001f600", "status": 200}}', True),
        (f'{{{_ENVELOPE}, "request_id": "r", "status": 200, "retry_of": null}}', True),
        (f'{{{_ENVELOPE}, "request_id": "r", "status": 200}}'.replace("Z", "+05:30"), True),
        (f'{{{_ENVELOPE}, "request_id": "r", "status": 200}}'.replace("Z", ".5Z"), True),
        # A carriage return alone is JSON whitespace, not the end of a line.
        (f'{{{_ENVELOPE},\r"request_id": "r", "status": 200}}', True),
        # A byte order mark opening the file.
        (f'\ufeff{{{_ENVELOPE}, "request_id": "r", "status": 200}}', True),
    ],
)
def test_a_line_lands_as_the_line_reader_reads_it_whichever_reader_takes_it(
    tmp_path: Path, line: str, whole: bool
) -> None:
    """Lines json.dumps does not write: Arrow reads them whole only when it reads them alike."""
    log = tmp_path / "h.jsonl"
    log.write_text(line + "\n", encoding="utf-8")
    rows, rejected = read_request_file(log, tmp_path)
    assert rejected == [] and len(rows) == 1
    fast = read_clean_request_file(log, tmp_path)
    assert (fast is not None) == whole
    table, _ = read_request_table(log, tmp_path)
    assert table.to_pylist() == rows


def test_crlf_lines_and_byte_order_marks_read_alike_by_both_readers(tmp_path: Path) -> None:
    """A Windows file: CRLF line ends and a byte order mark opening it (ignored); a second mark
    opening a later line is not JSON there (quarantined by line, the file read line by line)."""
    record = f'{{{_ENVELOPE}, "request_id": "r", "status": 200}}'
    log = tmp_path / "h.jsonl"
    log.write_bytes(f"\ufeff{record}\r\n{record}\r\n".encode())
    whole = read_clean_request_file(log, tmp_path)
    assert whole is not None
    assert whole.column("source_line").to_pylist() == [1, 2]
    rows, rejected = read_request_file(log, tmp_path)
    assert rejected == [] and whole.to_pylist() == rows
    log.write_bytes(f"{record}\r\n\ufeff{record}\r\n".encode())
    assert read_clean_request_file(log, tmp_path) is None
    table, rejected = read_request_table(log, tmp_path)
    assert table.column("source_line").to_pylist() == [1]
    assert [(r.source_row, r.reason, r.raw_record) for r in rejected] == [
        (2, "invalid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig)", f"\ufeff{record}")
    ]


def test_a_lone_surrogate_is_quarantined_not_landed(tmp_path: Path) -> None:
    envelope = '"time": "2026-10-30T00:00:00Z", "host": "h", "workload": "w", "status": 200'
    log = tmp_path / "h.jsonl"
    log.write_text(
        f'{{{envelope}, "request_id": "r1", "model": "m"}}\n'
        f'{{{envelope}, "request_id": "r2", "model": "m\\ud83d"}}\n'
        f'{{{envelope}, "request_id": "r3", "model": "m\\ud83d\\ude00"}}\n'
    )
    assert read_clean_request_file(log, tmp_path) is None
    table, rejected = read_request_table(log, tmp_path)
    assert table.column("model").to_pylist() == ["m", "m\U0001f600"]
    assert [(r.source_row, r.reason) for r in rejected] == [
        (2, "model holds a lone UTF-16 surrogate: 'm\\ud83d'")
    ]


def test_two_exports_of_one_payer_account_in_a_period_are_refused_naming_both(
    landing: Path, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "aws_cur"
    shutil.copytree(landing / "aws_cur", root)
    shutil.copytree(root / "gpuledger-cur2", root / "second-export")
    for manifest in (root / "second-export").rglob("*Manifest.json"):  # its own data files
        manifest.write_text(manifest.read_text().replace("/gpuledger-cur2/", "/second-export/"))
    store = LocalStore(root)
    exports = cur.by_export(cur.deliveries(store, "2026-10"))
    assert list(exports) == [str(root / "gpuledger-cur2"), str(root / "second-export")]
    tables = {
        export: cur.read_delivery(store, cur.newest_complete(found))  # type: ignore[arg-type]
        for export, found in exports.items()
    }
    [payer] = set(tables[str(root / "gpuledger-cur2")].column("bill_payer_account_id").to_pylist())
    with pytest.raises(LandingError) as refused:
        cur.refuse_shared_payers("2026-10", tables)
    assert str(refused.value) == (
        f"{root / 'second-export'}, column 'bill_payer_account_id': billing period 2026-10 of"
        f" payer account {payer} is delivered by two exports ({root / 'gpuledger-cur2'} and"
        f" {root / 'second-export'}) (expected one export per payer account and billing period:"
        " remove or move the other export)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("currency,usd_per_unit\nEUR,1.1\n", "row 1: missing column(s) billing_period"),
        ("currency,billing_period,usd_per_unit\neuro,2024-09,1.1\n", "row 2, column 'currency'"),
        ("currency,billing_period,usd_per_unit\nEUR,2024-9,1.1\n", "column 'billing_period'"),
        ("currency,billing_period,usd_per_unit\nEUR,2024-09,-1\n", "column 'usd_per_unit'"),
        ("currency,billing_period,usd_per_unit\nEUR,2024-09,abc\n", "rate 'abc'"),
        (
            "currency,billing_period,usd_per_unit\nEUR,2024-09,1.1\nEUR,2024-09,1.2\n",
            "row 3, column 'billing_period': second rate for EUR in 2024-09 (the first is in row 2",
        ),
    ],
)
def test_exchange_rate_file_errors_name_row_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "prices" / "exchange_rates.csv"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(LandingError) as failure:
        read_exchange_rates(path, tmp_path)
    assert message in str(failure.value)


def test_exchange_rates_are_read_exactly(tmp_path: Path) -> None:
    path = tmp_path / "exchange_rates.csv"
    path.write_text(
        "currency,billing_period,usd_per_unit\neur,2024-09,1.0825\nNOK,2023-06,0.0931\n"
    )
    rows = read_exchange_rates(path, tmp_path)
    assert [
        (r["currency"], r["billing_period"], r["usd_per_unit"], r["source_row"]) for r in rows
    ] == [
        ("EUR", "2024-09", Decimal("1.0825"), 2),
        ("NOK", "2023-06", Decimal("0.0931"), 3),
    ]


def test_bytes_that_are_not_utf8_land_replaced_whichever_reader_is_tried(tmp_path: Path) -> None:
    envelope = '"time": "2026-10-30T00:00:00Z", "host": "h", "workload": "w", "status": 200'
    log = tmp_path / "h.jsonl"
    log.write_bytes(f'{{{envelope}, "request_id": "r\xff", "model": "m"}}\n'.encode("latin-1"))
    assert read_clean_request_file(log, tmp_path) is None  # Arrow read it, bytes and all
    table, rejected = read_day([log], tmp_path)
    assert rejected == [] and table.column("request_id").to_pylist() == ["r\ufffd"]


_GCP_ROW = {
    "sku.id": "6C71-E844-38BC",
    "usage_start_time": "2026-10-01 00:00:00 UTC",
    "usage_end_time": "2026-10-01 01:00:00 UTC",
    "cost": "5.5",
    "currency": "USD",
    "invoice.month": "202610",
}


def test_a_gcp_row_keeps_each_credit_as_given_and_classifies_none() -> None:
    from pipelines.defs.sources.gcp_billing.load import normalize

    row = normalize(
        {
            **_GCP_ROW,
            # A flattened CSV export writes the credits as a Python repr.
            "credits": "[{'name': 'Committed Usage Discount: GPU', 'amount': -2.25,"
            " 'type': 'COMMITTED_USAGE_DISCOUNT', 'id': 'c1'}, {'name': 'SUD', 'amount': '-0.5'}]",
        }
    )
    assert row["credits"] == [
        {
            "credit_index": 1,
            "name": "Committed Usage Discount: GPU",
            "type": "COMMITTED_USAGE_DISCOUNT",
            "full_name": None,
            "id": "c1",
            "amount": Decimal("-2.25"),
        },
        {
            "credit_index": 2,
            "name": "SUD",
            "type": None,
            "full_name": None,
            "id": None,
            "amount": Decimal("-0.5"),
        },
    ]
    assert (row["invoice_month"], row["cost"]) == ("2026-10", Decimal("5.5"))
    assert "credits_total" not in row  # sums and kinds of credits are staging's


@pytest.mark.parametrize(
    ("credits", "reason"),
    [
        ("not a list", "credits is neither JSON nor a Python list: 'not a list'"),
        ('{"amount": -1}', "credits is not a list"),
        ("[1, 2]", "credits is not a list of records"),
        ('[{"name": "x", "amount": "lots"}]', "credits.amount 'lots' is not a number"),
    ],
)
def test_a_gcp_row_with_credits_that_cannot_be_read_is_refused_with_the_reason(
    credits: str, reason: str
) -> None:
    from pipelines.defs.sources.gcp_billing.load import _normalize_all

    rows, rejected = _normalize_all([{**_GCP_ROW, "credits": credits}, _GCP_ROW], "f.jsonl")
    assert [(r.source_row, r.reason) for r in rejected] == [(1, reason)]
    assert [r["source_row"] for r in rows] == [2]
