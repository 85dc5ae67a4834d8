"""The bench fleet generator writes what the pipeline's own loaders accept, in the sizes asked."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from bench.fleet import BenchFleet, write_billing, write_days
from bench.run import _validator_cache, floor_parts, markdown, request_log_readers
from pipelines.defs.sources.inference.load import read_request_file
from pipelines.defs.sources.telemetry.load import read_spool_file
from pipelines.lib.focus_validator import cache_dir


def test_bench_fleet_is_exact_in_size_loadable_and_reproducible(tmp_path: Path) -> None:
    fleet = BenchFleet(gpus=12, days=2, start=date(2026, 1, 31), requests_per_day=3000)
    landing = tmp_path / "a"
    per_day = list(write_days(fleet, landing, fleet.dates))
    write_billing(fleet, landing)
    # 12 GPUs: a full 8-GPU host and one with 4 reporting; 1,440 windows a GPU-day.
    assert per_day == [(12 * 1440, 3000), (12 * 1440, 3000)]
    spool = sorted((landing / "telemetry" / "nvml").rglob("*.parquet"))
    assert len(spool) == 4
    windows, processes = read_spool_file(spool[0], landing)
    assert windows.num_rows == processes.num_rows == 8 * 1440
    logs = sorted((landing / "inference" / "requests").rglob("*.jsonl"))
    rows, rejected = read_request_file(logs[0], landing)
    assert rejected == [] and len(rows) == 2000  # 8 of 12 GPUs' share of 3,000
    # One CUR delivery per billing period (January and February), a line per host-hour.
    cur = sorted((landing / "aws_cur").rglob("*.parquet"))
    assert len(cur) == 2
    january = pq.read_table(cur[0])
    assert january.num_rows == 2 * 24
    assert set(january.column("line_item_unblended_cost").to_pylist()) == {21.96}
    manifests = sorted((landing / "aws_cur").rglob("*Manifest.json"))
    assert json.loads(manifests[0].read_text())["billingPeriod"] == "2026-01"
    # The same fleet written again is the same data.
    again = tmp_path / "b"
    list(write_days(fleet, again, fleet.dates[:1]))
    first = spool[0].relative_to(landing)
    assert pq.read_table(again / first).equals(pq.read_table(spool[0]))
    assert all(part > 0 for part in floor_parts(landing))
    # The three readers of a day's request logs read all of its 3,000 requests.
    readers = request_log_readers(landing, fleet.dates[0])
    assert {name: r["rows"] for name, r in readers.items()} == {
        "duckdb_floor_fields": 3000,
        "duckdb_every_field_lenient": 3000,
        "gpuledger_strict": 3000,
    }
    assert all(r["cpu_s"] >= 0 and r["wall_s"] > 0 for r in readers.values())
    hourly = duckdb.sql(
        f"select count(*) from (select distinct gpu_uuid, date_trunc('hour', window_start)"
        f" from read_parquet('{landing}/telemetry/nvml/**/*.parquet'))"
    ).fetchall()
    assert hourly == [(12 * 48,)]


def test_bench_table_quotes_the_ratios() -> None:
    result = {
        "gpus": 1000,
        "days": 30,
        "telemetry_rows": 43_200_000,
        "requests": 30_000_000,
        "end_to_end_s": 40.0,
        "fixed_overhead_s": 10.0,
        "floor_s": 10.0,
        "p1_ratio": 3.0,
        "floor_parts_s": {"telemetry": 4.0, "request_logs": 6.0},
        "p1_ratio_without_request_logs": 1.75,
        "request_log_readers": {
            "duckdb_floor_fields": {"cpu_s": 0.8, "wall_s": 0.4, "rows": 1_000_000},
            "gpuledger_strict": {"cpu_s": 4.7, "wall_s": 2.9, "rows": 1_000_000},
        },
        "peak_rss_mb": 1500.0,
        "history_days": 365,
        "history_gpus": 8,
        "daily_run_s_30d_history": 12.0,
        "daily_run_s_365d_history": 13.2,
        "p2_ratio": 1.1,
        "machine": {"cpus": 2, "python": "3.11.7", "duckdb": "2.0.1"},
        "end_to_end_dbt_nodes_s": {"gpuledger.int_gpu_hours": 21.5},
        "fleet_daily_run_s": 14.5,
        "fleet_daily_run_dbt_nodes_s": {"gpuledger.fct_gpu_utilization_hourly": 2.5},
    }
    table = markdown(result)
    assert "| fleet | 1,000 GPUs x 30 days |" in table
    assert "| P1 = (end-to-end - fixed) / floor | 3.0 |" in table
    assert "| floor's parts: telemetry / request logs | 4.0 s / 6.0 s |" in table
    assert "| P1 without the landing of the request logs | 1.75 |" in table
    assert "| gpuledger_strict | 4.7 | 2.9 | 1,000,000 |" in table
    assert "| daily run (8 GPUs, 365d of history, median of 3) | 13.2 s |" in table
    assert "The slowest dbt nodes of the end-to-end run:" in table
    assert "| gpuledger.int_gpu_hours | 21.5 |" in table
    assert "| P2 = daily run 365 d / 30 d of history | 1.1 |" in table
    assert "| daily run of the fleet (last day landed again, 30 d of history) | 14.5 s |" in table
    assert "| gpuledger.fct_gpu_utilization_hourly | 2.5 |" in table


def test_each_timed_run_starts_without_the_validator_verdicts_of_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPULEDGER_CACHE_DIR", str(tmp_path / "user"))
    with _validator_cache(tmp_path / "small"):
        assert cache_dir() == tmp_path / "small"
        with pytest.raises(RuntimeError), _validator_cache(tmp_path / "fleet"):
            assert cache_dir() == tmp_path / "fleet"
            raise RuntimeError
        assert cache_dir() == tmp_path / "small"
    assert cache_dir() == tmp_path / "user"
    monkeypatch.delenv("GPULEDGER_CACHE_DIR")
    with _validator_cache(tmp_path / "small"):
        pass
    assert "GPULEDGER_CACHE_DIR" not in os.environ
