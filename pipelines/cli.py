"""`gpuledger ...`: thin commands over the generator and the Dagster code location.

Exit codes: 0 success; 1 a run failed (bad input or a failed check: the message says which file,
partition or test; or the warehouse is held open for writing by another process, named); 2 bad
command-line usage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pipelines.lib import paths

# Tables need room; a pipe or CI log gets 120 columns instead of rich's default 80.
console = Console(width=None if sys.stdout.isatty() else 120, log_path=False)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
DEMO_MARKER = ".gpuledger-demo"


def _dagster_instance() -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME (default .dagster). Its storages are created under a lock:
    two first runs started together on a new DAGSTER_HOME would both create the SQLite tables
    (and one fail with "table alembic_version already exists")."""
    import fcntl

    os.environ.setdefault("DAGSTER_HOME", str(paths.DAGSTER_HOME_DEFAULT))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".gpuledger-instance.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = dg.DagsterInstance.get()
        instance.get_runs_count()  # the run storage, created now
        _ = instance.event_log_storage, instance.schedule_storage
    return instance


def cmd_generate(args: argparse.Namespace) -> int:
    from synth import build_fleet, write_landing_zone

    fleet = build_fleet(gpus=args.gpus, days=args.days, seed=args.seed, start=args.start)
    written = write_landing_zone(fleet, args.out)
    console.print(
        f"wrote a {written['gpus']}-GPU, {written['days']}-day fleet to {args.out}: "
        f"{written['aws_cur_files']} CUR files, {written['telemetry_files']} spool files, "
        f"{written['requests']} requests in {written['request_files']} logs, truth.json"
    )
    return 0


def _run(
    landing: Path,
    warehouse: Path,
    start: date | None,
    end: date | None,
    full_refresh: bool = False,
) -> int:
    from pipelines.lib.warehouse import WarehouseUnusable, lock_holder

    try:
        holder = lock_holder(warehouse)
    except WarehouseUnusable as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return 2
    if holder is not None:
        err_console.print(
            f"[red]error:[/red] {warehouse} is open for writing in another process: {holder}. "
            "DuckDB allows one writer: stop that process (a `dagster dev`, another `gpuledger "
            "run`, a DuckDB shell) and run again. Dashboards and ad-hoc SQL should open the "
            f"read-only snapshot {warehouse.parent / 'serving' / 'gpuledger.duckdb'} instead."
        )
        return 1
    instance = _dagster_instance()
    # A run sends stdout to dbt's log file (runner.py); what this command prints while it runs
    # (progress, waits, interruptions) goes to the stdout it was started with.
    console.file, err_console.file = sys.stdout, sys.stderr
    try:
        return _run_with_progress(landing, warehouse, start, end, full_refresh, instance)
    finally:
        console.file = err_console.file = None  # type: ignore[assignment]


