"""The collector daemon: ``gpuledger collect``, ``gpuledger-collect`` or ``python -m collectors``.

Every ``--interval`` seconds (monotonic schedule; a late tick is skipped and counted, never
bunched) it reads every GPU, folds the readings into ``--window`` windows and writes closed
windows to the spool. SIGTERM / SIGINT: the open windows are written as they are (their
``sample_count`` says how much of the window they saw) and the process exits 0.

Clock jumps (wall clock against the monotonic clock, beyond 2 s or one interval): the open
windows are closed; after a backward jump samples are skipped, and counted, until the wall
clock passes the last window written, so no window is ever written twice.

Exit codes: 0 stopped by a signal (or ``--duration`` elapsed); 2 usage error; 3 NVML is not
available on this host.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collectors.labels import ProcessLabeler, cloud_resource_id, load_rules
from collectors.nvml import NvmlUnavailable, Sampler
from collectors.window import WindowAggregator
from collectors.writer import SpoolWriter

log = logging.getLogger("gpuledger.collector")


class Collector:
    def __init__(
        self,
        sampler: Sampler,
        aggregator: WindowAggregator,
        writer: SpoolWriter,
        shipper: Any = None,
        interval_s: float = 1.0,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        status_every_s: float = 60.0,
    ) -> None:
        self.sampler, self.aggregator, self.writer = sampler, aggregator, writer
        self.shipper = shipper
        self.interval_s = interval_s
        self.wall, self.monotonic = wall, monotonic
        self.status_every_s = status_every_s
        self.stop_event = threading.Event()
        self.stats = {
            "ticks": 0,
            "ticks_missed": 0,
            "clock_jumps": 0,
            "samples_skipped_clock": 0,
        }
        self._resume_at = 0.0
        self._last: tuple[float, float] | None = None
        self.aggregator.unsupported = self._unsupported

    def _unsupported(self, uuid: str) -> str | None:
        reasons = [
            f"{m}={r}" for (u, m), r in sorted(self.sampler.unsupported.items()) if u == uuid
        ]
        return "; ".join(reasons) or None

    def stop(self, *_: object) -> None:
        self.stop_event.set()

    def tick(self) -> None:
        wall, mono = self.wall(), self.monotonic()
        if self._last is not None:
            jump = (wall - self._last[0]) - (mono - self._last[1])
            if abs(jump) > max(2.0, self.interval_s):
                self.stats["clock_jumps"] += 1
                log.warning("wall clock jumped by %+.1f s: closing the open windows", jump)
                closed = self.aggregator.close()
                if closed:
                    last_end = max(r["window_end"].timestamp() for r in closed)
                    self._resume_at = max(self._resume_at, last_end)
                self.writer.add(closed)
        self._last = (wall, mono)
        readings = self.sampler.sample()
        self.stats["ticks"] += 1
        if wall < self._resume_at:
            self.stats["samples_skipped_clock"] += len(readings)
            return
        self.writer.add(self.aggregator.add(wall, readings))
        if self.writer.due():
            self.writer.flush()

    def run(self, duration_s: float | None = None) -> int:
        try:
            self.sampler.start()
        except NvmlUnavailable as exc:
            log.error("cannot collect: %s", exc)
            return 3
        if self.shipper is not None:
            self.shipper.start()
        started = next_tick = last_status = self.monotonic()
        try:
            while not self.stop_event.is_set():
                self.tick()
                now = self.monotonic()
                if now - last_status >= self.status_every_s:
                    self.write_status()
                    last_status = now
                if duration_s is not None and now - started >= duration_s:
                    break
                next_tick += self.interval_s
                if next_tick < now:
                    missed = int((now - next_tick) // self.interval_s) + 1
                    self.stats["ticks_missed"] += missed
                    next_tick += missed * self.interval_s
                self.stop_event.wait(max(0.0, next_tick - self.monotonic()))
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        self.writer.add(self.aggregator.close())
        self.writer.flush()
        if self.shipper is not None:
            self.shipper.stop()
        self.sampler.stop()
        self.write_status()
        log.info("collector stopped: %s", self.status())

    def status(self) -> dict[str, Any]:
        return {
            **self.stats,
            "gpus": len(self.sampler.devices),
            "gpus_lost": dict(self.sampler.lost),
            "nvml_reinitializations": self.sampler.reinitializations,
            "energy_counter_resets": self.aggregator.energy_resets,
            "unsupported": {
                f"{u} {m}": r for (u, m), r in sorted(self.sampler.unsupported.items())
            },
            **({"shipping": self.shipper.stats} if self.shipper is not None else {}),
        }

    def write_status(self) -> None:
        self.writer.write_status(self.status())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    landing = os.environ.get("GPULEDGER_LANDING", "warehouse/landing")
    parser.add_argument(
        "--spool",
        type=Path,
        default=Path(os.environ.get("GPULEDGER_SPOOL", f"{landing}/telemetry/nvml")),
        help="spool folder (default: $GPULEDGER_SPOOL or <landing>/telemetry/nvml)",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument(
        "--window", type=int, default=60, help="seconds per spool row; must divide 3600"
    )
    parser.add_argument("--host", default=socket.gethostname(), help="host name in the spool")
    parser.add_argument("--resource-id", help="cloud resource id (default: ask IMDSv2 / GCP)")
    parser.add_argument(
        "--no-metadata", action="store_true", help="never ask cloud metadata servers"
    )
    parser.add_argument("--labels", type=Path, help="workload mapping file (YAML)")
    parser.add_argument("--rotate-seconds", type=float, default=300.0)
    parser.add_argument("--rotate-mb", type=float, default=8.0)
    parser.add_argument("--max-spool-mb", type=float, default=1024.0)
    parser.add_argument("--ship", help="upload closed files to s3://bucket/prefix")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument(
        "--fake-nvml",
        metavar="SCENARIO",
        help="sample a fake NVML (idle, busy, two_processes, mig, lost_gpu, no_gpm)",
    )
    parser.add_argument("--fake-gpus", type=int, default=8)
    parser.add_argument("--log-level", default="INFO")


def build(args: argparse.Namespace) -> Collector:
    if args.window <= 0 or 3600 % args.window:
        raise ValueError(f"--window {args.window} does not divide the hour")
    if args.interval <= 0 or args.interval > args.window:
        raise ValueError("--interval must be positive and at most --window")
    if args.fake_nvml:
        from collectors.fake_nvml import FakeNvml, scenario

        nvml: Any = FakeNvml(scenario(args.fake_nvml, args.fake_gpus))
    else:
        import pynvml

        nvml = pynvml
    rules = load_rules(args.labels) if args.labels else []
    resource_id = (
        args.resource_id
        if args.no_metadata or args.fake_nvml
        else cloud_resource_id(args.resource_id, args.spool / "_host_identity.json")
    )
    shipper = None
    if args.ship:
        from collectors.ship import S3Shipper

        shipper = S3Shipper(args.ship, args.spool)
    writer = SpoolWriter(
        args.spool,
        args.host,
        rotate_s=args.rotate_seconds,
        rotate_bytes=int(args.rotate_mb * 1024**2),
        max_spool_bytes=int(args.max_spool_mb * 1024**2),
        on_closed=shipper.submit if shipper is not None else None,
    )
    aggregator = WindowAggregator(
        args.host, args.window, resource_id, labeler=ProcessLabeler(rules)
    )
    return Collector(Sampler(nvml), aggregator, writer, shipper, interval_s=args.interval)


def run_from_args(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        collector = build(args)
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2
    signal.signal(signal.SIGTERM, collector.stop)
    signal.signal(signal.SIGINT, collector.stop)
    return collector.run(args.duration)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gpuledger-collect",
        description="Sample every GPU through NVML into Parquet spool files.",
        epilog="Exit codes: 0 stopped (signal or --duration), 2 usage error, 3 no NVML.",
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
