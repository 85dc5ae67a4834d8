"""Readings aggregated in memory into aligned windows: one spool row per GPU per window.

Windows are aligned to the epoch (a 60 s window starts on the minute), so they divide the hour.
The energy counter is turned into a delta over the window that survives a counter reset (a
driver reload restarts it at 0: the new value is counted from 0) and the gap between windows
(each window starts from the previous window's last reading).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collectors.nvml import Reading
from collectors.spool import SCHEMA_VERSION

# pid -> (container id, k8s namespace, k8s pod, workload)
Labeler = Callable[[int], tuple[str | None, str | None, str | None, str | None]]


def _no_labels(pid: int) -> tuple[None, None, None, None]:
    return None, None, None, None


@dataclass
class _Mean:
    total: float = 0.0
    count: int = 0

    def add(self, value: float | None) -> None:
        if value is not None:
            self.total += value
            self.count += 1

    def value(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass
class _Process:
    busy_total: float = 0.0
    measured: bool = False
    memory_max: int | None = None


@dataclass
class _Window:
    start: float
    reading: Reading
    samples: int = 0
    sm: _Mean = field(default_factory=_Mean)
    gr: _Mean = field(default_factory=_Mean)
    util: _Mean = field(default_factory=_Mean)
    power: _Mean = field(default_factory=_Mean)
    sm_clock: _Mean = field(default_factory=_Mean)
    mem_clock: _Mean = field(default_factory=_Mean)
    memory_max: int | None = None
    memory_total: int | None = None
    temperature_max: int | None = None
    reasons: int | None = None
    energy_mj: int | None = None
    processes: dict[int, _Process] = field(default_factory=dict)


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


class WindowAggregator:
    """Feed readings with ``add``; ``close`` hands back the rows of windows that ended."""

    def __init__(
        self,
        host: str,
        window_s: int = 60,
        cloud_resource_id: str | None = None,
        labeler: Labeler = _no_labels,
    ) -> None:
        self.host, self.window_s = host, window_s
        self.cloud_resource_id = cloud_resource_id
        self.labeler = labeler
        # gpu uuid -> "metric=reason; ..." of what the device could not report
        self.unsupported: Callable[[str], str | None] = lambda uuid: None
        self.open: dict[str, _Window] = {}
        self._last_energy: dict[str, int] = {}
        self.energy_resets = 0

    def window_start(self, at: float) -> float:
        return at - (at % self.window_s)

    def add(self, at: float, readings: list[Reading]) -> list[dict[str, Any]]:
        """Add one tick's readings taken at wall time ``at``; returns rows of closed windows."""
        start = self.window_start(at)
        closed = self.close(before=start)
        for reading in readings:
            window = self.open.get(reading.gpu_uuid)
            if window is None:
                window = self.open[reading.gpu_uuid] = _Window(start, reading)
            self._add(window, reading)
        return closed

    def _add(self, window: _Window, r: Reading) -> None:
        window.reading = r
        window.samples += 1
        window.sm.add(r.sm_active)
        window.gr.add(r.gr_engine_active)
        window.util.add(r.gpu_util)
        window.power.add(r.power_mw)
        window.sm_clock.add(r.sm_clock_mhz)
        window.mem_clock.add(r.mem_clock_mhz)
        window.memory_max = _max(window.memory_max, r.memory_used_bytes)
        window.memory_total = r.memory_total_bytes or window.memory_total
        window.temperature_max = _max(window.temperature_max, r.temperature_c)
        if r.clocks_event_reasons is not None:
            window.reasons = (window.reasons or 0) | r.clocks_event_reasons
        if r.energy_mj is not None:
            last = self._last_energy.get(r.gpu_uuid)
            if last is None:
                delta = 0  # the first reading only sets the counter's origin
            elif r.energy_mj >= last:
                delta = r.energy_mj - last
            else:
                delta = r.energy_mj  # reset (driver reload): counted from 0
                self.energy_resets += 1
            self._last_energy[r.gpu_uuid] = r.energy_mj
            window.energy_mj = (window.energy_mj or 0) + delta
        for p in r.processes:
            proc = window.processes.setdefault(p.pid, _Process())
            if p.sm_share is not None:
                proc.busy_total += p.sm_share
                proc.measured = True
            proc.memory_max = _max(proc.memory_max, p.memory_bytes)

    def close(self, before: float | None = None) -> list[dict[str, Any]]:
        """Rows of open windows that start before ``before`` (all of them when None)."""
        rows = []
        for uuid, window in list(self.open.items()):
            if before is None or window.start < before:
                rows.append(self._row(window))
                del self.open[uuid]
        return rows

    def forget_energy(self) -> None:
        """After a clock jump or a gap: the next reading starts a new energy origin."""
        self._last_energy.clear()

    def _row(self, w: _Window) -> dict[str, Any]:
        r = w.reading
        if w.sm.count:
            util, source = w.sm.value(), "gpm_sm_util"
        elif w.gr.count:
            util, source = w.gr.value(), "graphics_engine_activity"
        elif w.util.count:
            util, source = w.util.value(), "nvml_utilization_gpu"
        else:
            util, source = None, None
        processes = []
        # A MIG instance: NVML has no per-process utilization there; the instance's activity
        # is its processes', split by the memory each holds (docs/mig.md).
        memory = {pid: proc.memory_max or 0 for pid, proc in w.processes.items()}
        inferred = r.mig_instance_id is not None and not any(
            proc.measured for proc in w.processes.values()
        )
        for pid, proc in sorted(w.processes.items()):
            container, namespace, pod, workload = self.labeler(pid)
            busy = proc.busy_total / w.samples if proc.measured else None
            if inferred and util is not None:
                total = sum(memory.values())
                busy = util * (memory[pid] / total if total else 1 / len(memory))
            processes.append(
                {
                    "pid": pid,
                    "container_id": container,
                    "k8s_namespace": namespace,
                    "k8s_pod": pod,
                    "workload": workload,
                    "busy_share": busy,
                    "memory_used_bytes": proc.memory_max,
                }
            )
        return {
            "schema_version": SCHEMA_VERSION,
            "host": self.host,
            "cloud_resource_id": self.cloud_resource_id,
            "gpu_uuid": r.gpu_uuid,
            "gpu_index": r.gpu_index,
            "gpu_model": r.gpu_model,
            "mig_instance_id": r.mig_instance_id,
            "window_start": datetime.fromtimestamp(w.start, UTC),
            "window_end": datetime.fromtimestamp(w.start + self.window_s, UTC),
            "sample_count": w.samples,
            "util_mean": util,
            "util_source": source,
            "sm_active_mean": w.sm.value(),
            "gr_engine_active_mean": w.gr.value(),
            "gpu_util_mean": w.util.value(),
            "memory_used_bytes_max": w.memory_max,
            "memory_total_bytes": w.memory_total,
            "power_mw_mean": w.power.value(),
            "energy_mj": w.energy_mj,
            "sm_clock_mhz_mean": w.sm_clock.value(),
            "mem_clock_mhz_mean": w.mem_clock.value(),
            "temperature_c_max": w.temperature_max,
            "clocks_event_reasons": w.reasons,
            "unsupported": self.unsupported(r.gpu_uuid),
            "processes": processes,
        }
