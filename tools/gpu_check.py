"""What the collector sees on a real GPU host: the device check (docs/collector.md).

Needs only nvidia-ml-py (``pynvml``) and this repository's ``collectors`` package: the sampler
imports no pyarrow. Prints, and writes to ``$OUT/gpu_check.json`` when OUT is set:
  * the devices and which metrics each supports (GPM included), with the reasons;
  * the sampler's cost: wall and CPU time per ``Sampler.sample()`` over 30 ticks;
  * SM activity idle, then under a matrix-multiply load (torch or cupy, when importable).

    python tools/gpu_check.py            # the real NVML
    python tools/gpu_check.py --fake     # the fake NVML (a dry run anywhere)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.nvml import Sampler


def _load(stop: threading.Event) -> str | None:
    """Keep GPU 0 busy with matrix multiplies until ``stop``; the library used, or None."""
    try:
        import torch  # type: ignore[import-not-found]

        a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
        while not stop.is_set():
            (a @ a).sum().item()
        return "torch"
    except Exception:  # no torch, no CUDA: try cupy
        pass
    try:
        import cupy  # type: ignore[import-not-found]

        a = cupy.random.rand(8192, 8192, dtype=cupy.float32)
        while not stop.is_set():
            (a @ a).sum().item()
        return "cupy"
    except Exception:
        return None


def _ticks(sampler: Sampler, n: int, interval: float) -> tuple[list[Any], list[float], float]:
    readings, wall = [], []
    cpu0 = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        readings.append(sampler.sample())
        wall.append(time.perf_counter() - start)
        time.sleep(max(0.0, interval - wall[-1]))
    return readings, wall, time.process_time() - cpu0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake", action="store_true")
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    if args.fake:
        from collectors.fake_nvml import FakeNvml, scenario

        nvml: Any = FakeNvml(scenario("busy", 2))
    else:
        import pynvml

        nvml = pynvml
    sampler = Sampler(nvml)
    sampler.start()
    result: dict[str, Any] = {
        "driver": nvml.nvmlSystemGetDriverVersion(),
        "devices": [{"index": d.index, "uuid": d.uuid, "model": d.model} for d in sampler.devices],
    }
    readings, wall, cpu = _ticks(sampler, args.ticks, args.interval)
    result["sample_wall_ms_median"] = round(1000 * statistics.median(wall), 3)
    result["sample_cpu_ms_per_tick"] = round(1000 * cpu / args.ticks, 3)
    result["unsupported"] = {f"{u} {m}": r for (u, m), r in sorted(sampler.unsupported.items())}
    result["last_readings"] = [asdict(r) for r in readings[-1]]
    result["idle_sm_active"] = [r.sm_active for r in readings[-1]]
    stop = threading.Event()
    used: list[str | None] = []
    worker = threading.Thread(target=lambda: used.append(_load(stop)), daemon=True)
    worker.start()
    loaded, _, _ = _ticks(sampler, 10, args.interval)
    stop.set()
    worker.join(30)
    result["load_library"] = used[0] if used else None
    result["loaded_sm_active"] = [[r.sm_active for r in tick] for tick in loaded]
    result["loaded_gpu_util"] = [[r.gpu_util for r in tick] for tick in loaded]
    sampler.stop()
    text = json.dumps(result, indent=2, default=str)
    print(text)  # noqa: T201
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
