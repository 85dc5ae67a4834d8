"""One NVML reading per GPU (and MIG instance) per tick, with what could not be read and why.

The best activity counter the hardware offers wins (DESIGN.md rule 7): GPM SM utilization
(Hopper and newer), else GPM graphics-engine activity, else ``utilization.gpu``, which only says
that some kernel ran in the sample period and is therefore an upper bound. A metric the device
does not support is probed once: its reason is kept (``Sampler.unsupported``) and it is not
asked for again until NVML is initialized anew.

Faults: ``GpuIsLost`` retires that GPU (the others go on); an uninitialized NVML or an unloaded
driver (a driver reload) makes the next tick re-initialize and re-enumerate devices by UUID; a
missing NVML library raises ``NvmlUnavailable`` from ``start``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("gpuledger.collector")


class NvmlUnavailable(RuntimeError):
    """NVML cannot be loaded or initialized (no driver, no library)."""


@dataclass
class ProcessReading:
    pid: int
    sm_share: float | None  # this tick's share of SM time, 0..1 (None: not measured)
    memory_bytes: int | None


@dataclass
class Reading:
    """One device (or MIG instance) at one tick."""

    gpu_uuid: str
    gpu_index: int
    gpu_model: str | None
    mig_instance_id: str | None
    sm_active: float | None = None
    gr_engine_active: float | None = None
    gpu_util: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    power_mw: int | None = None
    energy_mj: int | None = None  # the device's counter: mJ since the driver loaded
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    temperature_c: int | None = None
    clocks_event_reasons: int | None = None
    processes: list[ProcessReading] = field(default_factory=list)


@dataclass
class _Device:
    handle: Any
    uuid: str
    index: int
    model: str | None
    mig_gi: int | None = None  # GPU instance id of a MIG device
    parent: _Device | None = None
    migs: list[_Device] = field(default_factory=list)
    gpm_sample: Any = None
    last_process_ts: int = 0


def _reason(exc: Exception) -> str:
    return type(exc).__name__.removeprefix("NVMLError_") or str(exc)


class Sampler:
    """Reads every GPU through ``nvml`` (the ``pynvml`` module, or a fake with its API)."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.devices: list[_Device] = []
        self.unsupported: dict[tuple[str, str], str] = {}  # (gpu uuid, metric) -> reason
        self.lost: dict[str, str] = {}  # gpu uuid -> reason
        self.reinitializations = 0
        self._initialized = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        nvml = self.nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError_LibraryNotFound as exc:
            raise NvmlUnavailable(
                "NVML library not found (libnvidia-ml.so): is the NVIDIA driver installed?"
            ) from exc
        except nvml.NVMLError_DriverNotLoaded as exc:
            raise NvmlUnavailable("the NVIDIA driver is not loaded") from exc
        except nvml.NVMLError_NoPermission as exc:
            raise NvmlUnavailable("no permission to open the GPUs (/dev/nvidia*)") from exc
        self._initialized = True
        self.unsupported.clear()
        self.devices = self._enumerate()
        log.info(
            "NVML driver %s: %d GPUs (%s)",
            nvml.nvmlSystemGetDriverVersion(),
            len(self.devices),
            ", ".join(f"{d.index}:{d.model}" for d in self.devices),
        )

    def stop(self) -> None:
        if not self._initialized:
            return
        for device in self._all_devices():
            if device.gpm_sample is not None:
                self._quiet(self.nvml.nvmlGpmSampleFree, device.gpm_sample)
        self._quiet(self.nvml.nvmlShutdown)
        self._initialized = False

    def _enumerate(self) -> list[_Device]:
        nvml = self.nvml
        devices = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = nvml.nvmlDeviceGetUUID(handle)
            if uuid in self.lost:
                continue
            device = _Device(handle, uuid, index, self._quiet(nvml.nvmlDeviceGetName, handle))
            mode = self._optional(device, "mig_mode", nvml.nvmlDeviceGetMigMode, handle)
            if mode is not None and mode[0] == nvml.NVML_DEVICE_MIG_ENABLE:
                for i in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
                    try:
                        mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, i)
                    except nvml.NVMLError_NotFound:
                        continue
                    device.migs.append(
                        _Device(
                            mig,
                            nvml.nvmlDeviceGetUUID(mig),
                            index,
                            # "NVIDIA A100-SXM4-40GB MIG 1g.5gb": the profile is the
                            # instance's share of the GPU (docs/mig.md)
                            self._quiet(nvml.nvmlDeviceGetName, mig) or device.model,
                            mig_gi=nvml.nvmlDeviceGetGpuInstanceId(mig),
                            parent=device,
                        )
                    )
            devices.append(device)
        return devices

    def _all_devices(self) -> list[_Device]:
        return [d for device in self.devices for d in (device, *device.migs)]

    # -- reading -----------------------------------------------------------------------------

    def sample(self) -> list[Reading]:
        """One reading per device and MIG instance; a lost GPU drops out, a reload recovers."""
        nvml = self.nvml
        if not self._initialized:
            self._reinitialize()
        readings = []
        for device in list(self.devices):
            try:
                readings.extend(self._read_device(device))
            except nvml.NVMLError_GpuIsLost as exc:
                self.lost[device.uuid] = _reason(exc)
                self.devices.remove(device)
                log.error("GPU %s (%s) is lost: no more samples from it", device.index, device.uuid)
            except (nvml.NVMLError_Uninitialized, nvml.NVMLError_DriverNotLoaded) as exc:
                log.warning("NVML went away (%s): re-initializing next tick", _reason(exc))
                self._initialized = False
                return readings
        return readings

    def _reinitialize(self) -> None:
        self._quiet(self.nvml.nvmlShutdown)
        self.start()
        self.reinitializations += 1

    def _read_device(self, device: _Device) -> list[Reading]:
        nvml = self.nvml
        h = device.handle
        memory = self._optional(device, "memory", nvml.nvmlDeviceGetMemoryInfo, h)
        util = self._optional(device, "utilization_gpu", nvml.nvmlDeviceGetUtilizationRates, h)
        reading = Reading(
            gpu_uuid=device.uuid,
            gpu_index=device.index,
            gpu_model=device.model,
            mig_instance_id=None,
            gpu_util=util.gpu / 100.0 if util is not None else None,
            memory_used_bytes=memory.used if memory is not None else None,
            memory_total_bytes=memory.total if memory is not None else None,
            power_mw=self._optional(device, "power", nvml.nvmlDeviceGetPowerUsage, h),
            energy_mj=self._optional(device, "energy", nvml.nvmlDeviceGetTotalEnergyConsumption, h),
            sm_clock_mhz=self._optional(
                device, "sm_clock", nvml.nvmlDeviceGetClockInfo, h, nvml.NVML_CLOCK_SM
            ),
            mem_clock_mhz=self._optional(
                device, "mem_clock", nvml.nvmlDeviceGetClockInfo, h, nvml.NVML_CLOCK_MEM
            ),
            temperature_c=self._optional(
                device, "temperature", nvml.nvmlDeviceGetTemperature, h, nvml.NVML_TEMPERATURE_GPU
            ),
            clocks_event_reasons=self._optional(
                device, "clocks_event_reasons", nvml.nvmlDeviceGetCurrentClocksEventReasons, h
            ),
        )
        if not device.migs:
            reading.sm_active, reading.gr_engine_active = self._gpm(device)
            reading.processes = self._processes(device)
            return [reading]
        # MIG: the parent row keeps power, energy, clocks; each instance is a row of its own.
        readings = [reading]
        for mig in device.migs:
            mem = self._optional(mig, "memory", nvml.nvmlDeviceGetMemoryInfo, mig.handle)
            sm, gr = self._gpm(mig)
            readings.append(
                Reading(
                    gpu_uuid=mig.uuid,
                    gpu_index=mig.index,
                    gpu_model=mig.model,
                    mig_instance_id=str(mig.mig_gi),
                    sm_active=sm,
                    gr_engine_active=gr,
                    memory_used_bytes=mem.used if mem is not None else None,
                    memory_total_bytes=mem.total if mem is not None else None,
                    processes=self._processes(mig),
                )
            )
        return readings

    def _gpm(self, device: _Device) -> tuple[float | None, float | None]:
        """SM and graphics-engine activity since the previous tick, from two GPM samples."""
        nvml = self.nvml
        if (device.uuid, "gpm") in self.unsupported:
            return None, None
        host = device.parent or device
        if device.gpm_sample is None:
            support = self._optional(host, "gpm", nvml.nvmlGpmQueryDeviceSupport, host.handle)
            if support is None:
                self._mark(device, "gpm", self.unsupported.get((host.uuid, "gpm"), "NotSupported"))
                return None, None
            if not support.isSupportedDevice:
                self._mark(device, "gpm", "NotSupported (device)")
                return None, None
        new = self._optional(device, "gpm", nvml.nvmlGpmSampleAlloc)
        if new is None:
            return None, None
        if device.parent is not None:
            taken = self._optional(
                device, "gpm", nvml.nvmlGpmMigSampleGet, host.handle, device.mig_gi, new
            )
        else:
            taken = self._optional(device, "gpm", nvml.nvmlGpmSampleGet, device.handle, new)
        if taken is None:
            self._quiet(nvml.nvmlGpmSampleFree, new)
            return None, None
        previous, device.gpm_sample = device.gpm_sample, new
        if previous is None:
            return None, None  # the first sample only starts the interval
        request = nvml.c_nvmlGpmMetricsGet_t()
        request.version = nvml.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = 2
        request.sample1, request.sample2 = previous, new
        request.metrics[0].metricId = nvml.NVML_GPM_METRIC_SM_UTIL
        request.metrics[1].metricId = nvml.NVML_GPM_METRIC_GRAPHICS_UTIL
        result = self._optional(device, "gpm", nvml.nvmlGpmMetricsGet, request)
        self._quiet(nvml.nvmlGpmSampleFree, previous)
        if result is None:
            return None, None
        values: list[float | None] = []
        for i, name in ((0, "gpm_sm_util"), (1, "gpm_graphics_util")):
            metric = result.metrics[i]
            if metric.nvmlReturn != nvml.NVML_SUCCESS:
                self._mark(device, name, _reason(nvml.NVMLError(metric.nvmlReturn)))
                values.append(None)
            else:
                values.append(max(0.0, min(1.0, metric.value / 100.0)))
        return values[0], values[1]

    def _processes(self, device: _Device) -> list[ProcessReading]:
        nvml = self.nvml
        host = device.parent or device
        running = self._optional(
            device, "compute_processes", nvml.nvmlDeviceGetComputeRunningProcesses, device.handle
        )
        by_pid: dict[int, ProcessReading] = {}
        for proc in running or []:
            memory = proc.usedGpuMemory
            by_pid[int(proc.pid)] = ProcessReading(int(proc.pid), None, memory)
        if device.parent is None and (device.uuid, "process_utilization") not in self.unsupported:
            try:
                samples = nvml.nvmlDeviceGetProcessUtilization(host.handle, device.last_process_ts)
            except nvml.NVMLError_NotFound:
                samples = []  # no process ran since the last call
            except nvml.NVMLError_NotSupported as exc:
                self._mark(device, "process_utilization", _reason(exc))
                samples = []
            shares: dict[int, list[float]] = {}
            for sample in samples:
                shares.setdefault(int(sample.pid), []).append(sample.smUtil / 100.0)
                device.last_process_ts = max(device.last_process_ts, int(sample.timeStamp))
            for pid, values in shares.items():
                proc = by_pid.setdefault(pid, ProcessReading(pid, None, None))
                proc.sm_share = min(1.0, sum(values) / len(values))
            measured = (device.uuid, "process_utilization") not in self.unsupported
            for proc in by_pid.values():
                if proc.sm_share is None and measured:
                    proc.sm_share = 0.0
        return sorted(by_pid.values(), key=lambda p: p.pid)

    # -- helpers -----------------------------------------------------------------------------

    def _mark(self, device: _Device, metric: str, reason: str) -> None:
        key = (device.uuid, metric)
        if key not in self.unsupported:
            self.unsupported[key] = reason
            log.info(
                "GPU %s %s: %s is not available (%s)", device.index, device.uuid, metric, reason
            )

    def _optional(self, device: _Device, metric: str, fn: Any, *args: Any) -> Any:
        """``fn(*args)``, or None (and the reason, once) when the device does not support it."""
        if (device.uuid, metric) in self.unsupported:
            return None
        nvml = self.nvml
        try:
            return fn(*args)
        except (
            nvml.NVMLError_NotSupported,
            nvml.NVMLError_NoPermission,
            nvml.NVMLError_FunctionNotFound,
            nvml.NVMLError_InvalidArgument,
        ) as exc:
            self._mark(device, metric, _reason(exc))
            return None

    def _quiet(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self.nvml.NVMLError:
            return None