def _run_with_progress(
    landing: Path,
    warehouse: Path,
    start: date | None,
    end: date | None,
    full_refresh: bool,
    instance: dg.DagsterInstance,
) -> int:
    from pipelines.lib.summary import MISSING_SOURCE_EFFECTS
    from pipelines.runner import RunFailed, missing_sources, run

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("starting", total=None)
        started = time.monotonic()

        def on_step(job: str, partition: str | None, number: int, total: int) -> None:
            # The line of the step that just finished, then the bar moves on to this one.
            if number > 1:
                progress.console.log(f"[dim]{number - 1}/{total}[/dim] {previous[0]} done")
            previous[0] = f"[bold]{job}[/bold] {partition or ''}".strip()
            progress.update(
                task,
                description=f"{job} {partition or ''}".strip(),
                completed=number - 1,
                total=total,
            )

        def on_interrupt() -> None:
            # Dagster defers Ctrl-C and SIGTERM to checkpoints that a run waiting for the
            # warehouse never reaches: stop here, at once, leaving the pool free and the run
            # marked canceled. A load interrupted mid-write is rolled back by DuckDB.
            from pipelines.lib.pool import cancel_own_runs, descendants, stop_processes

            progress.stop()
            stop_processes(lambda: descendants(os.getpid()), 3)
            canceled = cancel_own_runs(instance, os.getpid(), "interrupted (Ctrl-C or SIGTERM)")
            # Written to the stderr this command started with: during a run Dagster sends
            # file descriptors 1 and 2 to the run's log through processes stopped above.
            os.write(
                stderr,
                f"interrupted: run {', '.join(r[:8] for r in canceled) or '(none started)'} "
                "canceled; the warehouse keeps what the runs before it landed.\n".encode(),
            )
            os._exit(130)

        stderr = os.dup(2)
        previous = [""]
        try:
            summary = run(
                landing,
                warehouse,
                start=start,
                end=end,
                instance=instance,
                on_step=on_step,
                full_refresh=full_refresh,
                on_wait=lambda message: progress.console.log(f"[yellow]{message}[/yellow]"),
                on_interrupt=on_interrupt,
            )
        except RunFailed as exc:
            progress.stop()
            if "DagsterExecutionInterruptedError" in str(exc):  # Ctrl-C or SIGTERM mid-step
                err_console.print(
                    f"interrupted: {exc.job} {exc.partition or ''} stopped; the warehouse keeps "
                    "what the runs before it landed."
                )
                return 130
            err_console.print(f"[red]error:[/red] {exc}")
            if "No space left on device" in str(exc) or "Disk full" in str(exc):
                err_console.print(
                    f"The disk is full: free space where the warehouse ({warehouse.parent}) and "
                    "DuckDB's temporary files live, then run the same command again."
                )
            if exc.marts is None:
                kept = "Nothing was half-written: the failed partition kept its previous data."
            else:
                rebuilt, stale = exc.marts
                kept = (
                    "Dashboards read the serving snapshot and exports, which keep the previous "
                    "run's marts, all of them together. In the warehouse itself this run "
                    f"rebuilt {', '.join(rebuilt) or 'no mart'}"
                    + (
                        f"; {', '.join(stale)} still hold the previous run's rows."
                        if stale
                        else "."
                    )
                )
            err_console.print(
                f"{kept} Fix what the message names (a file, row and column, or a failing check) "
                "and run the same command again; every run's full log is in the Dagster UI "
                "(`make dev`)."
            )
            return 1
        finally:
            os.close(stderr)
        total = len(summary.runs)
        progress.console.log(f"[dim]{total}/{total}[/dim] {previous[0]} done")
        progress.update(task, completed=total)
    elapsed = time.monotonic() - started
    if summary.freed_runs:
        console.print(
            f"released the warehouse from {len(summary.freed_runs)} run(s) that had died "
            f"holding it: {', '.join(r[:8] for r in summary.freed_runs)}"
        )
    console.print(f"{len(summary.runs)} runs succeeded in {elapsed:.1f} s; warehouse: {warehouse}")
    # Asked after the run: sources kept in S3 are mirrored into the landing zone by it.
    missing = missing_sources(landing)
    if len(missing) == len(MISSING_SOURCE_EFFECTS):
        err_console.print(
            f"[red]error:[/red] the landing zone {landing} holds no bills, contracts, GPU "
            "telemetry or request logs: nothing was landed. Point --landing (or "
            "GPULEDGER_LANDING) at the folder your exports and collectors write to (README, "
            '"Sources"), or try `gpuledger demo`.'
        )
        return 1
    for kind in missing:
        console.print(f"[yellow]warning:[/yellow] {MISSING_SOURCE_EFFECTS[kind]}")
    return 0


