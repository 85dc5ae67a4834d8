"""A hostile corpus, one case or more per family of what bad input did before: money changed
silently, required fields skipped the quarantine, one bad value failed everything, files outside
the landing zone were read or exhausted the machine. Each case asserts its outcome: a
quarantined row with file, line and reason, or a refusal naming the file, and the rest landed."""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.defs.sources.aws_cur import load as cur
from pipelines.defs.sources.contracts import load as contracts
from pipelines.defs.sources.inference import load as requests
from pipelines.defs.sources.telemetry import load as telemetry
from pipelines.lib import yaml_files
from pipelines.lib.errors import LandingError
from pipelines.lib.store import LocalStore
from pipelines.lib.warehouse import ALLOW_REMOVAL, connect
from synth import build_fleet, write_landing_zone

DAY = date(2026, 10, 30)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    write_landing_zone(build_fleet(gpus=4, days=1, seed=5, start=DAY), root)
    return root


# -- request logs ---------------------------------------------------------------------------


def _request(number: int, time: object = "2026-10-30T12:00:00Z", **fields: object) -> str:
    record = {
        "time": time,
        "request_id": f"r{number}",
        "host": "h",
        "workload": "w",
        "model": "m",
        "status": 200,
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 10, "completion_tokens": 2},
    }
    return json.dumps(record | fields)


def _land_requests(tmp_path: Path, content: bytes) -> tuple[list[int], list[tuple]]:
    """(landed lines, quarantine rows (line, reason, length of the kept record))."""
    root = tmp_path / "landing"
    folder = root / "inference" / "requests" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "gw.jsonl").write_bytes(content)
    files = requests.request_files(root / "inference", DAY)
    with connect(tmp_path / "w.duckdb") as conn:
        requests.land_day(conn, DAY, files, root)
        lines = [
            r[0] for r in conn.execute("select source_line from raw.inference_requests").fetchall()
        ]
        quarantine = conn.execute(
            "select source_line, reason, length(raw_record) from raw.quarantine order by 1"
        ).fetchall()
    return sorted(lines), quarantine


@pytest.mark.parametrize(
    ("time", "reason"),
    [
        ("1970-01-01T00:00:00Z", "time is more than 1 day from its folder's day 2026-10-30"),
        ("9999-12-31T23:59:59Z", "time is more than 1 day from its folder's day 2026-10-30"),
        (0, "time is more than 1 day from its folder's day 2026-10-30"),
        ("2026-10-28T23:59:59Z", "time is more than 1 day from its folder's day 2026-10-30"),
    ],
)
def test_a_request_far_from_its_folders_day_is_quarantined(
    tmp_path: Path, time: object, reason: str
) -> None:
    lines = [_request(1), _request(2, time), _request(3, "2026-10-31T23:00:00Z")]
    landed, quarantine = _land_requests(tmp_path, "\n".join(lines).encode() + b"\n")
    assert landed == [1, 3]  # the day after, within the tolerance, lands
    assert [(line, why) for line, why, _ in quarantine] == [(2, reason)]


def test_a_line_nested_100000_deep_is_quarantined_not_a_recursion_error(tmp_path: Path) -> None:
    content = f"{_request(1)}\n{'[' * 100_000}\n{_request(3)}\n".encode()
    landed, quarantine = _land_requests(tmp_path, content)
    assert landed == [1, 3]
    assert quarantine == [(2, requests.TOO_DEEP, requests.KEPT_BYTES)]


def test_a_request_line_above_the_cap_is_quarantined_with_its_first_bytes(
    tmp_path: Path,
) -> None:
    huge = _request(2, prompt="x" * (3 * requests.MAX_LINE_BYTES))
    content = f"{_request(1)}\n{huge}\n{_request(3)}\n".encode()
    landed, quarantine = _land_requests(tmp_path, content)
    assert landed == [1, 3]
    assert quarantine == [(2, requests.TOO_LONG, requests.KEPT_BYTES)]


