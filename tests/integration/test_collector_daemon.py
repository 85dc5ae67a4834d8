"""The collector as a process (signals, exit codes) and its S3 shipping against moto's server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from collectors.ship import S3Shipper
from pipelines.defs.sources.telemetry.load import read_spool_file
from tests.fixtures.moto_s3 import moto_s3

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
BUCKET = "fleet-telemetry"


def collector(spool: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collectors",
            "--spool",
            str(spool),
            "--host",
            "gpu-host-1",
            "--interval",
            "0.2",
            "--window",
            "1",
            *args,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_flushes_the_open_windows_and_exits_0(tmp_path: Path) -> None:
    process = collector(tmp_path, "--fake-nvml", "two_processes", "--fake-gpus", "2")
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("host=*/date=*/*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.2)  # the first file is written once the imports are done
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    files = sorted(tmp_path.glob("host=gpu-host-1/date=*/*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    assert {r["gpu_index"] for r in rows} == {0, 1}
    assert all(r["util_source"] == "gpm_sm_util" for r in rows if r["sample_count"] >= 3)
    # Every file is a valid spool file for the pipeline's loader.
    for path in files:
        windows, _ = read_spool_file(path, tmp_path)
        assert windows.num_rows > 0
    status = json.loads((tmp_path / "_collector_status.json").read_text())
    assert status["rows_written"] == len(rows)
    assert status["rows_pending"] == 0
    assert "collector stopped" in output


def test_no_nvml_exits_3_with_the_reason(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from collectors.daemon import Collector\n"
        "from collectors.fake_nvml import FakeNvml\n"
        "from collectors.nvml import Sampler\n"
        "from collectors.window import WindowAggregator\n"
        "from collectors.writer import SpoolWriter\n"
        f"w = SpoolWriter(__import__('pathlib').Path({str(tmp_path)!r}), 'h')\n"
        "c = Collector(Sampler(FakeNvml([], library_present=False)), WindowAggregator('h'), w)\n"
        "sys.exit(c.run())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 3


def test_a_window_that_does_not_divide_the_hour_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collectors", "--fake-nvml", "idle", "--window", "7"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--window 7 does not divide the hour" in result.stderr


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_s3(monkeypatch, BUCKET) as client:
        yield client


def test_closed_files_ship_to_s3_and_leave_the_spool_only_once_confirmed(
    s3: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    process = collector(
        spool,
        "--fake-nvml",
        "busy",
        "--fake-gpus",
        "1",
        "--rotate-seconds",
        "0",
        "--ship",
        f"s3://{BUCKET}/nvml",
        "--duration",
        "4",
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="nvml/")["Contents"]]
    assert keys and all(k.startswith("nvml/host=gpu-host-1/date=") for k in keys)
    assert list(spool.glob("host=*/date=*/*.parquet")) == []  # all shipped, none kept
    status = json.loads((spool / "_collector_status.json").read_text())
    assert status["shipping"]["files_shipped"] == len(keys)
    body = s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
    assert body[:4] == b"PAR1"


def test_a_failing_upload_is_retried_with_backoff_and_kept_until_it_works(
    s3: Any, tmp_path: Path
) -> None:
    path = tmp_path / "host=h" / "date=2026-11-28" / "h-1.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 not really a parquet file PAR1")
    waits: list[float] = []
    shipper = S3Shipper("s3://missing-bucket/nvml", tmp_path, max_attempts=3, sleep=waits.append)
    assert shipper.ship(path) is False
    assert path.exists()  # never deleted without a confirmed upload
    assert (waits, shipper.stats["upload_failures"]) == ([1.0, 2.0], 3)
    shipper = S3Shipper(f"s3://{BUCKET}/nvml", tmp_path, sleep=waits.append)
    assert shipper.pending() == [path]
    assert shipper.ship(path) is True
    assert not path.exists()
    head = s3.head_object(Bucket=BUCKET, Key="nvml/host=h/date=2026-11-28/h-1.parquet")
    assert head["ContentLength"] == 35
