"""`gpuledger bench`: the real pipeline on a generated fleet, against the floor of simply reading
its inputs, in one process.

* ``end_to_end_s``: every run `gpuledger run` makes (billing, the days' ingest, contracts and
  prices, the dbt builds with their checks, the serving snapshot) on an empty warehouse.
* ``fixed_overhead_s``: the same on a 1-GPU, 1-day fleet, after a warm-up run of it, so
  imports and dbt's parse cache are paid before either timed run. Each timed run starts with
  an empty focus-validator cache (the warm-up's verdict would spare the small run the
  validator's start-up, which the fleet's run pays); the daily runs share one, as a
  deployment's do.
* ``floor_s``: a bare DuckDB scan and hourly aggregate of the same spool Parquet files and
  request logs (what any pipeline has to do at least).
* ``p1_ratio`` = (end_to_end_s - fixed_overhead_s) / floor_s; ``floor_parts_s`` splits the floor
  into its telemetry scan and its request-log scan, and ``p1_ratio_without_request_logs`` leaves
  the landing of the request logs out of the end-to-end time (what the rest costs alone).
* ``request_log_readers``: CPU and wall seconds of readers of one day of request logs, in this
  process: the floor's DuckDB read (five fields), DuckDB's typed read of every field the
  pipeline lands (lenient: no check of JSON types or of the values), and the pipeline's own
  strict reader (pipelines/defs/sources/inference/load.py ``read_day``).
* ``peak_rss_mb``: the largest resident set of this process or of a child (dbt runs in one).
* With ``--history-days H``: the daily run (one new day landed, then its build) on a
  warehouse holding 30 days, and one holding H days; ``p2_ratio`` is their quotient.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from bench.fleet import BenchFleet, write_billing, write_days
from pipelines.defs.sources.inference.load import read_day, request_files
from pipelines.lib.dbt import PIPELINE_EXCLUDES, log_file_args
from pipelines.lib.paths import DBT_PROJECT_DIR, dbt_executable
from pipelines.lib.warehouse import MEMORY_LIMIT
from pipelines.runner import run

DAILY_RUNS = 3  # daily runs timed over each history; their median is quoted


@contextmanager
def _validator_cache(folder: Path) -> Iterator[None]:
    """Inside, the focus-validator's verdicts are kept in ``folder`` (empty when new)."""
    before = os.environ.get("GPULEDGER_CACHE_DIR")
    os.environ["GPULEDGER_CACHE_DIR"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GPULEDGER_CACHE_DIR")
        else:
            os.environ["GPULEDGER_CACHE_DIR"] = before


def _start(days: int) -> date:
    """Fleets end two days ago: every day is a partition (partitions end at tomorrow)."""
    return date.today() - timedelta(days=days + 2)


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # Linux reports KiB


def _generate(fleet: BenchFleet, landing: Path, days: list[date] | None = None) -> tuple[int, int]:
    windows = requests = 0
    for day_windows, day_requests in write_days(fleet, landing, days or fleet.dates):
        windows += day_windows
        requests += day_requests
    write_billing(fleet, landing)
    return windows, requests


def _timed_run(
    landing: Path,
    warehouse: Path,
    start: date | None = None,
    end: date | None = None,
    breakdown: dict[str, float] | None = None,
) -> float:
    """Seconds `gpuledger run` takes; each run's and step's seconds go into ``breakdown``."""
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    summary = run(landing, warehouse, start=start, end=end, instance=instance)
    took = time.perf_counter() - started
    if breakdown is not None:
        breakdown.update(step_seconds(instance, summary.runs))
    return took


def step_seconds(
    instance: dg.DagsterInstance, runs: list[tuple[str, str | None, str]]
) -> dict[str, float]:
    """Each Dagster run's seconds and those of its steps."""
    out: dict[str, float] = {}
    for job, partition, run_id in runs:
        stats = instance.get_run_stats(run_id)
        if stats.start_time and stats.end_time:
            name = f"run {job}" + (f" {partition}" if partition else "")
            out[name] = round(stats.end_time - stats.start_time, 2)
        started: dict[str, float] = {}
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event is None or record.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                started[record.step_key] = record.timestamp
            elif event.event_type_value == "STEP_SUCCESS" and record.step_key in started:
                took = record.timestamp - started[record.step_key]
                out[f"step {record.step_key}"] = round(took, 2)
    return out


def slowest_dbt_nodes(target: Path, count: int = 15) -> dict[str, float]:
    """The dbt nodes (models, tests) that took longest in the last `dbt build`s of a warehouse:
    of the bill lines by billing period (``<target>-monthly``) and of the others by day
    (``target``)."""
    nodes = [
        node
        for folder in (target.with_name(target.name + "-monthly"), target)
        if (folder / "run_results.json").exists()
        for node in json.loads((folder / "run_results.json").read_text())["results"]
    ]
    timed = sorted(((n["execution_time"], n["unique_id"]) for n in nodes), reverse=True)
    return {name.split(".", 1)[1]: round(took, 2) for took, name in timed[:count]}


def overhead_breakdown(
    instance: dg.DagsterInstance, runs: list[tuple[str, str | None, str]], warehouse: Path
) -> dict[str, float]:
    """Where the seconds of a small run go: each Dagster run and step, and the same `dbt
    build` on its own (so what dagster-dbt adds shows)."""
    out = step_seconds(instance, runs)
    began = time.perf_counter()
    subprocess.run(
        [
            dbt_executable(),
            "build",
            *PIPELINE_EXCLUDES,  # as the pipeline's build
            *log_file_args(),
            "--quiet",
            "--target-path",
            str(warehouse.parent / "bare"),
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "GPULEDGER_WAREHOUSE": str(warehouse)},
        check=True,
        capture_output=True,
    )
    out["dbt build alone (subprocess)"] = round(time.perf_counter() - began, 2)
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from pipelines.definitions import defs; defs()"],
        check=True,
        capture_output=True,
    )
    out["python: import and load the definitions"] = round(time.perf_counter() - began, 2)
    return out


