"""The warehouse's one-writer pool: who holds it, runs that died holding it, and a watch that
says what a waiting run waits for.

Every asset that writes the warehouse is in the Dagster pool ``duckdb`` (limit 1, .dagster/
dagster.yaml). A run whose process dies mid-step (a killed `dagster dev`, Ctrl-C twice, an
out-of-memory kill) keeps its claim, and every later run would wait for it forever. Runs are
found by their process: a run `gpuledger` started carries its pid and host in tags; a run the
Dagster UI, a schedule or a sensor launched records its run worker's pid in the engine event
"Started process for run (pid: N)", and the code server it was launched through in a tag.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import GRPC_INFO_TAG, PARTITION_NAME_TAG

POOL = "duckdb"
PID_TAG, HOST_TAG = "gpuledger/pid", "gpuledger/host"
WATCH_SECONDS = 5.0  # how often a waiting run says what it waits for
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead and not yet reaped by its parent, does not)."""
    if Path("/proc/self").exists():
        return _proc_stat(str(pid)) is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RunProcess:
    """A run and the process executing it, as far as this host can tell."""

    run_id: str
    job: str
    partition: str | None
    launched_by: str
    pid: int | None
    local: bool  # the process runs on this host, so whether it is alive can be known
    started_at: float | None

    @property
    def gone(self) -> bool:
        return self.local and self.pid is not None and not alive(self.pid)

    def describe(self, now: float | None = None) -> str:
        what = f"run {self.run_id[:8]} ({self.job}{' ' + self.partition if self.partition else ''}"
        what += f", launched by {self.launched_by}"
        if self.pid is not None:
            state = "gone" if self.gone else "alive" if self.local else "on another host"
            what += f", process {self.pid} {state}"
        what += ")"
        if self.started_at is not None:
            since = datetime.fromtimestamp(self.started_at, UTC)
            waited = int((now or time.time()) - self.started_at)
            what += f" since {since:%H:%M:%S} UTC ({waited // 60}m{waited % 60:02d}s)"
        return what


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run worker recorded when it started (launched through a code server)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, ascending=False, limit=50
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = getattr(event, "engine_event_data", None) if event else None
        pid = data.metadata.get("pid") if data is not None and data.metadata else None
        if pid is not None and str(pid.value).isdigit():
            return int(str(pid.value))
    return None


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunProcess:
    tags = run.tags
    record = instance.get_run_record_by_id(run.run_id)
    started = None
    if record is not None:
        started = record.start_time or record.create_timestamp.timestamp()
    partition = tags.get(PARTITION_NAME_TAG) or tags.get("dagster/asset_partition_range_start")
    if PID_TAG in tags:
        pid = int(tags[PID_TAG]) if tags[PID_TAG].isdigit() else None
        return RunProcess(
            run.run_id,
            run.job_name,
            partition,
            "gpuledger",
            pid,
            tags.get(HOST_TAG) == socket.gethostname(),
            started,
        )
    if "dagster/schedule_name" in tags:
        by = f"schedule {tags['dagster/schedule_name']}"
    elif "dagster/sensor_name" in tags:
        by = f"sensor {tags['dagster/sensor_name']}"
    else:
        by = "the Dagster UI"
    local = False
    if GRPC_INFO_TAG in tags:
        grpc = json.loads(tags[GRPC_INFO_TAG])
        local = "socket" in grpc or grpc.get("host") in LOCAL_HOSTS | {socket.gethostname()}
    return RunProcess(
        run.run_id, run.job_name, partition, by, _worker_pid(instance, run.run_id), local, started
    )