def test_a_200_mb_request_line_lands_the_rest_within_bounded_memory(tmp_path: Path) -> None:
    """Run in a child process, so that its peak memory is its own."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child reports through its exit status)
        try:
            huge = _request(2, prompt="x" * 200_000_000)
            content = f"{_request(1)}\n{huge}\n{_request(3)}\n".encode()
            del huge
            landed, quarantine = _land_requests(tmp_path, content)
            del content
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ok = landed == [1, 3] and quarantine == [(2, requests.TOO_LONG, requests.KEPT_BYTES)]
            os._exit(0 if ok and peak_mb < 2048 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_request_log_linked_to_a_file_outside_the_landing_zone_is_never_read(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    folder = tmp_path / "landing" / "inference" / "requests" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "passwd.jsonl").symlink_to(secret)
    with pytest.raises(LandingError, match=r"passwd\.jsonl: is reached through a symbolic link"):
        requests.request_files(tmp_path / "landing" / "inference", DAY)
    fifo = folder / "pipe.jsonl"
    (folder / "passwd.jsonl").unlink()
    os.mkfifo(fifo)
    with pytest.raises(LandingError, match=r"pipe\.jsonl: is not a regular file"):
        requests.request_files(tmp_path / "landing" / "inference", DAY)


# -- NVML spool ------------------------------------------------------------------------------


def _spool_with(landing: Path, tmp_path: Path, change: dict[str, tuple[int, object]]) -> Path:
    """A copy of the fleet's first spool file of the day with values changed: column ->
    (0-based row, value)."""
    source = telemetry.spool_files(landing / "telemetry" / "nvml", DAY)[0]
    table = pq.read_table(source)
    for column, (row, value) in change.items():
        values = table[column].to_pylist()
        values[row] = value
        index = table.schema.get_field_index(column)
        table = table.set_column(index, column, pa.array(values, table.schema.field(column).type))
    target = tmp_path / "nvml" / source.parent.parent.name / source.parent.name / source.name
    target.parent.mkdir(parents=True)
    pq.write_table(table, target)
    return target


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"util_mean": (3, 7.0)}, "util_mean is outside 0..1"),
        ({"util_mean": (3, -1.0)}, "util_mean is outside 0..1"),
        ({"util_mean": (3, math.nan)}, "util_mean is NaN or infinite"),
        ({"gpu_util_mean": (3, 1.5)}, "gpu_util_mean is outside 0..1"),
        ({"host": (3, None)}, "host is null or empty"),
        ({"gpu_uuid": (3, "")}, "gpu_uuid is null or empty"),
        ({"window_start": (3, None)}, "window_start is null or empty"),
        (
            {"window_end": (3, datetime(2026, 10, 29, 23, 0, tzinfo=UTC))},
            "window_end is not after window_start",
        ),
        (
            {
                "window_start": (3, datetime(1970, 1, 1, tzinfo=UTC)),
                "window_end": (3, datetime(1970, 1, 1, 0, 5, tzinfo=UTC)),
            },
            "window starts on another day than its date= folder",
        ),
    ],
)
def test_a_spool_row_that_cannot_be_true_is_quarantined_and_the_rest_lands(
    landing: Path, tmp_path: Path, change: dict[str, tuple[int, object]], reason: str
) -> None:
    path = _spool_with(landing, tmp_path, change)
    rows = pq.read_metadata(path).num_rows
    with connect(tmp_path / "w.duckdb") as conn:
        landed, _ = telemetry.land_day(conn, DAY, [path], tmp_path / "nvml")
        quarantined = conn.execute(
            "select source_file, source_line, reason from raw.quarantine where source = 'nvml'"
        ).fetchall()
        [(in_raw,)] = conn.execute("select count(*) from raw.nvml_gpu_windows").fetchall()
    assert quarantined == [(path.relative_to(tmp_path / "nvml").as_posix(), 4, reason)]
    assert landed == in_raw == rows - 1


def test_a_process_busy_share_outside_0_1_quarantines_its_window(
    landing: Path, tmp_path: Path
) -> None:
    source = telemetry.spool_files(landing / "telemetry" / "nvml", DAY)[0]
    table = pq.read_table(source)
    processes = table["processes"].to_pylist()
    row = next(i for i, p in enumerate(processes) if p)
    processes[row][0]["busy_share"] = 1.67
    index = table.schema.get_field_index("processes")
    table = table.set_column(
        index, "processes", pa.array(processes, table.schema.field("processes").type)
    )
    path = tmp_path / source.parent.parent.name / source.parent.name / source.name
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    with connect(tmp_path / "w.duckdb") as conn:
        telemetry.land_day(conn, DAY, [path], tmp_path)
        assert conn.execute("select source_line, reason from raw.quarantine").fetchall() == [
            (row + 1, "a process busy_share is not within 0..1")
        ]
        [(windows,)] = conn.execute(
            "select count(*) from raw.nvml_process_windows where window_start = ?",
            [table["window_start"][row].as_py().replace(tzinfo=None)],
        ).fetchall()
    assert windows == sum(
        1
        for p, start in zip(processes, table["window_start"].to_pylist(), strict=True)
        if p and start == table["window_start"][row].as_py()
        for _ in p
    ) - len(processes[row])


def test_a_day_whose_files_vanished_fails_unless_the_removal_is_allowed(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = telemetry.spool_files(landing / "telemetry" / "nvml", DAY)
    with connect(tmp_path / "w.duckdb") as conn:
        landed, _ = telemetry.land_day(conn, DAY, files, landing)
        assert landed > 0
        with pytest.raises(LandingError, match="holds no nvml file of 2026-10-30, but the"):
            telemetry.land_day(conn, DAY, [], landing)
        [(still,)] = conn.execute("select count(*) from raw.nvml_gpu_windows").fetchall()
        assert still == landed
        monkeypatch.setenv(ALLOW_REMOVAL, "nvml")
        assert telemetry.land_day(conn, DAY, [], landing) == (0, 0)


# -- bills and contracts ---------------------------------------------------------------------


def test_a_data_file_a_manifest_lists_twice_is_read_once(landing: Path, tmp_path: Path) -> None:
    store = LocalStore(landing / "aws_cur", landing)
    delivery = cur.newest_complete(cur.deliveries(store, "2026-10"))
    assert delivery is not None
    once = cur.read_delivery(store, delivery).num_rows
    copy = tmp_path / "aws_cur"
    shutil.copytree(landing / "aws_cur", copy)
    manifest = copy / delivery.manifest_key
    document = json.loads(manifest.read_text())
    document["dataFiles"] = document["dataFiles"] + document["dataFiles"][:1]
    manifest.write_text(json.dumps(document))
    twice = cur.newest_complete(cur.deliveries(LocalStore(copy, tmp_path), "2026-10"))
    assert twice is not None
    assert twice.repeated == (document["dataFiles"][0],)
    assert cur.read_delivery(LocalStore(copy, tmp_path), twice).num_rows == once


@pytest.mark.parametrize(
    ("column", "what"),
    [("line_item_unblended_cost", "cost"), ("line_item_usage_amount", "usage")],
)
def test_a_negative_cost_or_usage_on_a_usage_line_is_refused_naming_row_and_column(
    landing: Path, tmp_path: Path, column: str, what: str
) -> None:
    """Corrections come as Credit or Refund lines; a negative Usage line would lower the
    fleet's GPU cost silently (a -$1,000 line made it negative)."""
    store = LocalStore(landing / "aws_cur", landing)
    delivery = cur.newest_complete(cur.deliveries(store, "2026-10"))
    assert delivery is not None
    table = pq.read_table(store.root / delivery.data_keys[0])
    row = table["line_item_line_item_type"].to_pylist().index("Usage")
    values = table[column].to_pylist()
    values[row] = -1000.0
    broken = tmp_path / "aws_cur" / delivery.data_keys[0]
    broken.parent.mkdir(parents=True)
    index = table.schema.get_field_index(column)
    pq.write_table(table.set_column(index, column, pa.array(values)), broken)
    with pytest.raises(
        LandingError, match=rf"row {row + 1}, column '{column}': negative {what} \(-1000.0\)"
    ):
        cur.read_delivery(LocalStore(tmp_path / "aws_cur", tmp_path), delivery)