def floor_parts(landing: Path) -> tuple[float, float]:
    """Scan and aggregate the fleet's telemetry by GPU-hour and its requests by host-hour: the
    seconds of each, (telemetry, request logs); the floor is their sum."""
    spool = str(landing / "telemetry" / "nvml" / "**" / "*.parquet")
    logs = str(landing / "inference" / "requests" / "**" / "*.jsonl")
    conn = duckdb.connect()
    try:
        started = time.perf_counter()
        conn.execute(
            "select host, gpu_uuid, date_trunc('hour', window_start) as hour,"
            " avg(util_mean), max(memory_used_bytes_max), sum(energy_mj), count(*)"
            " from read_parquet(?) group by all",
            [spool],
        ).fetchall()
        telemetry = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(
            "select host, workload, date_trunc('hour', time::timestamp) as hour, count(*),"
            " sum(usage.prompt_tokens), sum(usage.completion_tokens)"
            " from read_json(?, columns = {time: 'varchar', host: 'varchar',"
            " workload: 'varchar', status: 'integer',"
            " usage: 'struct(prompt_tokens bigint, completion_tokens bigint)'}) group by all",
            [logs],
        ).fetchall()
        return telemetry, time.perf_counter() - started
    finally:
        conn.close()


# Every field read_day lands, typed as DuckDB reads them (it casts a value of another JSON type).
_LENIENT_COLUMNS = (
    "{time: 'varchar', request_id: 'varchar', host: 'varchar', endpoint: 'varchar',"
    " workload: 'varchar', model: 'varchar', status: 'bigint', finish_reason: 'varchar',"
    " attempt: 'bigint', retry_of: 'varchar', synthetic: 'boolean',"
    " usage: 'struct(prompt_tokens bigint, completion_tokens bigint,"
    " prompt_tokens_details struct(cached_tokens bigint),"
    " completion_tokens_details struct(reasoning_tokens bigint))'}"
)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def request_log_readers(landing: Path, day: date) -> dict[str, dict[str, float]]:
    """CPU and wall seconds, and rows, of three readers of the day's request logs (the files
    read once before, so that none pays for the disk)."""
    files = request_files(landing / "inference", day)
    for path in files:
        path.read_bytes()
    names = [str(p) for p in files]

    def floor_fields() -> int:
        with duckdb.connect() as conn:
            [(rows,)] = conn.execute(
                "select sum(requests) from (select host, workload,"
                " date_trunc('hour', time::timestamp) as hour, count(*) as requests,"
                " sum(usage.prompt_tokens), sum(usage.completion_tokens)"
                " from read_json(?, columns = {time: 'varchar', host: 'varchar',"
                " workload: 'varchar', status: 'integer',"
                " usage: 'struct(prompt_tokens bigint, completion_tokens bigint)'})"
                " group by all)",
                [names],
            ).fetchall()
        return int(rows)

    def every_field() -> int:
        with duckdb.connect() as conn:
            table = conn.sql(
                f"select * from read_json(?, columns = {_LENIENT_COLUMNS},"  # noqa: S608
                " format = 'newline_delimited', filename = true)",
                params=[names],
            ).to_arrow_table()
        return table.num_rows

    def strict() -> int:
        table, rejected = read_day(files, landing)
        return table.num_rows + len(rejected)

    out: dict[str, dict[str, float]] = {}
    for name, reader in (
        ("duckdb_floor_fields", floor_fields),
        ("duckdb_every_field_lenient", every_field),
        ("gpuledger_strict", strict),
    ):
        cpu, wall = _cpu_seconds(), time.perf_counter()
        rows = reader()
        out[name] = {
            "cpu_s": round(_cpu_seconds() - cpu, 2),
            "wall_s": round(time.perf_counter() - wall, 2),
            "rows": rows,
        }
    return out


