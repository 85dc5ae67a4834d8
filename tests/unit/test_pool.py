"""A run that died holding the one-writer pool must not make every later run wait forever, and a
run that waits says for what."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile

import dagster as dg
from dagster._core.events import EngineEventData
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from pipelines.lib.pool import (
    HOST_TAG,
    PID_TAG,
    POOL,
    descendants,
    release_stale_claims,
    run_process,
    waiting_for,
)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _instance(home: str) -> dg.DagsterInstance:
    instance = dg.DagsterInstance.local_temp(
        tempdir=home, overrides={"concurrency": {"pools": {"default_limit": 1}}}
    )
    instance.event_log_storage.initialize_concurrency_limit_to_default(POOL)
    instance.event_log_storage.set_concurrency_slots(POOL, 8)
    return instance


def test_claims_of_dead_and_finished_runs_are_released_and_live_ones_kept() -> None:
    with tempfile.TemporaryDirectory() as home:
        instance = _instance(home)
        host = socket.gethostname()
        local = {GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": 4266})}
        remote = {GRPC_INFO_TAG: json.dumps({"host": "code-server.internal", "port": 4266})}
        dead = _dead_pid()
        runs = {
            "dead": (DagsterRunStatus.STARTED, {PID_TAG: str(dead), HOST_TAG: host}, None),
            "alive": (DagsterRunStatus.STARTED, {PID_TAG: str(os.getpid()), HOST_TAG: host}, None),
            "ui_dead": (DagsterRunStatus.STARTED, local, dead),
            "ui_alive": (DagsterRunStatus.STARTED, local, os.getpid()),
            "ui_elsewhere": (DagsterRunStatus.STARTED, remote, dead),  # not ours to judge
            "ui_no_pid": (DagsterRunStatus.STARTING, local, None),
            "finished": (DagsterRunStatus.FAILURE, {}, None),
        }
        ids = {}
        storage = instance.event_log_storage
        for name, (status, tags, worker) in runs.items():
            run = instance.add_run(DagsterRun(job_name="ingest_daily", status=status, tags=tags))
            ids[name] = run.run_id
            if worker is not None:  # what the code server's run worker records when it starts
                instance.report_engine_event(
                    f"Started process for run (pid: {worker}).",
                    run,
                    EngineEventData.in_process(worker),
                )
            storage.claim_concurrency_slot(POOL, run.run_id, f"{name}_step")
        ui_dead = instance.get_run_by_id(ids["ui_dead"])
        assert ui_dead is not None
        process = run_process(instance, ui_dead)
        assert (process.launched_by, process.pid, process.local, process.gone) == (
            "the Dagster UI",
            dead,
            True,
            True,
        )
        freed = release_stale_claims(instance)
        assert sorted(freed) == sorted([ids["dead"], ids["ui_dead"], ids["finished"]])
        for name in ("dead", "ui_dead"):
            run = instance.get_run_by_id(ids[name])
            assert run is not None and run.status == DagsterRunStatus.FAILURE
        holders = {s.run_id for s in storage.get_concurrency_info(POOL).claimed_slots}
        assert holders == {ids[n] for n in ("alive", "ui_alive", "ui_elsewhere", "ui_no_pid")}
        instance.dispose()


def test_a_waiting_run_names_the_run_that_holds_the_pool() -> None:
    with tempfile.TemporaryDirectory() as home:
        instance = _instance(home)
        storage = instance.event_log_storage
        storage.set_concurrency_slots(POOL, 1)
        host = socket.gethostname()
        holder = instance.add_run(
            DagsterRun(
                job_name="ingest_reference",
                status=DagsterRunStatus.STARTED,
                tags={GRPC_INFO_TAG: json.dumps({"host": "localhost", "port": 1})},
            )
        )
        instance.report_engine_event(
            "Started process for run (pid: 1).", holder, EngineEventData.in_process(1)
        )
        storage.claim_concurrency_slot(POOL, holder.run_id, "dbt_step")
        assert waiting_for(instance, os.getpid()) == []  # nothing of ours waits
        ours = instance.add_run(
            DagsterRun(
                job_name="ingest_daily",
                status=DagsterRunStatus.STARTED,
                tags={PID_TAG: str(os.getpid()), HOST_TAG: host},
            )
        )
        claim = storage.claim_concurrency_slot(POOL, ours.run_id, "nvml_telemetry")
        assert not claim.is_claimed
        [blocking] = waiting_for(instance, os.getpid())
        text = blocking.describe()
        assert text.startswith(
            f"run {holder.run_id[:8]} (ingest_reference, launched by the Dagster UI"
        )
        assert "process 1 alive" in text and " UTC (" in text
        instance.dispose()


def test_descendants_are_found_to_any_depth() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
            "print(p.pid, flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        assert {child.pid, grandchild} <= set(descendants(os.getpid()))
    finally:
        for pid in [*descendants(child.pid), child.pid]:
            os.kill(pid, 9)
        child.wait()
