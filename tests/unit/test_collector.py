"""The NVML collector against the fake pynvml: readings, windows, spool files and faults."""

from __future__ import annotations

import errno
import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pynvml
import pytest

from collectors.daemon import Collector
from collectors.fake_nvml import FUNCTIONS, FakeNvml, scenario
from collectors.nvml import NvmlUnavailable, Sampler
from collectors.spool import SPOOL_SCHEMA, write_spool_file
from collectors.window import WindowAggregator
from collectors.writer import SpoolWriter

GIB = 1024**3
# 2026-11-28 12:00:00 UTC: windows of 60 s start on the minute.
EPOCH = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    """Monotonic seconds for the fake NVML and the collector; wall = EPOCH + t + skew."""

    T0 = 5000.0  # an arbitrary monotonic origin (NVML process samples need t > 0)

    def __init__(self) -> None:
        self.t = self.T0
        self.skew = 0.0

    def monotonic(self) -> float:
        return self.t

    def wall(self) -> float:
        return EPOCH + (self.t - self.T0) + self.skew


def make(
    tmp_path: Path, gpus: list[Any], clock: Clock, **writer_args: Any
) -> tuple[Collector, FakeNvml]:
    nvml = FakeNvml(gpus, clock=clock.monotonic)
    writer = SpoolWriter(tmp_path, "gpu-host-1", clock=clock.wall, **writer_args)
    collector = Collector(
        Sampler(nvml),
        WindowAggregator("gpu-host-1", 60, "i-0abc"),
        writer,
        wall=clock.wall,
        monotonic=clock.monotonic,
    )
    collector.sampler.start()
    return collector, nvml


def run_ticks(collector: Collector, clock: Clock, seconds: int) -> None:
    for _ in range(seconds):
        collector.tick()
        clock.t += 1.0


def spool_rows(root: Path) -> list[dict[str, Any]]:
    tables = [pq.read_table(p) for p in sorted(root.glob("host=*/date=*/*.parquet"))]
    rows = pa.concat_tables(tables).to_pylist() if tables else []
    return sorted(rows, key=lambda r: (r["window_start"], r["gpu_uuid"]))


# -- the fake cannot drift from the real module ------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_fake_functions_have_the_real_signatures(name: str) -> None:
    real = inspect.signature(getattr(pynvml, name))
    fake = inspect.signature(getattr(FakeNvml([]), name))
    assert [(p.name, p.kind, p.default) for p in fake.parameters.values()] == [
        (p.name, p.kind, p.default) for p in real.parameters.values()
    ]


def test_fake_raises_and_returns_the_real_types() -> None:
    clock = Clock()
    nvml = FakeNvml(scenario("no_gpm"), clock=clock.monotonic)
    nvml.nvmlInit()
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    assert isinstance(nvml.nvmlDeviceGetMemoryInfo(handle), pynvml.c_nvmlMemory_t)
    assert nvml.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice == 0
    with pytest.raises(pynvml.NVMLError_NotSupported):
        nvml.nvmlGpmSampleGet(handle, nvml.nvmlGpmSampleAlloc())
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        nvml.nvmlDeviceGetHandleByIndex(5)
    nvml.nvmlShutdown()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        nvml.nvmlDeviceGetCount()


# -- readings into windows ---------------------------------------------------------------------


def test_busy_hopper_gpu_reports_gpm_sm_activity_power_energy_and_its_process(
    tmp_path: Path,
) -> None:
    clock = Clock()
    collector, _ = make(tmp_path, scenario("busy"), clock)
    run_ticks(collector, clock, 120)
    collector.shutdown()
    rows = spool_rows(tmp_path)
    assert [(r["window_start"].minute, r["sample_count"]) for r in rows] == [(0, 60), (1, 60)]
    first, second = rows
    assert second["util_source"] == "gpm_sm_util"
    assert second["util_mean"] == pytest.approx(0.9)
    # utilization.gpu says only that a kernel ran: 100 %, kept beside as an upper bound.
    assert second["gpu_util_mean"] == pytest.approx(1.0)
    # 75 W idle + 0.9 x (700 - 75) W = 637.5 W for 60 s = 38,250,000 mJ; the first window
    # starts the counter's origin at its first reading, so it has 59 s.
    assert second["power_mw_mean"] == pytest.approx(637_500)
    assert (first["energy_mj"], second["energy_mj"]) == (37_612_500, 38_250_000)
    assert second["memory_total_bytes"] == 141 * GIB
    assert second["memory_used_bytes_max"] == 60 * GIB + 512 * 1024**2
    assert (second["sm_clock_mhz_mean"], second["temperature_c_max"]) == (1980.0, 68)
    assert second["cloud_resource_id"] == "i-0abc"
    assert second["unsupported"] is None
    [process] = second["processes"]
    assert (process["pid"], process["busy_share"], process["memory_used_bytes"]) == (
        4000,
        pytest.approx(0.9),
        60 * GIB,
    )


