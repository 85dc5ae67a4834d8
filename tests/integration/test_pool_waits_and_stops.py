"""The warehouse's one-writer pool with real processes: a run that waits says for what and stops
at once on Ctrl-C; a `dagster dev` killed mid-run leaves nothing that makes the next
`gpuledger run` wait; `gpuledger dev` (make dev) stops whole on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from pipelines.lib.pool import HOST_TAG, PID_TAG, POOL, alive, descendants, session_processes
from tests.conftest import REPO, Pipeline

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


@pytest.fixture
def site(pipeline_factory, tmp_path: Path) -> Iterator[tuple[Pipeline, Path, dict[str, str]]]:
    """A built 4-GPU fleet, a DAGSTER_HOME of its own (the repository's dagster.yaml: pool limit
    1), and the environment the commands run in."""
    pipeline = pipeline_factory(gpus=4, days=2, seed=11, start=date(2026, 3, 31)).copy_to(tmp_path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / ".dagster" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "GPULEDGER_LANDING": str(pipeline.landing),
        "GPULEDGER_WAREHOUSE": str(pipeline.warehouse),
    }
    yield pipeline, home, env


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch_from_the_ui(port: int, job: str, deadline_s: float = 240) -> str:
    """Launch ``job`` through the webserver's GraphQL API, as the Launch button does."""
    from dagster_graphql import DagsterGraphQLClient

    deadline = time.monotonic() + deadline_s
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).read()
            return DagsterGraphQLClient("127.0.0.1", port_number=port).submit_job_execution(job)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _wait_until_it_holds_the_pool(home: Path, run_id: str, deadline_s: float = 240) -> int:
    """Wait for the UI's run to claim the pool; returns its run worker's pid."""
    from pipelines.lib.pool import run_process

    instance = _instance(home)
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            info = instance.event_log_storage.get_concurrency_info(POOL)
            run = instance.get_run_by_id(run_id)
            assert run is not None and not run.is_finished, run and run.status
            if run_id in {s.run_id for s in info.claimed_slots}:
                pid = run_process(instance, run).pid
                if pid is not None:
                    return pid
            time.sleep(0.2)
        raise AssertionError("the UI's run never claimed the pool")
    finally:
        instance.dispose()


def _run_state(home: Path, run_id: str) -> tuple[DagsterRunStatus, set[str]]:
    instance = _instance(home)
    try:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        info = instance.event_log_storage.get_concurrency_info(POOL)
        holders = {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}
        return run.status, holders
    finally:
        instance.dispose()


def test_a_killed_dagster_dev_mid_run_does_not_stop_the_next_run(site) -> None:
    _, home, env = site
    port = _free_port()
    ui = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_id = _launch_from_the_ui(port, "ingest_reference")
        worker = _wait_until_it_holds_the_pool(home, run_id)
        # Everything of dagster dev dies at once (kill -9, a container stopped, the OOM killer):
        # its session and the run worker the code server started in a session of its own.
        everything = {*session_processes(ui.pid), *descendants(ui.pid)}
        assert worker in everything
        for pid in everything:
            os.kill(pid, signal.SIGKILL)
        ui.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(alive(p) for p in everything) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(p) for p in everything)
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
    assert _run_state(home, run_id) == (DagsterRunStatus.STARTED, {run_id})

    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "gpuledger"), "run"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"released the warehouse from 1 run(s) that had died holding it: {run_id[:8]}" in (
        " ".join(done.stdout.split())
    )
    assert "runs succeeded" in done.stdout
    assert time.monotonic() - started < 300
    status, holders = _run_state(home, run_id)
    assert status == DagsterRunStatus.FAILURE and holders == set()


def test_gpuledger_dev_stops_whole_on_sigterm_and_releases_its_runs(site) -> None:
    _, home, env = site
    port = _free_port()
    log = home / "dev.log"
    with log.open("w") as out:
        dev = subprocess.Popen(
            [str(BIN / "gpuledger"), "dev", "--port", str(port), "--grace", "10"],
            env=env,
            cwd=REPO,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        run_id = _launch_from_the_ui(port, "ingest_reference")
        worker = _wait_until_it_holds_the_pool(home, run_id)
        everything = descendants(dev.pid)
        assert worker in everything
        asked = time.monotonic()
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=60)
        stopped_in = time.monotonic() - asked
    finally:
        for pid in [dev.pid, *descendants(dev.pid)] if dev.poll() is None else []:
            os.kill(pid, signal.SIGKILL)
    output = log.read_text()
    assert dev.returncode == 0, output
    assert stopped_in < 30, output
    assert "stopping the Dagster UI" in output
    assert [p for p in everything if alive(p)] == []  # webserver, daemon, code server, run
    status, holders = _run_state(home, run_id)
    assert status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED) and holders == set()


def test_a_waiting_run_says_for_what_and_stops_at_once_on_ctrl_c(site) -> None:
    _, home, env = site
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    instance = _instance(home)
    try:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        run = instance.add_run(
            DagsterRun(
                job_name="ingest_reference",
                status=DagsterRunStatus.STARTED,
                tags={PID_TAG: str(holder.pid), HOST_TAG: socket.gethostname()},
            )
        )
        assert storage.claim_concurrency_slot(POOL, run.run_id, "dbt_build").is_claimed
        waiting = subprocess.Popen(
            [str(BIN / "gpuledger"), "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        silent = threading.Timer(240, waiting.kill)  # a run that says nothing fails the test
        silent.start()
        assert waiting.stdout is not None
        for line in waiting.stdout:
            lines.append(line)
            if "Ctrl-C stops this run" in line:  # the end of the (wrapped) waiting message
                break
        silent.cancel()
        said = " ".join(" ".join(lines).split())
        assert (
            f"held by run {run.run_id[:8]} (ingest_reference, launched by gpuledger, process "
            in said
        )
        assert f"{holder.pid} alive) since " in said and "Ctrl-C stops this run" in said
        asked = time.monotonic()
        waiting.send_signal(signal.SIGINT)
        rest, _ = waiting.communicate(timeout=30)
        assert time.monotonic() - asked < 10
        assert waiting.returncode == 130, rest
        assert "interrupted: run " in rest and "canceled" in rest
        ours = [
            r
            for r in instance.get_runs()
            if r.tags.get(PID_TAG) == str(waiting.pid) and r.run_id != run.run_id
        ]
        assert ours and all(r.status == DagsterRunStatus.CANCELED for r in ours)
        holders = {s.run_id for s in storage.get_concurrency_info(POOL).claimed_slots}
        pending = {s.run_id for s in storage.get_concurrency_info(POOL).pending_steps}
        assert holders == {run.run_id} and pending <= {run.run_id}  # none of the canceled run
    finally:
        holder.kill()
        instance.dispose()
