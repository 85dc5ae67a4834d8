"""A landing zone missing a kind of source says what the marts then lack; an empty one fails."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.conftest import Pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster-home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


def test_an_empty_landing_zone_says_so_and_exits_non_zero(
    tmp_path: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    landing = tmp_path / "landing"
    landing.mkdir()
    code = main(["run", "--landing", str(landing), "--warehouse", str(tmp_path / "w.duckdb")])
    assert code == 1
    assert (
        f"the landing zone {landing} holds no bills, contracts, GPU telemetry or request logs"
        in _out(capsys)
    )


def test_a_bill_alone_runs_and_names_what_is_missing(
    pipeline_factory: Callable[..., Pipeline],
    tmp_path: Path,
    dagster_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pipelines.cli import main

    source = pipeline_factory(gpus=4, days=2, seed=11, start=date(2026, 3, 31))
    landing = tmp_path / "landing"
    shutil.copytree(source.landing / "aws_cur", landing / "aws_cur")
    warehouse = tmp_path / "w.duckdb"
    code = main(["run", "--landing", str(landing), "--warehouse", str(warehouse)])
    printed = _out(capsys)
    assert code == 0, printed
    assert (
        "warning: no GPU telemetry (telemetry/nvml/, telemetry/dcgm/): all GPU cost is "
        "unallocated and every token is unmetered" in printed
    )
    assert "warning: no request logs (inference/requests/): no useful tokens" in printed
    assert "no bill or contract" not in printed
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        buckets = conn.execute(
            "select workload, count(*), sum(cost_usd) > 0 from marts.fct_workload_unit_cost_daily"
            " group by 1"
        ).fetchall()
    finally:
        conn.close()
    assert buckets == [("(unallocated)", 2, True)]

    # The report says what is missing, and draws no empty axes.
    from report import build_report

    page = " ".join(build_report(warehouse).split())
    assert "No GPU telemetry (telemetry/nvml/, telemetry/dcgm/): all GPU cost is unallocated" in (
        page
    )
    assert "No request logs (inference/requests/): no useful tokens" in page
    assert "No bill or contract" not in page
    # Only where the money went (unallocated cost) and the bill's savings plan have something
    # to draw: no unit cost, no utilization, no API comparison, no goodput, no energy.
    assert page.count('<svg class="chart"') == 2
    assert page.count("No data to show.") == 5
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    report = tmp_path / "report.html"
    report.write_text(build_report(warehouse))
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count("<svg") == 2 and dom.count('class="missing"') == 2