def test_idle_gpu_reads_zero_with_the_idle_clock_reason(tmp_path: Path) -> None:
    clock = Clock()
    collector, _ = make(tmp_path, scenario("idle"), clock)
    run_ticks(collector, clock, 60)
    collector.shutdown()
    [row] = spool_rows(tmp_path)
    assert (row["util_mean"], row["gpu_util_mean"], row["processes"]) == (0.0, 0.0, [])
    assert row["clocks_event_reasons"] == pynvml.nvmlClocksEventReasonGpuIdle
    assert row["power_mw_mean"] == pytest.approx(75_000)


def test_two_processes_share_one_gpu_by_their_sm_time(tmp_path: Path) -> None:
    clock = Clock()
    collector, _ = make(tmp_path, scenario("two_processes"), clock)
    run_ticks(collector, clock, 60)
    collector.shutdown()
    [row] = spool_rows(tmp_path)
    assert row["util_mean"] == pytest.approx(0.75)
    shares = {p["pid"]: (p["busy_share"], p["memory_used_bytes"]) for p in row["processes"]}
    assert shares == {4000: (pytest.approx(0.5), 40 * GIB), 4001: (pytest.approx(0.25), 20 * GIB)}


def test_without_gpm_the_upper_bound_is_used_and_flagged(tmp_path: Path) -> None:
    clock = Clock()
    collector, nvml = make(tmp_path, scenario("no_gpm"), clock)
    queries = []
    query = nvml.nvmlGpmQueryDeviceSupport

    def counted(device: Any) -> Any:
        queries.append(device)
        return query(device)

    nvml.nvmlGpmQueryDeviceSupport = counted  # type: ignore[method-assign]
    run_ticks(collector, clock, 60)
    collector.shutdown()
    [row] = spool_rows(tmp_path)
    # An A100 at 30 % SM time reads 100 % "utilization.gpu": recorded as the upper bound.
    assert (row["util_source"], row["util_mean"], row["sm_active_mean"]) == (
        "nvml_utilization_gpu",
        1.0,
        None,
    )
    assert row["unsupported"] == "gpm=NotSupported (device)"
    # Probed once, not asked again every second.
    assert len(queries) == 1


def test_mig_instances_are_rows_of_their_own(tmp_path: Path) -> None:
    clock = Clock()
    collector, _ = make(tmp_path, scenario("mig"), clock)
    run_ticks(collector, clock, 60)
    collector.shutdown()
    rows = spool_rows(tmp_path)
    by_mig = {r["mig_instance_id"]: r for r in rows}
    assert set(by_mig) == {None, "1", "2"}
    assert by_mig["1"]["gpu_uuid"] == "MIG-fake0000-0001"
    # NVML names a MIG device by its GPU and profile: the instance's share (docs/mig.md).
    assert by_mig["1"]["gpu_model"] == "NVIDIA H200 MIG 3g.71gb"
    assert by_mig[None]["gpu_model"] == "NVIDIA H200"
    assert by_mig["1"]["util_mean"] == pytest.approx(0.8)
    assert [p["pid"] for p in by_mig["1"]["processes"]] == [5000]
    # No per-process utilization on a MIG instance: its one process has the instance's.
    assert by_mig["1"]["processes"][0]["busy_share"] == pytest.approx(0.8)
    assert (by_mig["2"]["util_mean"], by_mig["2"]["processes"]) == (0.0, [])
    assert by_mig["1"]["memory_total_bytes"] == 70 * GIB
    # Power and energy belong to the whole GPU.
    assert by_mig[None]["energy_mj"] > 0
    assert by_mig["1"]["energy_mj"] is None


# -- faults ------------------------------------------------------------------------------------


def test_a_lost_gpu_stops_reporting_and_the_others_go_on(tmp_path: Path) -> None:
    clock = Clock()
    collector, _ = make(tmp_path, scenario("lost_gpu", gpus=2), clock)
    run_ticks(collector, clock, 120)
    collector.shutdown()
    rows = spool_rows(tmp_path)
    counts = {(r["gpu_index"], r["window_start"].minute): r["sample_count"] for r in rows}
    # GPU 0 is lost 90 s in: its second window has the 30 samples taken before.
    assert counts == {(0, 0): 60, (0, 1): 30, (1, 0): 60, (1, 1): 60}
    assert collector.status()["gpus_lost"] == {
        "GPU-fake0000-0000-4000-8000-000000000000": "GpuIsLost"
    }


