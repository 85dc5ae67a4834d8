"""A run that died holding the one-writer pool must not make every later run wait forever."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from pipelines.lib.runner import HOST_TAG, PID_TAG, POOL, release_stale_claims


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_claims_of_dead_and_finished_runs_are_released_and_live_ones_kept() -> None:
    with tempfile.TemporaryDirectory() as home:
        instance = dg.DagsterInstance.local_temp(
            tempdir=home, overrides={"concurrency": {"pools": {"default_limit": 1}}}
        )
        host = socket.gethostname()
        runs = {
            "dead": (DagsterRunStatus.STARTED, {PID_TAG: str(_dead_pid()), HOST_TAG: host}),
            "alive": (DagsterRunStatus.STARTED, {PID_TAG: str(os.getpid()), HOST_TAG: host}),
            "daemon": (DagsterRunStatus.STARTED, {}),  # a live dagster dev's run: not ours
            "finished": (DagsterRunStatus.FAILURE, {}),
        }
        ids = {}
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        storage.set_concurrency_slots(POOL, 4)
        for name, (status, tags) in runs.items():
            run = instance.add_run(DagsterRun(job_name="ingest_daily", status=status, tags=tags))
            ids[name] = run.run_id
            storage.claim_concurrency_slot(POOL, run.run_id, f"{name}_step")
        freed = release_stale_claims(instance)
        assert sorted(freed) == sorted([ids["dead"], ids["finished"]])
        dead = instance.get_run_by_id(ids["dead"])
        assert dead is not None and dead.status == DagsterRunStatus.FAILURE
        holders = {s.run_id for s in storage.get_concurrency_info(POOL).claimed_slots}
        assert holders == {ids["alive"], ids["daemon"]}
        instance.dispose()