def test_a_newer_delivery_still_incomplete_after_the_grace_is_overdue() -> None:
    written = datetime(2026, 11, 2, tzinfo=UTC)
    stamp = f"{int(written.timestamp() * 1e9):020d}"
    delivery = cur.Delivery("2026-10", "x", "cur2", "k", (0, "", "x"), None, (), ("f",), stamp)
    assert not delivery.overdue(written + cur.INCOMPLETE_GRACE - timedelta(minutes=1))
    assert delivery.overdue(written + cur.INCOMPLETE_GRACE + timedelta(minutes=1))
    s3 = cur.Delivery(
        "2026-10", "x", "cur2", "k", (0, "", "x"), None, (), ("f",), "2026-11-02T00:00:00+00:00"
    )
    assert s3.overdue(written + timedelta(days=2))
    complete = cur.Delivery("2026-10", "x", "cur2", "k", (0, "", "x"), None, ("f",), (), stamp)
    assert not complete.overdue(written + timedelta(days=30))


def test_contracts_that_vanished_fail_unless_the_removal_is_allowed(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = contracts.contract_files(landing)
    with connect(tmp_path / "w.duckdb") as conn:
        held, _ = contracts.land_contracts(conn, files, landing)
        assert held > 0
        with pytest.raises(LandingError, match=rf"holds no contract file, but .* {held} contracts"):
            contracts.land_contracts(conn, [], landing)
        [(still,)] = conn.execute("select count(*) from raw.contracts").fetchall()
        assert still == held
        monkeypatch.setenv(ALLOW_REMOVAL, "contracts")
        assert contracts.land_contracts(conn, [], landing) == (0, 0)


BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]"
            for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "contracts: [*i]",
    ]
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (BILLION_LAUGHS, r"stands for [\d,]{11} values once its aliases"),
        ("[" * 100_000, r"nested too deeply"),
        ("a: &a [*a]", r"an alias refers to a collection that contains it|not valid YAML"),
        ("contracts: [" + "x, " * 600_000 + "]", r"more than a YAML file may be"),
    ],
)
def test_a_hostile_yaml_file_is_refused_quickly_naming_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "commitments.yaml"
    path.write_text(text)
    started = datetime.now(UTC)
    with pytest.raises(LandingError, match=problem):
        contracts.read_commitments(path)
    assert datetime.now(UTC) - started < timedelta(seconds=5)
    assert yaml_files.MAX_VALUES == 100_000