def test_driver_reload_reinitializes_and_energy_survives_the_counter_reset(
    tmp_path: Path,
) -> None:
    clock = Clock()
    collector, nvml = make(tmp_path, scenario("busy"), clock)
    run_ticks(collector, clock, 30)
    nvml.reload_driver()  # handles go stale; the energy counter restarts at 0
    run_ticks(collector, clock, 30)
    collector.shutdown()
    [row] = spool_rows(tmp_path)
    status = collector.status()
    assert (status["nvml_reinitializations"], status["energy_counter_resets"]) == (1, 1)
    # One tick is lost to the reload (the failing read). Energy: 637.5 W over the 29 s before
    # the reload and the 28 s after the first reading of the new counter (which counts from
    # 0); the 2 s in between are lost with the old counter, never double-counted.
    assert row["sample_count"] == 59
    assert row["energy_mj"] == 637_500 * (29 + 28)


def test_nvml_missing_is_a_clear_error() -> None:
    sampler = Sampler(FakeNvml([], library_present=False))
    with pytest.raises(NvmlUnavailable, match="NVML library not found"):
        sampler.start()


def test_disk_full_keeps_sampling_and_counts_what_could_not_be_written(tmp_path: Path) -> None:
    clock = Clock()
    full = {"on": True}

    def write(table: pa.Table, path: Path, schema: pa.Schema) -> None:
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        write_spool_file(table, path, schema)

    collector, _ = make(tmp_path, scenario("busy"), clock, write=write, rotate_s=60)
    run_ticks(collector, clock, 181)
    assert spool_rows(tmp_path) == []
    assert collector.writer.stats["write_errors"] >= 1
    assert len(collector.writer.buffer) == 3  # kept, not dropped
    full["on"] = False
    run_ticks(collector, clock, 60)
    collector.shutdown()
    assert [r["window_start"].minute for r in spool_rows(tmp_path)] == [0, 1, 2, 3, 4]


def test_a_full_buffer_drops_its_oldest_rows_and_counts_them(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, "h", max_buffer_rows=2, rotate_s=1e9)
    rows = [
        {"window_start": datetime(2026, 11, 28, 12, m, tzinfo=UTC), "processes": []}
        for m in range(5)
    ]
    writer.add(rows)
    assert writer.stats["rows_lost"] == 3
    assert [r["window_start"].minute for r in writer.buffer] == [3, 4]


def test_spool_over_its_cap_evicts_the_oldest_files_and_counts_them(tmp_path: Path) -> None:
    clock = Clock()
    collector, _ = make(tmp_path, scenario("busy", gpus=8), clock, rotate_s=0)
    run_ticks(collector, clock, 300)
    sizes = [p.stat().st_size for p in collector.writer.closed_files()]
    assert len(sizes) == 4
    collector.writer.max_spool_bytes = sum(sizes[-2:])
    collector.writer.enforce_cap()
    assert len(collector.writer.closed_files()) == 2
    assert collector.writer.stats["files_evicted"] == 2
    assert collector.writer.stats["bytes_evicted"] == sum(sizes[:2])


def test_a_backward_clock_jump_never_writes_a_window_twice(tmp_path: Path) -> None:
    clock = Clock()
    collector, _ = make(tmp_path, scenario("busy"), clock)
    run_ticks(collector, clock, 90)
    clock.skew = -45.0  # NTP steps the wall clock back 45 s
    run_ticks(collector, clock, 90)
    collector.shutdown()
    rows = spool_rows(tmp_path)
    starts = [r["window_start"] for r in rows]
    assert len(starts) == len(set(starts))
    assert collector.stats["clock_jumps"] == 1
    # Skipped until the wall clock passed 12:02, the end of the window the jump closed.
    assert collector.stats["samples_skipped_clock"] == 75
    assert sum(r["sample_count"] for r in rows) == 180 - 75


def test_spool_rows_follow_the_schema(tmp_path: Path) -> None:
    clock = Clock()
    collector, _ = make(tmp_path, scenario("two_processes", gpus=2), clock)
    run_ticks(collector, clock, 60)
    collector.shutdown()
    [path] = tmp_path.glob("host=gpu-host-1/date=2026-11-28/*.parquet")
    assert pq.read_schema(path).remove_metadata() == SPOOL_SCHEMA.remove_metadata()


def test_the_gpu_check_script_runs_against_the_fake(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "tools/gpu_check.py", "--fake", "--ticks", "3", "--interval", "0.01"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env={"OUT": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert json.loads(result.stdout) == report
    assert [d["model"] for d in report["devices"]] == ["NVIDIA H200", "NVIDIA H200"]
    assert report["idle_sm_active"] == [pytest.approx(0.9), pytest.approx(0.9)]
    assert report["unsupported"] == {}
