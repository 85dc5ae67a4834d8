"""A fake ``pynvml`` for hosts without a GPU: tests, the benchmark and ``--fake-nvml``.

It implements the subset of nvidia-ml-py the collector calls, with the real functions' names and
parameters (a test compares them with the installed module), the real units (mW, mJ, bytes,
MHz, µs timestamps, percentages) and the real exception classes and constants: those are taken
from ``pynvml`` itself, so ``except pynvml.NVMLError_NotSupported`` catches the fake's errors.
Return values are the real ctypes structures where the real function returns one.

A scenario says what the fake GPUs do; time comes from an injectable clock, so counters (energy,
GPM samples, process samples) advance with it:

    nvml = FakeNvml(scenario("busy", gpus=8))
    sampler = Sampler(nvml)
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pynvml

# The functions the collector may call; tests check each against pynvml's signature.
FUNCTIONS = (
    "nvmlInit",
    "nvmlShutdown",
    "nvmlSystemGetDriverVersion",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetName",
    "nvmlDeviceGetIndex",
    "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetUtilizationRates",
    "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetTotalEnergyConsumption",
    "nvmlDeviceGetClockInfo",
    "nvmlDeviceGetTemperature",
    "nvmlDeviceGetCurrentClocksEventReasons",
    "nvmlDeviceGetProcessUtilization",
    "nvmlDeviceGetComputeRunningProcesses",
    "nvmlDeviceGetMigMode",
    "nvmlDeviceGetMaxMigDeviceCount",
    "nvmlDeviceGetMigDeviceHandleByIndex",
    "nvmlDeviceGetGpuInstanceId",
    "nvmlGpmQueryDeviceSupport",
    "nvmlGpmSampleAlloc",
    "nvmlGpmSampleFree",
    "nvmlGpmSampleGet",
    "nvmlGpmMigSampleGet",
    "nvmlGpmMetricsGet",
)

GIB = 1024**3


@dataclass
class FakeProcess:
    pid: int
    sm_share: float  # share of the SMs' time this process keeps busy, 0..1
    memory_bytes: int


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H200"
    memory_total: int = 141 * GIB
    idle_power_w: float = 75.0
    max_power_w: float = 700.0
    gpm: bool = True
    processes: list[FakeProcess] = field(default_factory=list)
    # MIG instances: (gpu instance id, uuid, memory total, processes).
    mig: list[tuple[int, str, int, list[FakeProcess]]] = field(default_factory=list)
    lost_after_s: float | None = None  # GpuIsLost from this many seconds after start

    @property
    def sm_share(self) -> float:
        procs = [p for _, _, _, ps in self.mig for p in ps] if self.mig else self.processes
        return min(1.0, sum(p.sm_share for p in procs))


def scenario(name: str, gpus: int = 1) -> list[FakeGpu]:
    """Named scenarios: idle, busy, two_processes, mig, lost_gpu, no_gpm."""
    made = []
    for i in range(gpus):
        uuid = f"GPU-fake{i:04d}-0000-4000-8000-{i:012d}"
        gpu = FakeGpu(uuid=uuid)
        if name == "busy":
            gpu.processes = [FakeProcess(4000 + i, 0.9, 60 * GIB)]
        elif name == "two_processes":
            gpu.processes = [
                FakeProcess(4000 + 2 * i, 0.5, 40 * GIB),
                FakeProcess(4001 + 2 * i, 0.25, 20 * GIB),
            ]
        elif name == "mig":
            gpu.mig = [
                (1, f"MIG-fake{i:04d}-0001", 70 * GIB, [FakeProcess(5000 + i, 0.8, 30 * GIB)]),
                (2, f"MIG-fake{i:04d}-0002", 70 * GIB, []),
            ]
        elif name == "lost_gpu":
            gpu.processes = [FakeProcess(4000 + i, 0.5, 10 * GIB)]
            gpu.lost_after_s = 90.0 if i == 0 else None
        elif name == "no_gpm":
            gpu.name, gpu.memory_total, gpu.gpm = "NVIDIA A100-SXM4-80GB", 80 * GIB, False
            gpu.max_power_w, gpu.idle_power_w = 400.0, 50.0
            gpu.processes = [FakeProcess(4000 + i, 0.3, 20 * GIB)]
        elif name != "idle":
            raise ValueError(f"unknown fake NVML scenario {name!r}")
        made.append(gpu)
    return made


def _error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


class _Handle:
    """What nvmlDeviceGetHandleByIndex returns: opaque to the caller, as in pynvml."""

    def __init__(self, gpu: FakeGpu, mig: int | None = None) -> None:
        self.gpu, self.mig = gpu, mig


class FakeNvml:
    """Module-like: pynvml's constants, structures and errors, and the fake functions."""

    def __init__(
        self,
        gpus: list[FakeGpu] | None = None,
        clock: Callable[[], float] = time.monotonic,
        library_present: bool = True,
    ) -> None:
        self.gpus = gpus if gpus is not None else scenario("busy")
        self.clock = clock
        self.library_present = library_present
        self.initialized = False
        self.driver_generation = 0
        self._start = clock()
        self._energy_base: dict[str, float] = {}
        self._energy_t: dict[str, float] = {}
        self._samples: dict[int, tuple[float, float, float]] = {}  # address -> (t, busy, gr)
        self._allocated: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        # Constants, structures and exception classes: the real module's.
        if name.startswith(("NVML", "c_nvml", "struct_c_nvml", "nvmlClocks")):
            return getattr(pynvml, name)
        raise AttributeError(name)

    # -- scenario controls ------------------------------------------------------------------

    def reload_driver(self) -> None:
        """The driver is unloaded and loaded again: handles go stale, energy restarts at 0."""
        self.initialized = False
        self.driver_generation += 1
        self._energy_base.clear()
        self._energy_t.clear()

    # -- helpers ----------------------------------------------------------------------------

    def _check(self, handle: _Handle | None = None) -> None:
        if not self.library_present:
            raise _error(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        if not self.initialized:
            raise _error(pynvml.NVML_ERROR_UNINITIALIZED)
        if handle is not None:
            lost = handle.gpu.lost_after_s
            if lost is not None and self.clock() - self._start >= lost:
                raise _error(pynvml.NVML_ERROR_GPU_IS_LOST)

    def _power_w(self, gpu: FakeGpu) -> float:
        return gpu.idle_power_w + (gpu.max_power_w - gpu.idle_power_w) * gpu.sm_share

    def _energy_mj(self, gpu: FakeGpu) -> int:
        now = self.clock()
        base = self._energy_base.get(gpu.uuid, 0.0)
        since = self._energy_t.get(gpu.uuid, now)
        base += self._power_w(gpu) * (now - since) * 1000.0
        self._energy_base[gpu.uuid], self._energy_t[gpu.uuid] = base, now
        return int(base)

    def _procs(self, handle: _Handle) -> list[FakeProcess]:
        if handle.mig is not None:
            return next(ps for gi, _, _, ps in handle.gpu.mig if gi == handle.mig)
        if handle.gpu.mig:
            return [p for _, _, _, ps in handle.gpu.mig for p in ps]
        return handle.gpu.processes

    # -- pynvml functions (same names and parameters as nvidia-ml-py) -------------------------

    def nvmlInit(self) -> None:
        if not self.library_present:
            raise _error(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self._check()
        self.initialized = False

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return "580.95.05"

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._check()
        if not 0 <= index < len(self.gpus):
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(self.gpus[index])

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        self._check(handle)
        if handle.mig is not None:
            return next(u for gi, u, _, _ in handle.gpu.mig if gi == handle.mig)
        return handle.gpu.uuid

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        self._check(handle)
        if handle.mig is not None:  # as NVML names a MIG device: the GPU's name and profile
            memory = next(m for gi, _, m, _ in handle.gpu.mig if gi == handle.mig)
            return f"{handle.gpu.name} MIG 3g.{memory // GIB + 1}gb"
        return handle.gpu.name

    def nvmlDeviceGetIndex(self, handle: _Handle) -> int:
        self._check(handle)
        return self.gpus.index(handle.gpu)

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle, version: Any = None) -> Any:
        self._check(handle)
        info = pynvml.c_nvmlMemory_t()
        total = handle.gpu.memory_total
        if handle.mig is not None:
            total = next(m for gi, _, m, _ in handle.gpu.mig if gi == handle.mig)
        used = sum(p.memory_bytes for p in self._procs(handle)) + 512 * 1024**2
        info.total, info.used, info.free = total, used, total - used
        return info

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> Any:
        self._check(handle)
        if handle.mig is not None:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)  # as on real MIG devices
        rates = pynvml.c_nvmlUtilization_t()
        share = handle.gpu.sm_share
        # "A kernel ran in the sample period": any activity reads near 100 %.
        rates.gpu = 100 if share > 0 else 0
        rates.memory = int(share * 60)
        return rates

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        self._check(handle)
        if handle.mig is not None:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return int(self._power_w(handle.gpu) * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:
        self._check(handle)
        if handle.mig is not None:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return self._energy_mj(handle.gpu)

    def nvmlDeviceGetClockInfo(self, handle: _Handle, type: int) -> int:
        self._check(handle)
        if type == pynvml.NVML_CLOCK_SM:
            return 1980 if handle.gpu.sm_share > 0 else 345
        if type == pynvml.NVML_CLOCK_MEM:
            return 3201
        raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)

    def nvmlDeviceGetTemperature(self, handle: _Handle, sensor: int) -> int:
        self._check(handle)
        return int(32 + 40 * handle.gpu.sm_share)

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: _Handle) -> int:
        self._check(handle)
        if handle.gpu.sm_share == 0:
            return int(pynvml.nvmlClocksEventReasonGpuIdle)
        return 0

    def nvmlDeviceGetProcessUtilization(self, handle: _Handle, timeStamp: int) -> list[Any]:
        self._check(handle)
        if handle.mig is not None:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        now_us = int(self.clock() * 1_000_000)
        if now_us <= timeStamp:
            raise _error(pynvml.NVML_ERROR_NOT_FOUND)  # no sample newer than timeStamp
        samples = []
        for proc in self._procs(handle):
            sample = pynvml.c_nvmlProcessUtilizationSample_t()
            sample.pid, sample.timeStamp = proc.pid, now_us
            sample.smUtil, sample.memUtil = round(proc.sm_share * 100), round(proc.sm_share * 40)
            samples.append(sample)
        if not samples:
            raise _error(pynvml.NVML_ERROR_NOT_FOUND)
        return samples

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Handle) -> list[Any]:
        self._check(handle)
        procs = []
        for proc in self._procs(handle):
            info = pynvml.c_nvmlProcessInfo_t()
            info.pid, info.usedGpuMemory = proc.pid, proc.memory_bytes
            procs.append(pynvml.nvmlStructToFriendlyObject(info))
        return procs

    def nvmlDeviceGetMigMode(self, device: _Handle) -> list[int]:
        self._check(device)
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if device.gpu.mig else pynvml.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]  # (current, pending)

    def nvmlDeviceGetMaxMigDeviceCount(self, device: _Handle) -> int:
        self._check(device)
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, device: _Handle, index: int) -> _Handle:
        self._check(device)
        if index >= len(device.gpu.mig):
            raise _error(pynvml.NVML_ERROR_NOT_FOUND)
        return _Handle(device.gpu, device.gpu.mig[index][0])

    def nvmlDeviceGetGpuInstanceId(self, device: _Handle) -> int:
        self._check(device)
        if device.mig is None:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return device.mig

    def nvmlGpmQueryDeviceSupport(self, device: _Handle) -> Any:
        self._check(device)
        support = pynvml.c_nvmlGpmSupport_t()
        support.version = pynvml.NVML_GPM_SUPPORT_VERSION
        support.isSupportedDevice = 1 if device.gpu.gpm else 0
        return support

    def nvmlGpmSampleAlloc(self) -> Any:
        self._check()
        sample = ctypes.pointer(pynvml.struct_c_nvmlGpmSample_t())
        self._samples[ctypes.cast(sample, ctypes.c_void_p).value or 0] = (0.0, 0.0, 0.0)
        self._allocated.append(sample)  # kept alive: its address is its identity
        return sample

    def nvmlGpmSampleFree(self, gpmSample: Any) -> None:
        self._samples.pop(ctypes.cast(gpmSample, ctypes.c_void_p).value or 0, None)

    def _gpm_take(self, device: _Handle, gpmSample: Any, procs: list[FakeProcess]) -> Any:
        self._check(device)
        if not device.gpu.gpm:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        address = ctypes.cast(gpmSample, ctypes.c_void_p).value or 0
        now = self.clock() - self._start
        share = min(1.0, sum(p.sm_share for p in procs))
        # Cumulative busy-seconds counters, as the hardware keeps them.
        self._samples[address] = (now, now * share, now * (1.0 if share > 0 else 0.0))
        return gpmSample

    def nvmlGpmSampleGet(self, device: _Handle, gpmSample: Any) -> Any:
        return self._gpm_take(device, gpmSample, self._procs(device))

    def nvmlGpmMigSampleGet(self, device: _Handle, gpuInstanceId: int, gpmSample: Any) -> Any:
        return self._gpm_take(device, gpmSample, self._procs(_Handle(device.gpu, gpuInstanceId)))

    def nvmlGpmMetricsGet(self, metricsGet: Any) -> Any:
        self._check()
        first = self._samples[ctypes.cast(metricsGet.sample1, ctypes.c_void_p).value or 0]
        second = self._samples[ctypes.cast(metricsGet.sample2, ctypes.c_void_p).value or 0]
        elapsed = second[0] - first[0]
        for i in range(metricsGet.numMetrics):
            metric = metricsGet.metrics[i]
            if elapsed <= 0:
                metric.nvmlReturn = pynvml.NVML_ERROR_INVALID_ARGUMENT
                continue
            if metric.metricId == pynvml.NVML_GPM_METRIC_SM_UTIL:
                metric.value, metric.nvmlReturn = 100.0 * (second[1] - first[1]) / elapsed, 0
            elif metric.metricId == pynvml.NVML_GPM_METRIC_GRAPHICS_UTIL:
                metric.value, metric.nvmlReturn = 100.0 * (second[2] - first[2]) / elapsed, 0
            else:
                metric.nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
        return metricsGet