# -- the warehouse path ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a folder, not a DuckDB file"),
        (lambda p: p.write_text("hello"), "is not a DuckDB database this DuckDB can open"),
        (
            lambda p: p.write_bytes(b"\0" * 4096 + b"DUCK" + b"\0" * 100),
            "is not a DuckDB database this DuckDB can open",
        ),
    ],
)
def test_a_warehouse_path_that_is_no_duckdb_file_is_one_message_exit_2(
    landing: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: object,
    message: str,
) -> None:
    warehouse = tmp_path / "w.duckdb"
    make(warehouse)  # type: ignore[operator]
    code = main(["run", "--landing", str(landing), "--warehouse", str(warehouse)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in " ".join(err.split())
    assert "Traceback" not in err


def test_first_runs_started_together_on_a_new_dagster_home_all_get_the_instance(
    tmp_path: Path,
) -> None:
    """Without the lock two of three such batches failed: "table alembic_version already
    exists" from the SQLite storages both processes created."""
    import subprocess
    import sys

    code = "from pipelines.cli import _dagster_instance; _dagster_instance().get_runs_count()"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    workers = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [w.communicate(timeout=120)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], errors


def test_a_dcgm_scrape_row_without_a_metric_or_with_a_nan_value_is_quarantined(
    tmp_path: Path,
) -> None:
    from collectors.scrape import DCGM_SCHEMA

    at = datetime(2026, 10, 30, 12, tzinfo=UTC)
    rows = [
        {
            "schema_version": 1,
            "scraped_at": at,
            "host": "h",
            "metric": "DCGM_FI_DEV_GPU_UTIL",
            "value": 40.0,
        },
        {"schema_version": 1, "scraped_at": at, "host": "h", "metric": None, "value": 40.0},
        {
            "schema_version": 1,
            "scraped_at": at,
            "host": "h",
            "metric": "DCGM_FI_DEV_GPU_UTIL",
            "value": math.nan,
        },
        {
            "schema_version": 1,
            "scraped_at": at,
            "host": "",
            "metric": "DCGM_FI_DEV_GPU_UTIL",
            "value": 1.0,
        },
    ]
    path = tmp_path / "dcgm" / "host=h" / f"date={DAY}" / "scrape.parquet"
    path.parent.mkdir(parents=True)
    # A writer other than gpuledger-scrape, which does not declare the columns required.
    schema = pa.schema([f.with_nullable(True) for f in DCGM_SCHEMA])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    with connect(tmp_path / "w.duckdb") as conn:
        landed = telemetry.land_scrapes(conn, "dcgm_samples", DCGM_SCHEMA, DAY, [path], tmp_path)
        quarantined = conn.execute(
            "select source, source_line, reason from raw.quarantine order by 2"
        ).fetchall()
    assert landed == 1
    assert quarantined == [
        ("dcgm_samples", 2, "metric is null or empty"),
        ("dcgm_samples", 3, "value is NaN or infinite"),
        ("dcgm_samples", 4, "host is null or empty"),
    ]


def test_request_files_above_the_whole_file_size_are_read_in_blocks_with_the_same_rows(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory does not grow with a file's size: a file above WHOLE_FILE_BYTES is read in
    blocks (clean) or in chunks of lines (not); both land what the whole-file readers land."""
    import pyarrow.json as pajson

    root = tmp_path / "landing"
    shutil.copytree(landing / "inference", root / "inference")
    files = requests.request_files(root / "inference", DAY)
    dirty = files[0]
    dirty.write_text(dirty.read_text() + "not json\n\n" + _request(10**6) + "\n")
    expected, expected_rejected = requests.read_day(files, root)

    monkeypatch.setattr(requests, "WHOLE_FILE_BYTES", 1000)
    monkeypatch.setattr(
        requests, "_STREAM_OPTIONS", pajson.ReadOptions(use_threads=False, block_size=1 << 16)
    )
    monkeypatch.setattr(requests, "LINE_CHUNK", 7)
    rejected: list = []
    tables = list(requests.day_tables(files, root, None, rejected))
    streamed = pa.concat_tables(tables)
    assert len(tables) > 2 * len(files)  # blocks and chunks, not files
    assert streamed.equals(expected)
    assert rejected == expected_rejected
    assert [(r.source_row, r.reason) for r in rejected][:1] == [
        (len(dirty.read_text().splitlines()) - 2, "invalid JSON: Expecting value")
    ]


def test_the_bill_never_rolls_back_to_an_older_delivery_than_the_one_landed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    older = cur.Delivery(
        "2026-10", "a", "cur2", "k", (0, "2026-11-02T00:00:00", "a"), None, ("f",), ()
    )
    newer = cur.Delivery(
        "2026-10", "b", "cur2", "k2", (0, "2026-11-03T00:00:00", "b"), None, ("g",), ("s3://x/g",)
    )
    cur.refuse_rollback("s3://x", older, [older, newer], None)  # nothing landed yet
    cur.refuse_rollback("s3://x", older, [older, newer], ("a", "2026-11-02T00:00:00"))
    with pytest.raises(
        LandingError,
        match=(
            r"delivery b of 2026-11-03T00:00:00, newer than a,"
            r" and 1 of its data files are missing \(s3://x/g\)"
        ),
    ):
        cur.refuse_rollback("s3://x", older, [older, newer], ("b", "2026-11-03T00:00:00"))
    with pytest.raises(LandingError, match="its manifest is gone"):
        cur.refuse_rollback("s3://x", older, [older], ("b", "2026-11-03T00:00:00"))
    monkeypatch.setenv(ALLOW_REMOVAL, "aws_cur")
    cur.refuse_rollback("s3://x", older, [older], ("b", "2026-11-03T00:00:00"))


def test_busy_shares_above_one_are_checked_on_the_days_a_run_landed(tmp_path: Path) -> None:
    """The check reads the run's days of raw.nvml_process_windows (the history grows every day),
    every day when it runs alone."""
    from collections.abc import Iterator
    from contextlib import contextmanager

    import dagster as dg
    import duckdb

    from pipelines.defs.serving.health import busy_shares_at_most_one
    from pipelines.lib.resources import WarehouseResource

    class RowsOnly(WarehouseResource):
        """The warehouse file as written here: raw.nvml_process_windows is a table of rows."""

        @contextmanager
        def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
            conn = duckdb.connect(self.warehouse)
            try:
                yield conn
            finally:
                conn.close()

    warehouse = tmp_path / "gpuledger.duckdb"
    conn = duckdb.connect(str(warehouse))
    conn.execute("create schema raw")
    conn.execute(
        "create table raw.nvml_process_windows as select * from (values"
        " (date '2026-10-01', 'h1', 'GPU-1', timestamp '2026-10-01 05:00',"
        "  timestamp '2026-10-01 05:01', 0.7),"
        " (date '2026-10-01', 'h1', 'GPU-1', timestamp '2026-10-01 05:00',"
        "  timestamp '2026-10-01 05:01', 0.7),"
        " (date '2026-10-02', 'h1', 'GPU-1', timestamp '2026-10-02 05:00',"
        "  timestamp '2026-10-02 05:01', 0.5)"
        ") as t(partition_date, host, gpu_uuid, window_start, window_end, busy_share)"
    )
    conn.close()
    checks = dg.AssetSelection.checks(busy_shares_at_most_one)
    job = dg.Definitions(
        asset_checks=[busy_shares_at_most_one],
        jobs=[dg.define_asset_job("check", selection=checks)],
        resources={
            "warehouse": RowsOnly(
                landing=str(tmp_path), warehouse=str(warehouse), aws_cur=str(tmp_path)
            )
        },
    ).resolve_job_def("check")

    def evaluated(tags: dict[str, str]) -> tuple[bool, object]:
        result = job.execute_in_process(tags=tags)
        [evaluation] = result.get_asset_check_evaluations()
        return evaluation.passed, evaluation.metadata["windows_above_one"].value

    assert evaluated({"dagster/partition": "2026-10-02"}) == (True, 0)
    assert evaluated({"dagster/partition": "2026-10-01"}) == (False, 1)
    range_tags = {
        "dagster/asset_partition_range_start": "2026-09-30",
        "dagster/asset_partition_range_end": "2026-10-02",
    }
    assert evaluated(range_tags) == (False, 1)
    assert evaluated({}) == (False, 1)
