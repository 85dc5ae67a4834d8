"""The raw layer as files (pipelines/lib/raw_files.py): spool files kept as landed, request logs
as one Parquet file a day, bills and contracts as Parquet partitions; replaced whole, all or
nothing, and settled by the next connection after an interruption."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from collectors.spool import SPOOL_SCHEMA
from pipelines.defs.sources.inference import load as requests
from pipelines.defs.sources.telemetry import load as telemetry
from pipelines.lib import raw_files
from pipelines.lib.warehouse import (
    LAYOUT_VERSION,
    Rejected,
    WarehouseUnusable,
    connect,
    lock_holder,
    replace_partition,
)
from synth import build_fleet, write_landing_zone

DAY = date(2026, 10, 30)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    write_landing_zone(build_fleet(gpus=18, days=2, seed=1), root)
    return root


def _spool(landing: Path, day: date = DAY) -> list[Path]:
    return telemetry.spool_files(landing / "telemetry" / "nvml", day)


def _rows(warehouse: Path) -> dict[str, list[tuple]]:
    with connect(warehouse) as conn:
        return {
            table: sorted(conn.execute(f"select * from raw.{table}").fetchall(), key=repr)
            for table in ("nvml_gpu_windows", "nvml_process_windows")
        }


def _kept(warehouse: Path, table: str = "nvml_spool") -> list[str]:
    """The table's files, relative to its folder, less the empty file of its columns."""
    root = warehouse.parent / f"{warehouse.stem}_raw" / table
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.parent.name != "schema"
    )


def _paths(warehouse: Path, table: str = "nvml_spool") -> list[Path]:
    root = warehouse.parent / f"{warehouse.stem}_raw" / table
    return [root / name for name in _kept(warehouse, table)]


def test_a_vouched_day_is_kept_as_its_files_and_reads_as_rows(
    landing: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "w.duckdb"
    files = _spool(landing)
    with connect(warehouse) as conn:
        windows, processes = telemetry.land_day(conn, DAY, files, landing)
        [(token, count)] = conn.execute("select token, files from raw.partitions").fetchall()
        # A day's filter reads only that day's files.
        assert conn.execute(
            "select count(*), min(partition_date), max(partition_date) from raw.nvml_gpu_windows"
            " where partition_date = ?",
            [DAY],
        ).fetchone() == (windows, DAY, DAY)
    assert count == len(files)
    kept = _kept(warehouse)
    assert len(kept) == len(files)
    assert all(
        name.startswith(f"partition_date={DAY.isoformat()}/{token}/telemetry%2Fnvml%2F")
        for name in kept
    )
    rows = _rows(warehouse)
    assert (len(rows["nvml_gpu_windows"]), len(rows["nvml_process_windows"])) == (
        windows,
        processes,
    )
    assert {r[1] for r in rows["nvml_gpu_windows"]} == {
        p.relative_to(landing).as_posix() for p in files
    }


def test_landing_a_day_again_copies_only_changed_files(landing: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    spool = tmp_path / "landing"
    shutil.copytree(landing / "telemetry", spool / "telemetry")
    with connect(warehouse) as conn:
        counts = telemetry.land_day(conn, DAY, _spool(spool), spool)
    first, kept = _rows(warehouse), _kept(warehouse)
    root = warehouse.parent / f"{warehouse.stem}_raw" / "nvml_spool"
    copied = {p: p.stat().st_ino for p in root.rglob("*.parquet")}
    with connect(warehouse) as conn:  # the same files: the same copy, and the same counts
        assert telemetry.land_day(conn, DAY, _spool(spool), spool) == counts
    assert {p: p.stat().st_ino for p in root.rglob("*.parquet")} == copied
    touched = _spool(spool)[0]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 1))
    with connect(warehouse) as conn:  # a new version of the day: a new copy, the old one gone
        assert telemetry.land_day(conn, DAY, _spool(spool), spool) == counts
    again = _kept(warehouse)
    assert len(again) == len(kept) and again != kept
    assert _rows(warehouse) == first