def bench(
    gpus: int,
    days: int,
    requests_per_day: int,
    history_days: int | None,
    work: Path,
    say: Callable[[str], None] = print,
    history_gpus: int | None = None,
) -> dict[str, Any]:
    fleet = BenchFleet(gpus=gpus, days=days, start=_start(days), requests_per_day=requests_per_day)
    small = BenchFleet(
        gpus=1, days=1, start=_start(1), requests_per_day=max(1, requests_per_day // gpus)
    )
    say(f"generating {gpus} GPUs x {days} days ({requests_per_day:,} requests a day)")
    started = time.perf_counter()
    windows, requests = _generate(fleet, work / "fleet" / "landing")
    generate_s = time.perf_counter() - started
    _generate(small, work / "small" / "landing")

    say("warm-up run, then the fixed overhead (1 GPU, 1 day)")
    with _validator_cache(work / "cache" / "warm-up"):
        _timed_run(work / "small" / "landing", work / "small" / "warm.duckdb")
    with _validator_cache(work / "cache" / "small"):
        started = time.perf_counter()
        instance = dg.DagsterInstance.ephemeral()
        summary = run(
            work / "small" / "landing", work / "small" / "gpuledger.duckdb", instance=instance
        )
        fixed = time.perf_counter() - started
    breakdown = overhead_breakdown(instance, summary.runs, work / "small" / "gpuledger.duckdb")
    say(f"end-to-end run of the fleet (fixed overhead {fixed:.1f} s)")
    fleet_steps: dict[str, float] = {}
    with _validator_cache(work / "cache" / "fleet"):
        end_to_end = _timed_run(
            work / "fleet" / "landing", work / "fleet" / "gpuledger.duckdb", breakdown=fleet_steps
        )
    say(f"floor: DuckDB scan and aggregate (end-to-end {end_to_end:.1f} s)")
    floors = sorted((floor_parts(work / "fleet" / "landing") for _ in range(3)), key=sum)
    floor = sum(floors[1])  # the median of three
    result: dict[str, Any] = {
        "gpus": gpus,
        "days": days,
        "telemetry_rows": windows,
        "requests": requests,
        "end_to_end_s": round(end_to_end, 2),
        "fixed_overhead_s": round(fixed, 2),
        "floor_s": round(floor, 3),
        "p1_ratio": round((end_to_end - fixed) / floor, 2),
        "floor_parts_s": {
            "telemetry": round(floors[1][0], 3),
            "request_logs": round(floors[1][1], 3),
        },
        "p1_ratio_without_request_logs": round(
            (end_to_end - fixed - fleet_steps.get("step raw__inference_requests", 0.0)) / floor, 2
        ),
        "peak_rss_mb": 0.0,
        "generate_s": round(generate_s, 2),
        "fixed_overhead_breakdown_s": breakdown,
        "end_to_end_breakdown_s": fleet_steps,
        "duckdb_memory_limit": MEMORY_LIMIT,
        "input_bytes": sum(f.stat().st_size for f in (work / "fleet" / "landing").rglob("*.*")),
    }
    result["end_to_end_dbt_nodes_s"] = slowest_dbt_nodes(work / "fleet" / "dbt-target")
    say("readers of one day of request logs")
    result["request_log_readers"] = request_log_readers(work / "fleet" / "landing", fleet.dates[-1])
    say("daily run at fleet scale: the last day landed again and rebuilt")
    with _validator_cache(work / "cache" / "fleet"):
        result.update(_fleet_daily_run(fleet, work / "fleet"))
    shutil.rmtree(work / "fleet")
    if history_days:
        history_gpus = history_gpus or gpus
        per_gpu = max(1, requests_per_day // gpus)
        with _validator_cache(work / "cache" / "history"):
            result.update(_history(history_gpus, per_gpu * history_gpus, history_days, work, say))
    result["peak_rss_mb"] = _peak_rss_mb()
    result["machine"] = {
        "cpus": _cpus(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "duckdb": duckdb.__version__,
    }
    return result


def _fleet_daily_run(fleet: BenchFleet, folder: Path) -> dict[str, Any]:
    """A daily run on the fleet's own warehouse: the last day's telemetry and request logs are
    delivered again (new modification times: a new version of the day), and that day is run.
    It lands and rebuilds one day at full width; what else it spends grows with history."""
    last = fleet.dates[-1]
    landing = folder / "landing"
    again = time.time()
    for path in [
        *(landing / "telemetry" / "nvml").glob(f"host=*/date={last}/*.parquet"),
        *(landing / "inference" / "requests" / f"date={last}").glob("*.jsonl"),
    ]:
        os.utime(path, (again, again))
    steps: dict[str, float] = {}
    took = _timed_run(landing, folder / "gpuledger.duckdb", start=last, end=last, breakdown=steps)
    return {
        "fleet_daily_run_s": round(took, 2),
        "fleet_daily_run_breakdown_s": steps,
        "fleet_daily_run_dbt_nodes_s": slowest_dbt_nodes(folder / "dbt-target"),
    }


def _history(
    gpus: int, requests_per_day: int, history_days: int, work: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """The daily run (land one new day, build it) over 30 days of history and over H days:
    the median of three daily runs, each landing the next day."""
    out: dict[str, Any] = {"history_days": history_days, "history_gpus": gpus}
    for held in sorted({30, history_days}):
        fleet = BenchFleet(
            gpus=gpus,
            days=held + DAILY_RUNS,
            start=_start(held + DAILY_RUNS),
            requests_per_day=requests_per_day,
        )
        landing = work / f"history-{held}" / "landing"
        warehouse = work / f"history-{held}" / "gpuledger.duckdb"
        say(f"history: {held} days landed and built, then {DAILY_RUNS} daily runs")
        _generate(fleet, landing, fleet.dates[:held])
        run(landing, warehouse, instance=dg.DagsterInstance.ephemeral())
        runs = []
        steps: dict[str, float] = {}
        for new_day in fleet.dates[held:]:
            _generate(fleet, landing, [new_day])  # the new day and its month's restated bill
            steps.clear()
            runs.append(
                round(
                    _timed_run(landing, warehouse, start=new_day, end=new_day, breakdown=steps), 2
                )
            )
        out[f"daily_runs_s_{held}d_history"] = runs
        out[f"daily_run_s_{held}d_history"] = statistics.median(runs)
        # Where the last daily run's seconds went, to see what grows with history.
        out[f"daily_run_breakdown_s_{held}d_history"] = dict(steps)
        out[f"daily_run_dbt_nodes_s_{held}d_history"] = slowest_dbt_nodes(
            warehouse.parent / "dbt-target"
        )
        shutil.rmtree(work / f"history-{held}")
    first = out.get("daily_run_s_30d_history")
    last = out.get(f"daily_run_s_{history_days}d_history")
    if first and last:
        out["p2_ratio"] = round(last / first, 2)
    return out


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def markdown(result: dict[str, Any]) -> str:
    rows = [
        ("fleet", f"{result['gpus']:,} GPUs x {result['days']} days"),
        ("telemetry rows (60 s windows)", f"{result['telemetry_rows']:,}"),
        ("requests", f"{result['requests']:,}"),
        ("end-to-end", f"{result['end_to_end_s']} s"),
        ("fixed overhead (1 GPU, 1 day)", f"{result['fixed_overhead_s']} s"),
        ("floor (DuckDB scan + hourly aggregate)", f"{result['floor_s']} s"),
    ]
    parts = result.get("floor_parts_s")
    if parts:
        rows.append(
            (
                "floor's parts: telemetry / request logs",
                f"{parts['telemetry']} s / {parts['request_logs']} s",
            )
        )
    rows.append(("P1 = (end-to-end - fixed) / floor", f"{result['p1_ratio']}"))
    if "p1_ratio_without_request_logs" in result:
        rows.append(
            (
                "P1 without the landing of the request logs",
                f"{result['p1_ratio_without_request_logs']}",
            )
        )
    rows.append(("peak RSS", f"{result['peak_rss_mb']} MB"))
    if "fleet_daily_run_s" in result:
        rows.append(
            (
                f"daily run of the fleet (last day landed again, {result['days']} d of history)",
                f"{result['fleet_daily_run_s']} s",
            )
        )
    for key, value in result.items():
        if key.startswith("daily_run_s_"):
            held = key.removeprefix("daily_run_s_").removesuffix("_history")
            fleet = f"{result['history_gpus']:,} GPUs, {held} of history, median of 3"
            rows.append((f"daily run ({fleet})", f"{value} s"))
    if "p2_ratio" in result:
        rows.append(
            (
                f"P2 = daily run {result['history_days']} d / 30 d of history",
                f"{result['p2_ratio']}",
            )
        )
    machine = result["machine"]
    lines = [
        f"Measured with `gpuledger bench` on {machine['cpus']} CPUs, Python {machine['python']}, "
        f"DuckDB {machine['duckdb']}.",
        "",
        "| measure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
    ]
    readers = result.get("request_log_readers")
    if readers:
        lines += [
            "",
            "Readers of one day of request logs (CPU-seconds over all threads; wall seconds):",
            "",
            "| reader | CPU s | wall s | rows |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {name} | {r['cpu_s']} | {r['wall_s']} | {int(r['rows']):,} |"
            for name, r in readers.items()
        ]
    for key, title in (
        ("end_to_end_breakdown_s", "Where the end-to-end time goes (runs and their steps)"),
        ("end_to_end_dbt_nodes_s", "The slowest dbt nodes of the end-to-end run"),
        ("fixed_overhead_breakdown_s", "Where the fixed overhead goes (1 GPU, 1 day)"),
        ("fleet_daily_run_dbt_nodes_s", "The slowest dbt nodes of the fleet's daily run"),
    ):
        breakdown = result.get(key)
        if breakdown:
            lines += ["", f"{title}:", "", "| part | s |", "|---|---|"]
            lines += [f"| {name} | {value} |" for name, value in breakdown.items()]
    return "\n".join(lines) + "\n"


def main(
    gpus: int,
    days: int,
    requests_per_day: int,
    history_days: int | None,
    out: Path,
    work: Path | None = None,
    say: Callable[[str], None] = print,
    history_gpus: int | None = None,
) -> dict[str, Any]:
    if work is None:
        with tempfile.TemporaryDirectory(prefix="gpuledger-bench-") as folder:
            return main(
                gpus, days, requests_per_day, history_days, out, Path(folder), say, history_gpus
            )
    result = bench(gpus, days, requests_per_day, history_days, work, say, history_gpus)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    return result
