"""A one-day run launched from the Dagster UI against the same day run by `gpuledger run`.

On the demo fleet (18 GPUs, 3 days), landed and built once: a day's request logs are touched (a
new version of the day), then either

* CLI: `gpuledger run --start DAY --end DAY` (the day's ingest_daily run, then
  ingest_reference, then build_daily, which builds the day and publishes), or
* UI: under `gpuledger dev`, the day's ingest_daily run launched through the webserver's GraphQL
  API (what the Launch button sends); the reference_after_landing sensor then launches the
  ingest_reference run, and build_after_reference the build, as they do for any landing.

Writes bench/results/ui-run.json and .md: medians of ``--repeat`` tries of each, with what the
UI adds (queue, run worker start, the sensor's interval) apart from the runs' own time.

    .venv/bin/python tools/bench_ui.py [--repeat 3] [--work /tmp/gpuledger-bench-ui]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAY = "2026-10-31"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _touch_day(landing: Path) -> None:
    for path in (landing / "inference" / "requests" / f"date={DAY}").glob("*.jsonl"):
        path.touch()


def _runs(instance: dg.DagsterInstance, job: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(job_name=job)))


def _record(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    record = instance.get_run_record_by_id(run_id)
    assert record is not None and record.start_time and record.end_time
    return {
        "created": record.create_timestamp.timestamp(),
        "started": record.start_time,
        "ended": record.end_time,
    }


def _wait_finished(instance: dg.DagsterInstance, run_id: str, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
            return
        time.sleep(0.2)
    raise TimeoutError(run_id)


def cli_try(env: dict[str, str], instance: dg.DagsterInstance) -> dict[str, float]:
    before = {r.run_id for r in instance.get_runs()}
    started = time.time()
    subprocess.run(
        [str(BIN / "gpuledger"), "run", "--start", DAY, "--end", DAY],
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.time() - started
    new = [r for r in instance.get_runs() if r.run_id not in before]
    by_job = {r.job_name: _record(instance, r.run_id) for r in new}
    return {
        "wall_s": wall,
        "ingest_run_s": by_job["ingest_daily"]["ended"] - by_job["ingest_daily"]["started"],
        "transform_run_s": by_job["ingest_reference"]["ended"]
        - by_job["ingest_reference"]["started"],
        "build_run_s": by_job["build_daily"]["ended"] - by_job["build_daily"]["started"],
    }


def _launched(instance: dg.DagsterInstance, job: str, known: set[str]) -> str:
    """The run of ``job`` a sensor launched (one not in ``known``), once it is finished."""
    deadline = time.monotonic() + 300
    while True:
        new = [r for r in _runs(instance, job) if r.run_id not in known]
        if new:
            _wait_finished(instance, new[0].run_id)
            return new[0].run_id
        assert time.monotonic() < deadline, f"no sensor launched {job}"
        time.sleep(0.2)


def ui_try(port: int, instance: dg.DagsterInstance) -> dict[str, float]:
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    known = {r.run_id for job in ("ingest_reference", "build_daily") for r in _runs(instance, job)}
    clicked = time.time()
    ingest = client.submit_job_execution("ingest_daily", tags={"dagster/partition": DAY})
    _wait_finished(instance, ingest)
    transform = _launched(instance, "ingest_reference", known)
    build = _launched(instance, "build_daily", known)
    i, t, b = (_record(instance, run) for run in (ingest, transform, build))
    return {
        "wall_s": b["ended"] - clicked,
        "ingest_wall_s": i["ended"] - clicked,
        "ingest_run_s": i["ended"] - i["started"],
        "ingest_start_s": i["started"] - clicked,
        "sensor_wait_s": t["created"] - i["ended"],
        "transform_start_s": t["started"] - t["created"],
        "transform_run_s": t["ended"] - t["started"],
        "build_sensor_wait_s": b["created"] - t["ended"],
        "build_start_s": b["started"] - b["created"],
        "build_run_s": b["ended"] - b["started"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpuledger-bench-ui"))
    args = parser.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    home, landing = work / "dagster_home", work / "landing"
    home.mkdir(parents=True)
    shutil.copy(REPO / ".dagster" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "GPULEDGER_LANDING": str(work / "landing"),
        "GPULEDGER_WAREHOUSE": str(work / "gpuledger.duckdb"),
    }
    subprocess.run(
        [str(BIN / "gpuledger"), "generate", "--gpus", "18", "--days", "3", "--out", str(landing)],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run([str(BIN / "gpuledger"), "run"], env=env, check=True, capture_output=True)
    instance = dg.DagsterInstance.from_config(str(home))
    cli = []
    for _ in range(args.repeat):
        _touch_day(work / "landing")
        cli.append(cli_try(env, instance))

    port = _free_port()
    log = (work / "dev.log").open("w")
    started = time.time()
    dev = subprocess.Popen(
        [str(BIN / "gpuledger"), "dev", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ui = []
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        ui_start_s = time.time() - started
        time.sleep(10)  # the sensors' first evaluations (which find the warehouse up to date)
        for _ in range(args.repeat):
            _touch_day(work / "landing")
            ui.append(ui_try(port, instance))
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=120)
        log.close()

    def median(tries: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(t[key] for t in tries), 2)

    result = {
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "fleet": "demo (18 GPUs, 3 days); one day's request logs touched before each try",
        "repeat": args.repeat,
        "ui_start_s": round(ui_start_s, 2),
        "cli": {k: median(cli, k) for k in cli[0]},
        "ui": {k: median(ui, k) for k in ui[0]},
        "tries": {"cli": cli, "ui": ui},
    }
    out = REPO / "bench" / "results"
    (out / "ui-run.json").write_text(json.dumps(result, indent=2) + "\n")
    c, u = result["cli"], result["ui"]
    rows = [
        ("the day's ingest_daily run (run start to end)", c["ingest_run_s"], u["ingest_run_s"]),
        ("its ingest_reference run (run start to end)", c["transform_run_s"], u["transform_run_s"]),
        ("its build_daily run, with the publish", c["build_run_s"], u["build_run_s"]),
        ("ingest: launch to run start (queue, run worker)", "", u["ingest_start_s"]),
        ("wait for reference_after_landing to launch", "", u["sensor_wait_s"]),
        ("ingest_reference: launch to run start", "", u["transform_start_s"]),
        ("wait for build_after_reference to launch", "", u["build_sensor_wait_s"]),
        ("build_daily: launch to run start", "", u["build_start_s"]),
        ("the day landed (click or command to ingest end)", "", u["ingest_wall_s"]),
        (
            "the marts rebuilt and published (click or command to build end)",
            c["wall_s"],
            u["wall_s"],
        ),
    ]
    lines = [
        f"Measured with `tools/bench_ui.py` on {result['machine']}: {result['fleet']}; "
        f"medians of {args.repeat} tries each. `gpuledger dev` was up in {ui_start_s:.1f} s.",
        "",
        "| seconds | CLI (`gpuledger run --start D --end D`) | UI (Launch, then the sensor) |",
        "|---|---|---|",
        *(f"| {name} | {cli_s} | {ui_s} |" for name, cli_s, ui_s in rows),
        "",
    ]
    (out / "ui-run.md").write_text("\n".join(lines))
    sys.stdout.write("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