def test_a_landing_that_fails_before_its_commit_leaves_the_day_as_it_was(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "w.duckdb"
    spool = tmp_path / "landing"
    shutil.copytree(landing / "telemetry", spool / "telemetry")
    with connect(warehouse) as conn:
        telemetry.land_day(conn, DAY, _spool(spool), spool)
    before, kept = _rows(warehouse), _kept(warehouse)
    touched = _spool(spool)[0]  # a new version of the day, which a landing would copy anew
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 1))

    def fail(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(raw_files, "record", fail)
    with connect(warehouse) as conn, pytest.raises(RuntimeError, match="disk full"):
        telemetry.land_day(conn, DAY, _spool(spool), spool)
    monkeypatch.undo()
    assert _kept(warehouse) == kept
    assert _rows(warehouse) == before
    root = warehouse.parent / f"{warehouse.stem}_raw" / "nvml_spool"
    assert not (root / "_incoming").exists() or not any((root / "_incoming").iterdir())


def test_the_next_connection_settles_a_landing_interrupted_after_its_commit(
    landing: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "w.duckdb"
    with connect(warehouse) as conn:
        telemetry.land_day(conn, DAY, _spool(landing), landing)
    expected = _rows(warehouse)
    root = warehouse.parent / f"{warehouse.stem}_raw" / "nvml_spool"
    (token,) = [p.name for p in (root / f"partition_date={DAY.isoformat()}").iterdir()]
    # The commit named the token, the files were still waiting, and a stale copy was left.
    (root / "_incoming").mkdir()
    (root / f"partition_date={DAY.isoformat()}" / token).rename(root / "_incoming" / token)
    shutil.copytree(
        root / "_incoming" / token, root / f"partition_date={DAY.isoformat()}" / "stale"
    )
    shutil.copytree(root / "_incoming" / token, root / "_incoming" / "uncommitted")
    assert _rows(warehouse) == expected
    assert {p.split("/")[1] for p in _kept(warehouse)} == {token}


def test_a_day_whose_kept_files_vanished_lands_again(landing: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with connect(warehouse) as conn:
        telemetry.land_day(conn, DAY, _spool(landing), landing)
    shutil.rmtree(
        warehouse.parent / f"{warehouse.stem}_raw" / "nvml_spool" / f"partition_date={DAY}"
    )
    with connect(warehouse) as conn:
        assert conn.execute("select count(*) from raw.nvml_gpu_windows").fetchone() == (0,)
        # Forgotten, so the sensor and the next run see the day as not landed.
        assert conn.execute(
            "select count(*) from raw.landing_log where source = 'nvml'"
        ).fetchone() == (0,)


def test_a_day_landed_through_arrow_is_rewritten_in_the_spool_schema_and_reads_the_same(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "w.duckdb"
    with connect(warehouse) as conn:
        telemetry.land_day(conn, DAY, _spool(landing), landing)
    kept, copies = _rows(warehouse), _kept(warehouse)
    monkeypatch.setattr(telemetry, "vouched_by_footer", lambda path, footer=None: False)
    monkeypatch.setattr(telemetry, "keepable", lambda schema: False)  # as a v1 file is not
    with connect(warehouse) as conn:
        telemetry.land_day(conn, DAY, _spool(landing), landing)
        [(token,)] = conn.execute("select token from raw.partitions").fetchall()
    assert token.endswith("-w")  # written anew, not copied
    rewritten = _kept(warehouse)
    assert [p.rsplit("/", 1)[1] for p in rewritten] == [p.rsplit("/", 1)[1] for p in copies]
    assert all(pq.read_schema(p).equals(SPOOL_SCHEMA) for p in _paths(warehouse))
    assert _rows(warehouse) == kept


@pytest.mark.parametrize("layout", [None, 1])
def test_a_warehouse_of_another_raw_layout_is_refused_with_the_way_to_rebuild_it(
    landing: Path, tmp_path: Path, layout: int | None
) -> None:
    """Nothing is migrated in place: a warehouse whose raw tables are of another layout (None:
    from before layouts were numbered) is refused, naming the files to move aside, and touched
    neither by the landing nor by the CLI's check."""
    older = tmp_path / "older.duckdb"
    with connect(older) as conn:
        telemetry.land_day(conn, DAY, _spool(landing), landing)
        if layout is None:
            conn.execute("drop table raw.layout")
        else:
            conn.execute("update raw.layout set version = ?", [layout])
    before = older.read_bytes()
    for attempt in (lambda: connect(older).__enter__(), lambda: lock_holder(older)):
        with pytest.raises(WarehouseUnusable) as refused:
            attempt()
        message = str(refused.value)
        assert f"layout {layout or 'from before layouts were numbered'}" in message
        assert f"this version reads layout {LAYOUT_VERSION}" in message
        assert f"Move {older} and {tmp_path / 'older_raw'} aside" in message
    assert older.read_bytes() == before


def test_the_landing_counts_windows_of_several_processes_and_keeps_no_repeated_window(
    landing: Path, tmp_path: Path
) -> None:
    """What lets the hourly models skip a check for a kept day (raw.partitions). A file shipped
    twice lands its windows once: the day is rewritten without the copy's windows, which are
    quarantined."""
    spool = tmp_path / "landing"
    shutil.copytree(landing / "telemetry", spool / "telemetry")
    files = _spool(spool)
    shared = sum(
        pc.sum(pc.greater(pc.list_value_length(pq.read_table(p)["processes"]), 1)).as_py() or 0
        for p in files
    )
    with connect(tmp_path / "w.duckdb") as conn:
        windows, _ = telemetry.land_day(conn, DAY, files, spool)
        row = conn.execute(
            "select rows, repeated_windows, shared_windows from raw.partitions"
        ).fetchall()
        assert row == [(windows, 0, shared)]
        assert shared > 0  # the fleet has GPUs shared by two workloads
        first = files[0]
        shutil.copy(first, first.with_name(f"zz-copy-{first.name}"))  # a file shipped twice
        again, _ = telemetry.land_day(conn, DAY, _spool(spool), spool)
        assert again == windows
        assert conn.execute(
            "select rows, repeated_windows, shared_windows, token like '%-w' from raw.partitions"
        ).fetchall() == [(windows, 0, shared, True)]
        assert conn.execute(
            "select count(*) from raw.quarantine where source_file like '%zz-copy-%'"
        ).fetchall() == [(pq.read_metadata(first).num_rows,)]


def _requests(landing: Path, day: date = DAY) -> list[Path]:
    return requests.request_files(landing / "inference", day)


def test_a_day_of_request_logs_is_kept_as_one_parquet_file_of_the_raw_columns(
    landing: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "w.duckdb"
    files = _requests(landing)
    table, rejected = requests.read_day(files, landing)
    assert table.num_rows > 0 and not rejected
    with connect(warehouse) as conn:
        assert requests.land_day(conn, DAY, files, landing) == (table.num_rows, 0)
        # Rows, not Arrow: without insertion order kept, DuckDB hands Arrow batches over in
        # any order, even those of an ordered result.
        landed = conn.execute(
            "select * exclude (partition_date) from raw.inference_requests"
            " where partition_date = ? order by source_file, source_line",
            [DAY],
        ).fetchall()
        (kind,) = conn.execute(
            "select table_type from information_schema.tables"
            " where table_schema = 'raw' and table_name = 'inference_requests'"
        ).fetchone()
    assert kind == "VIEW"
    in_order = table.sort_by([("source_file", "ascending"), ("source_line", "ascending")])
    assert landed == [tuple(row.values()) for row in in_order.to_pylist()]
    kept = _kept(warehouse, "inference_requests")
    assert [p.rsplit("/", 1)[1] for p in kept] == ["requests.parquet"]


def test_request_logs_landed_again_unchanged_are_not_parsed_again(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "w.duckdb"
    logs = tmp_path / "landing"
    shutil.copytree(landing / "inference", logs / "inference")
    bad = _requests(logs)[0]
    bad.write_text(bad.read_text() + "not json\n")
    with connect(warehouse) as conn:
        counts = requests.land_day(conn, DAY, _requests(logs), logs)
    assert counts[1] == 1
    kept = _kept(warehouse, "inference_requests")

    def no_parsing(*args: object) -> None:
        raise AssertionError("parsed again")

    with monkeypatch.context() as patch, connect(warehouse) as conn:
        patch.setattr(requests, "day_tables", no_parsing)
        assert requests.land_day(conn, DAY, _requests(logs), logs) == counts
    assert _kept(warehouse, "inference_requests") == kept
    # Fixed at the source: parsed again, and the quarantine row goes with the old copy.
    bad.write_text("".join(bad.read_text().splitlines(keepends=True)[:-1]))
    with connect(warehouse) as conn:
        assert requests.land_day(conn, DAY, _requests(logs), logs) == (counts[0], 0)
        assert conn.execute("select count(*) from raw.quarantine").fetchone() == (0,)
    assert _kept(warehouse, "inference_requests") != kept


def test_days_landed_together_equal_days_landed_one_by_one(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """land_days parses a day while the one before is written: same rows, same quarantine; a
    day kept as it is is not parsed; a day that fails stops the run after the days before."""
    logs = tmp_path / "landing"
    shutil.copytree(landing / "inference", logs / "inference")
    root = logs / "inference" / "requests"
    bad = _requests(logs, DAY + timedelta(days=1))[0]
    bad.write_text(bad.read_text() + "not json\n")
    days = [
        (day, requests.request_files(root.parent, day)) for day in (DAY, DAY + timedelta(days=1))
    ]
    query = (
        "select (select list(r order by source_file, source_line) from raw.inference_requests r),"
        " (select list(q order by source_file, source_line) from raw.quarantine q)"
    )
    one_by_one, together = tmp_path / "one.duckdb", tmp_path / "together.duckdb"
    with connect(one_by_one) as conn:
        counts = [(day, *requests.land_day(conn, day, files, logs)) for day, files in days]
        expected = conn.execute(query).fetchall()
    with connect(together) as conn:
        assert [landed[:3] for landed in requests.land_days(conn, days, logs)] == counts
        assert conn.execute(query).fetchall() == expected
    assert counts[0][1] > 0 and [c[2] for c in counts] == [0, 1]

    parsed: list[date] = []
    day_tables = requests.day_tables

    def failing_second_day(
        files: list[Path],
        landing: Path,
        zone: ZoneInfo | None,
        rejected: list[Rejected],
        skipped: Counter[str] | None = None,
    ) -> Iterator[pa.Table]:
        parsed.append(date.fromisoformat(files[0].parent.name.removeprefix("date=")))
        if len(parsed) == 2:
            raise OSError("disk gone")
        return day_tables(files, landing, zone, rejected, skipped)

    with monkeypatch.context() as patch, connect(together) as conn:
        patch.setattr(requests, "day_tables", failing_second_day)
        assert [r[:3] for r in requests.land_days(conn, days, logs)] == counts  # kept as they are
        assert parsed == []
    copied = days[0][1][0].read_text()
    (root / f"date={DAY}" / "extra.jsonl").write_text(copied)
    (root / f"date={DAY + timedelta(days=1)}" / "extra.jsonl").write_text("")
    days = [(day, requests.request_files(root.parent, day)) for day, _ in days]
    with monkeypatch.context() as patch, connect(together) as conn:
        patch.setattr(requests, "day_tables", failing_second_day)
        landed = requests.land_days(conn, days, logs)
        assert next(landed)[1] > counts[0][1]
        with pytest.raises(OSError, match="disk gone"):
            next(landed)
    assert parsed == [DAY, DAY + timedelta(days=1)]
    with connect(together) as conn:
        assert conn.execute(
            "select partition_date, count(*) from raw.inference_requests group by 1 order by 1"
        ).fetchall() == [
            (DAY, counts[0][1] + len(copied.splitlines())),
            (DAY + timedelta(days=1), counts[1][1]),
        ]


def test_a_connection_that_settled_kept_files_can_register_tables(
    landing: Path, tmp_path: Path
) -> None:
    """DuckDB refuses to register a table while a result is not fetched to its end; settling
    must leave none (the billing loaders register theirs first thing)."""
    warehouse = tmp_path / "w.duckdb"
    with connect(warehouse) as conn:
        telemetry.land_day(conn, DAY, _spool(landing), landing)
        conn.register("rows", pa.table({"a": [1]}))
    for _ in range(2):  # the views exist: the second connection only checks them
        with connect(warehouse) as conn:
            conn.register("rows", pa.table({"a": [1]}))
            assert conn.execute("select a from rows").fetchall() == [(1,)]


def test_a_partition_of_a_bill_is_replaced_whole_and_a_failed_landing_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every source is files: a billing period is one Hive partition folder, its key in the
    folder name only (as Spark and DuckDB read it), replaced by the next landing of the period;
    a table nothing has landed in reads as empty with its columns."""
    warehouse = tmp_path / "w.duckdb"
    rate = pa.table(
        {
            "currency": ["EUR"],
            "billing_period": ["2026-10"],
            "usd_per_unit": [1.08],
            "source_file": ["prices/exchange_rates.csv"],
            "source_row": [2],
        }
    )

    def charges(cost: float, rows: int) -> pa.Table:
        return pa.table(
            {
                "source_file": ["focus/a.csv"] * rows,
                "source_row": list(range(1, rows + 1)),
                "BilledCost": [cost] * rows,
            }
        )

    def held(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
        return conn.execute(
            'select billing_period, count(*), sum("BilledCost") from raw.focus_charges'
            " group by 1 order by 1"
        ).fetchall()

    with connect(warehouse) as conn:
        assert conn.execute("select count(*) from raw.gcp_billing_export").fetchone() == (0,)
        assert "invoice_month" in [
            c[0] for c in conn.execute("describe raw.gcp_billing_export").fetchall()
        ]
        replace_partition(conn, "focus_charges", "2026-10", charges(2.5, 3))
        replace_partition(conn, "focus_charges", "2026-11", charges(1.0, 1))
        replace_partition(conn, "exchange_rates", None, rate)
        replace_partition(conn, "focus_charges", "2026-10", charges(4.0, 2))  # restated
        assert held(conn) == [("2026-10", 2, 8.0), ("2026-11", 1, 1.0)]
    [october] = _paths(warehouse, "focus_charges")[:1]
    assert october.parent.parent.name == "billing_period=2026-10"
    assert "billing_period" not in pq.read_schema(october).names
    assert pq.read_schema(october).field("BilledCost").type == pa.float64()  # declared type
    files = _kept(warehouse, "focus_charges")

    def fail(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(raw_files, "record", fail)
    with connect(warehouse) as conn, pytest.raises(RuntimeError, match="disk full"):
        replace_partition(conn, "focus_charges", "2026-10", charges(9.0, 9))
    monkeypatch.undo()
    with connect(warehouse) as conn:
        assert held(conn) == [("2026-10", 2, 8.0), ("2026-11", 1, 1.0)]
        assert conn.execute("select usd_per_unit from raw.exchange_rates").fetchall() == [
            (Decimal("1.0800000000"),)
        ]
    assert _kept(warehouse, "focus_charges") == files
    assert not any((warehouse.parent / "w_raw" / "focus_charges" / "_incoming").glob("*/*"))