def _pool_run_ids(instance: dg.DagsterInstance) -> tuple[set[str], set[str]]:
    """(runs holding a slot of the pool, runs with steps waiting for one)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return set(), set()
    info = storage.get_concurrency_info(POOL)
    return {s.run_id for s in info.claimed_slots}, {s.run_id for s in info.pending_steps}


def release_stale_claims(instance: dg.DagsterInstance) -> list[str]:
    """Free the pool from runs that can no longer release it; returns their ids.

    Claims and queued steps of finished runs are freed; an unfinished run whose process on this
    host is gone is marked failed first. Runs whose process lives (or runs on another host) are
    left alone: they are writing.
    """
    holding, waiting = _pool_run_ids(instance)
    freed = []
    for run_id in sorted(holding | waiting):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            process = run_process(instance, run)
            if not process.gone:
                continue
            instance.report_run_failed(
                run,
                message=f"its process {process.pid} is gone; released the {POOL} pool it held",
            )
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        freed.append(run_id)
    return freed


def waiting_for(instance: dg.DagsterInstance, pid: int) -> list[RunProcess]:
    """The runs holding the pool while a run of process ``pid`` waits for it (else [])."""
    holding, waiting = _pool_run_ids(instance)
    ours = {
        r.run_id
        for r in instance.get_runs(
            filters=dg.RunsFilter(tags={PID_TAG: str(pid), HOST_TAG: socket.gethostname()})
        )
        if not r.is_finished
    }
    if not ours & waiting or ours & holding:
        return []
    holders = [instance.get_run_by_id(run_id) for run_id in sorted(holding - ours)]
    return [run_process(instance, r) for r in holders if r is not None]


def cancel_own_runs(instance: dg.DagsterInstance, pid: int, reason: str) -> list[str]:
    """Mark this process' unfinished runs canceled and free whatever of the pool they held."""
    canceled = []
    for run in instance.get_runs(
        filters=dg.RunsFilter(tags={PID_TAG: str(pid), HOST_TAG: socket.gethostname()})
    ):
        if run.is_finished:
            continue
        instance.report_run_canceled(run, message=reason)
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        canceled.append(run.run_id)
    return canceled


def _proc_stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, session id) of a live process, from /proc (Linux); None for a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, pgrp, sid
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[3])


def _processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, session id) of every process this host shows."""
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if entry.name.isdigit():
            stat = _proc_stat(entry.name)
            if stat is not None:
                yield int(entry.name), stat[0], stat[1]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found, grandchildren after)."""
    children: dict[int, list[int]] = {}
    for proc, parent, _ in _processes():
        children.setdefault(parent, []).append(proc)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def session_processes(session: int) -> list[int]:
    return [proc for proc, _, sid in _processes() if sid == session]


def stop_processes(
    pids: Callable[[], list[int]], grace_s: float, first: signal.Signals = signal.SIGTERM
) -> list[int]:
    """Send ``first`` to the processes, SIGKILL to what is left after ``grace_s``; returns the
    pids still there after that (none, unless they are not ours to kill)."""
    for pid in pids():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, first)
    deadline = time.monotonic() + grace_s
    while pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids()


class PoolWatch(threading.Thread):
    """While this process' runs execute: every ``WATCH_SECONDS`` that a run waits for the pool,
    ``say`` what holds it (and release it if that run's process died meanwhile); when Dagster
    captures Ctrl-C or SIGTERM (it defers them to checkpoints a run waiting for the pool never
    reaches), ``on_interrupt`` is called at once."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        say: Callable[[str], None],
        on_interrupt: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="gpuledger-pool-watch", daemon=True)
        self.instance = instance
        self.say = say
        self.on_interrupt = on_interrupt
        self.done = threading.Event()

    def run(self) -> None:
        from dagster._utils.interrupts import check_captured_interrupt

        next_look = time.monotonic() + WATCH_SECONDS
        while not self.done.wait(0.1):
            if self.on_interrupt is not None and check_captured_interrupt():
                self.on_interrupt()
                return
            if time.monotonic() < next_look:
                continue
            next_look = time.monotonic() + WATCH_SECONDS
            try:
                self._look()
            except Exception as exc:  # a storage hiccup must not end the run being watched
                self.say(f"(could not read the pool's state: {exc})")

    def _look(self) -> None:
        holders = waiting_for(self.instance, os.getpid())
        if not holders:
            return
        freed = release_stale_claims(self.instance)
        if freed:
            self.say(f"released the warehouse from run(s) whose process died: {', '.join(freed)}")
            return
        self.say(
            f"waiting for the warehouse (pool {POOL}, one writer): held by "
            + "; ".join(h.describe() for h in holders)
            + ". Ctrl-C stops this run."
        )

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)
