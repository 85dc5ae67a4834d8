"""Benchmark: CPU time and memory of the collector per 8 GPUs at 1 Hz, with the fake NVML.

Runs ``python -m collectors --fake-nvml <scenario>`` as its own process for ``--minutes``,
reads its CPU time from /proc every minute and its peak RSS at exit (wait4), and writes
``bench/results/collector.json``. Quote the medians per minute from one run.

    .venv/bin/python tools/bench_collector.py --minutes 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--scenario", default="two_processes")
    parser.add_argument("--out", type=Path, default=Path("bench/results/collector.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as spool:
        command = [
            sys.executable,
            "-m",
            "collectors",
            "--fake-nvml",
            args.scenario,
            "--fake-gpus",
            str(args.gpus),
            "--spool",
            spool,
            "--interval",
            "1",
            "--window",
            "60",
            "--rotate-seconds",
            "60",
            "--log-level",
            "WARNING",
        ]
        process = subprocess.Popen(command)
        started = time.monotonic()
        time.sleep(5)  # start-up (imports) is measured apart
        startup_cpu = cpu_seconds(process.pid)
        per_minute, rss = [], []
        last = startup_cpu
        for minute in range(1, args.minutes + 1):
            time.sleep(max(0.0, 5 + 60 * minute - (time.monotonic() - started)))
            now = cpu_seconds(process.pid)
            per_minute.append(now - last)
            rss.append(rss_mib(process.pid))
            last = now
        process.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(process.pid, 0)
        files = list(Path(spool).glob("host=*/date=*/*.parquet"))
        rows_bytes = sum(p.stat().st_size for p in files)

    cpu_median = statistics.median(per_minute)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        "command": " ".join(command[1:]),
        "gpus": args.gpus,
        "scenario": args.scenario,
        "minutes": args.minutes,
        "exit_status": os.waitstatus_to_exitcode(status),
        "startup_cpu_s": round(startup_cpu, 3),
        "cpu_s_per_minute": [round(v, 3) for v in per_minute],
        "cpu_s_per_minute_median": round(cpu_median, 3),
        "cpu_percent_of_one_core_median": round(100 * cpu_median / 60, 3),
        "cpu_ms_per_gpu_sample_median": round(1000 * cpu_median / (60 * args.gpus), 3),
        "rss_mib_per_minute": [round(v, 1) for v in rss],
        "rss_mib_median": round(statistics.median(rss), 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "spool_files": len(files),
        "spool_bytes": rows_bytes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))  # noqa: T201
    return 0 if result["exit_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