def _die_with_parent() -> None:
    """In the child, before exec: SIGINT and SIGTERM do what they do by default (a shell that
    started this command in the background ignores SIGINT, and Dagster maps SIGTERM to SIGINT's
    handler), and on Linux SIGTERM comes when the process that started it dies (a `gpuledger
    dev` killed with SIGKILL leaves no dagster dev behind)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, 15)


def cmd_dev(args: argparse.Namespace) -> int:
    """`dagster dev` on 127.0.0.1, stopped whole on Ctrl-C or SIGTERM.

    dagster dev runs in a session of its own (webserver, daemon, code server and the run
    workers they start); on a signal it gets SIGINT (its clean shutdown), then whatever of the
    session is left after the grace period is killed. Runs that were executing are then marked
    failed and their claim on the warehouse released, before and after, so the next
    `gpuledger run` never waits for a run that is gone.
    """
    import signal
    import subprocess

    from pipelines.lib.manifest import prepare_manifest
    from pipelines.lib.paths import export_environment
    from pipelines.lib.pool import (
        alive,
        descendants,
        release_stale_claims,
        session_processes,
        stop_processes,
    )

    export_environment(args.landing.resolve(), args.warehouse.resolve())
    prepare_manifest()
    instance = _dagster_instance()

    def release(when: str) -> None:
        freed = release_stale_claims(instance)
        if freed:
            console.print(
                f"{when}: released the warehouse from {len(freed)} run(s) whose process is "
                f"gone: {', '.join(r[:8] for r in freed)}"
            )

    release("before starting")
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-h", args.host, "-p", str(args.port)]
    ui = subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent)
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while ui.poll() is None and not received:
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        console.print("stopping the Dagster UI (webserver, daemon, code server, runs)...")

        # The run workers the code server started live in sessions of their own.
        everything = {*session_processes(ui.pid), *descendants(ui.pid)}

        def remaining() -> list[int]:
            now = {*session_processes(ui.pid), *descendants(ui.pid)}
            return sorted(p for p in everything | now if alive(p))

        left = stop_processes(remaining, args.grace, first=signal.SIGINT)
        ui.wait(timeout=5)
        if left:
            err_console.print(f"[red]error:[/red] processes {left} would not stop")
            return 1
    release("after stopping")
    return 0 if received or ui.returncode == 0 else ui.returncode


def cmd_run(args: argparse.Namespace) -> int:
    if args.start and args.end and args.start > args.end:
        err_console.print("[red]error:[/red] --start is after --end")
        return 2
    if not args.landing.is_dir():
        err_console.print(
            f"[red]error:[/red] no landing zone at {args.landing}: point --landing (or "
            "GPULEDGER_LANDING) at the folder your exports and collectors write to "
            '(layout: README, "Landing zone"), or try `gpuledger demo`.'
        )
        return 2
    if args.allow_removal:
        from pipelines.lib.warehouse import ALLOW_REMOVAL

        os.environ[ALLOW_REMOVAL] = ",".join(args.allow_removal)
    return _run(
        args.landing.resolve(), args.warehouse.resolve(), args.start, args.end, args.full_refresh
    )


def _money(value: object) -> str:
    return "" if value is None else f"${float(value):,.2f}"  # type: ignore[arg-type]


def _narrow_table(title: str) -> Table:
    return Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")


def _column(table: Table, name: str) -> None:
    """Text left and free to fold; figures right and never wrapped or cut."""
    if name in ("workload", "bucket"):
        table.add_column(name, overflow="fold", max_width=36)
    else:
        table.add_column(name, justify="right", no_wrap=True)


def print_summary(warehouse: Path) -> None:
    from pipelines.lib.summary import UNMETERED_REASONS, query

    _, rows = query(warehouse, "summary_workloads.sql")
    # Two narrow tables rather than one wide one: each fits 80 columns with no number cut.
    prices = _narrow_table("Cost per million useful tokens, by workload")
    tokens = _narrow_table("Cost and tokens, by workload")
    for name in ("workload", "$ / M useful", "API $ / M", "GPU util.", "break-even"):
        _column(prices, name)
    for name in ("workload", "cost", "of it idle", "useful tokens", "wasted tokens"):
        _column(tokens, name)
    for row in rows:
        workload, _models, _attributed, idle, cost, useful, wasted, per_million = row[:8]
        api_per_million, utilization, break_even = row[8:11]
        prices.add_row(
            workload,
            _money(per_million) if per_million else "n/a",
            _money(api_per_million) if api_per_million is not None else "n/a",
            f"{utilization:.1%}" if utilization is not None else "",
            f"{break_even:.0%}" if break_even is not None else "n/a",
        )
        tokens.add_row(workload, _money(cost), _money(idle), f"{int(useful):,}", f"{int(wasted):,}")
    console.print(prices)
    console.print(tokens)
    for row in rows:
        workload, useful, unmetered, reasons = row[0], row[5], row[11], row[12]
        if unmetered:
            console.print(
                f"unmetered: {int(unmetered):,} of {workload}'s {int(useful):,} useful tokens ran "
                f"where no GPU cost was measured ({UNMETERED_REASONS.get(reasons, reasons)}): "
                "counted, not priced; its $ / M is over the rest."
            )
    _, waste_rows = query(warehouse, "summary_waste.sql")
    attributed, idle, unallocated, unused, total, useful, wasted = waste_rows[0]
    waste = _narrow_table("Where the GPU money went")
    _column(waste, "bucket")
    _column(waste, "cost")
    _column(waste, "share")
    for bucket, value in (
        ("attributed (busy)", attributed),
        ("idle, held by a workload", idle),
        ("unallocated", unallocated),
        ("unused commitment", unused),
        ("total GPU cost (bills + contracts)", total),
    ):
        waste.add_row(bucket, _money(value), f"{float(value) / float(total):.1%}" if total else "")
    console.print(waste)
    console.print(
        "API $ / M: the same useful tokens priced at each model's API equivalent (price book in "
        "prices/); break-even util.: the GPU utilization at which the GPUs would match that price "
        "(over 100%: not reachable)."
    )
    all_tokens = int(useful) + int(wasted)
    console.print(
        f"tokens: {int(useful):,} useful, {int(wasted):,} wasted "
        f"({int(wasted) / all_tokens:.1%} of all tokens)"
        if all_tokens
        else "tokens: none"
    )


# PATH as the user's shell handed it over: a run puts the environment's bin folder on it (for
# dbt), which the person reading the hints does not have.
_USER_PATH = os.environ.get("PATH", "")


def _command(name: str) -> str:
    """One of this environment's commands as a person can type it here: its name when PATH finds
    this very one, else its path (relative to the current folder when below it), such as
    `.venv/bin/gpuledger` after `make demo`."""
    own = Path(sys.executable).parent / name  # the venv's bin folder, symlinks kept
    found = shutil.which(name, path=_USER_PATH)
    if found and Path(found).resolve() == own.resolve():
        return name
    return _as_typed(own)


def _as_typed(path: Path) -> str:
    """A path relative to the current folder when it is below it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _is_default(args: argparse.Namespace) -> bool:
    return (
        args.landing.resolve() == paths.landing_root().resolve()
        and args.warehouse.resolve() == paths.warehouse_path().resolve()
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.lib.summary import check_against_truth
    from synth import build_fleet, write_landing_zone

    started = time.monotonic()
    landing: Path = args.landing.resolve()
    warehouse: Path = args.warehouse.resolve()
    locations = "" if _is_default(args) else f" --landing {landing} --warehouse {warehouse}"
    ours = (landing / DEMO_MARKER).exists()
    if not args.force and landing.exists() and any(landing.iterdir()) and not ours:
        err_console.print(
            f"[red]error:[/red] {landing} holds data that the demo did not write; point "
            "--landing at an empty folder (the demo replaces its own landing zone), or pass "
            "--force to replace it."
        )
        return 2
    if not args.force and warehouse.exists() and not ours:
        err_console.print(
            f"[red]error:[/red] {warehouse} was not written by the demo; point --warehouse at "
            "another file (the demo replaces its own warehouse), or pass --force to replace it."
        )
        return 2
    shutil.rmtree(landing, ignore_errors=True)
    warehouse.unlink(missing_ok=True)
    shutil.rmtree(paths.raw_root(warehouse), ignore_errors=True)
    fleet = build_fleet(gpus=args.gpus, days=args.days, seed=args.seed)
    write_landing_zone(fleet, landing)
    (landing / DEMO_MARKER).write_text("written by `gpuledger demo`; replaced on the next demo\n")
    console.print(
        f"demo fleet: {fleet.gpu_count} GPUs on {len(fleet.hosts)} hosts, {fleet.days} "
        f"days from {fleet.start}, {len(fleet.all_requests):,} requests -> {landing}"
    )
    code = _run(landing, warehouse, None, None)
    if code:
        return code
    print_summary(warehouse)
    check = check_against_truth(warehouse, landing / "truth.json")
    verdict = "[green]matches[/green]" if check.ok else "[red]DOES NOT match[/red]"
    console.print(
        f"checked against the generator's truth.json: {verdict} ({check.workload_days} "
        f"workload-days, largest cost difference ${check.max_cost_difference_usd:.6f}, "
        f"largest API-equivalent difference ${check.max_api_cost_difference_usd:.6f}, "
        f"{check.token_mismatches} token mismatches)"
    )
    snapshot = _as_typed(warehouse.parent / "serving" / warehouse.name)
    example = '"select * from marts.fct_workload_unit_cost_daily"'
    console.print(
        f"done in {time.monotonic() - started:.1f} s. Next:\n"
        "  make dev    (the Dagster UI on http://127.0.0.1:3000)\n"
        f"  {_command('gpuledger')} report{locations}    (the charts)\n"
        f"  {_command('duckdb')} -readonly {snapshot} {example}    (the BI snapshot)"
    )
    return 0 if check.ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    from report import write_report

    # The serving snapshot when there is one: never hold the pipeline's own file open.
    snapshot = args.warehouse.parent / "serving" / "gpuledger.duckdb"
    source = snapshot if snapshot.is_file() else args.warehouse
    if not source.is_file():
        err_console.print(
            f"[red]no warehouse at {source}[/red]: run `gpuledger demo` or `gpuledger run` first"
        )
        return 1
    out = args.out or args.warehouse.parent / "reports" / "gpuledger-report.html"
    write_report(source, out)
    console.print(f"report written to {out} (from {source})")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from collectors.daemon import run_from_args

    return run_from_args(args)


def cmd_import_aws(args: argparse.Namespace) -> int:
    """Write the account's Savings Plans, RIs and Capacity Reservations as commitments YAML."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from pipelines.defs.sources.contracts.aws_import import import_aws, to_yaml

    try:
        contracts = import_aws(boto3.session.Session())
    except (BotoCoreError, ClientError, ValueError) as exc:
        console.print(
            f"[red]error:[/red] AWS import failed: {exc}. Check the AWS credentials and region "
            "(standard chain: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL)."
        )
        return 1
    out = args.out or args.landing / "contracts" / "aws.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    temporary.write_text(to_yaml(contracts), encoding="utf-8")
    temporary.replace(out)
    blocks = sum(1 for c in contracts if c["kind"] == "capacity_block")
    console.print(f"{len(contracts)} AWS commitments -> {out}")
    if blocks:
        console.print(
            f"{blocks} Capacity Block(s) need upfront_usd (the price paid) filled in before the "
            "next run: the EC2 API does not return it."
        )
    return 0


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a day (YYYY-MM-DD)") from exc


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from exc
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.run import main as run_bench

    requests = args.requests_per_day or 1000 * args.gpus
    result = run_bench(
        args.gpus,
        args.days,
        requests,
        args.history_days,
        args.out,
        args.work,
        say=lambda text: console.log(text),
        history_gpus=args.history_gpus,
    )
    console.print(args.out.with_suffix(".md").read_text())
    console.print(f"wrote {args.out} (p1_ratio {result['p1_ratio']})")
    return 0


class _Parser(argparse.ArgumentParser):
    """No abbreviated options: `demo --gpu 4` is an error, never taken as `--gpus 4`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gpuledger",
        description="What GPUs really cost per useful token.",
        epilog="Exit codes: 0 success, 1 a run or check failed, 2 usage error.",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print the whole stack trace of a failure (the Dagster UI always keeps it)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def locations(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--landing",
            type=Path,
            default=paths.landing_root(),
            help="landing zone folder (default: $GPULEDGER_LANDING or warehouse/landing)",
        )
        p.add_argument(
            "--warehouse",
            type=Path,
            default=paths.warehouse_path(),
            help="DuckDB file (default: $GPULEDGER_WAREHOUSE or warehouse/gpuledger.duckdb)",
        )

    demo = sub.add_parser("demo", help="generate a demo fleet, run every asset, print the results")
    locations(demo)
    demo.add_argument("--gpus", type=int, default=18, help="GPUs in the demo fleet (default 18)")
    demo.add_argument("--days", type=int, default=3, help="days of history (default 3)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--force",
        action="store_true",
        help="replace a landing zone or warehouse the demo did not write",
    )
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="materialize the asset graph for the landed partitions")
    locations(run)
    run.add_argument("--start", type=_day, help="first day (YYYY-MM-DD) to land")
    run.add_argument("--end", type=_day, help="last day (YYYY-MM-DD) to land")
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental models whole instead of only the days that changed",
    )
    run.add_argument(
        "--allow-removal",
        action="append",
        metavar="SOURCE",
        default=[],
        help=(
            "let a source the warehouse holds data of land empty (its files were removed on "
            "purpose): nvml, dcgm_samples, inference_requests, inference_metric_samples, "
            "focus_charges, gcp_billing_export, contracts, aws_cur (go back to an older CUR "
            "delivery), or all; repeatable"
        ),
    )
    run.set_defaults(func=cmd_run)

    dev = sub.add_parser(
        "dev", help="the Dagster UI (dagster dev) on 127.0.0.1, stopped whole on Ctrl-C or SIGTERM"
    )
    locations(dev)
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    dev.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds a stop waits for a clean shutdown before it kills what is left (default 10)",
    )
    dev.set_defaults(func=cmd_dev)

    gen = sub.add_parser(
        "generate", help="write a synthetic fleet in the real formats + truth.json"
    )
    gen.add_argument("--gpus", type=int, default=18)
    gen.add_argument("--days", type=int, default=3)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--start", type=_day, default=None, help="first day (default 2026-10-30)")
    gen.add_argument("--out", type=Path, required=True, help="landing zone folder to write")
    gen.set_defaults(func=cmd_generate)

    report = sub.add_parser(
        "report",
        help="write one self-contained HTML report with charts (no network needed to view it)",
    )
    locations(report)
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        help="HTML file (default: <warehouse folder>/reports/gpuledger-report.html)",
    )
    report.set_defaults(func=cmd_report)

    collect = sub.add_parser(
        "collect",
        help="sample this host's GPUs through NVML into spool files (docs/collector.md)",
        epilog="Exit codes: 0 stopped (signal or --duration), 2 usage error, 3 no NVML.",
    )
    from collectors.daemon import add_arguments as collector_arguments

    collector_arguments(collect)
    collect.set_defaults(func=cmd_collect)

    bench = sub.add_parser(
        "bench",
        help="run the real pipeline on a generated fleet and measure it against the floor of "
        "reading its inputs (JSON + a markdown table)",
    )
    bench.add_argument("--gpus", type=_positive, default=1000, help="GPUs (default 1000)")
    bench.add_argument("--days", type=_positive, default=30, help="days (default 30)")
    bench.add_argument(
        "--requests-per-day",
        type=_positive,
        default=None,
        help="requests a day across the fleet (default 1,000 per GPU)",
    )
    bench.add_argument(
        "--history-days",
        type=_positive,
        default=None,
        help="also time the daily run over 30 days and over this many days of history (P2)",
    )
    bench.add_argument(
        "--history-gpus",
        type=_positive,
        default=None,
        help="fleet size of the history runs (default: --gpus)",
    )
    bench.add_argument("--out", type=Path, required=True, help="results JSON (and .md beside it)")
    bench.add_argument(
        "--work", type=Path, default=None, help="scratch folder (default: a temporary one)"
    )
    bench.set_defaults(func=cmd_bench)

    contracts = sub.add_parser("contracts", help="manage contracts/*.yaml")
    contracts_sub = contracts.add_subparsers(
        dest="contracts_command", required=True, parser_class=_Parser
    )
    import_aws = contracts_sub.add_parser(
        "import-aws",
        help="write the AWS account's Savings Plans, Reserved Instances and Capacity "
        "Reservations as contracts YAML (credentials from the standard AWS chain)",
    )
    locations(import_aws)
    import_aws.add_argument(
        "--out", type=Path, default=None, help="YAML file (default: <landing>/contracts/aws.yaml)"
    )
    import_aws.set_defaults(func=cmd_import_aws)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        from pipelines.defs.console import VERBOSE

        os.environ[VERBOSE] = "1"
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
