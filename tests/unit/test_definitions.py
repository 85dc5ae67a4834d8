from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pipelines.cli import build_parser
from pipelines.lib.manifest import prepare_manifest
from tests.conftest import REPO, SAMPLES


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    prepare_manifest()
    from pipelines.definitions import defs

    return defs()


def test_every_dbt_source_is_a_python_raw_asset(definitions: dg.Definitions) -> None:
    manifest = json.loads((REPO / "dbt_project" / "target" / "manifest.json").read_text())
    sources = {dg.AssetKey([s["source_name"], s["name"]]) for s in manifest["sources"].values()}
    graph = definitions.resolve_asset_graph()
    materializable = {key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    assert sources
    assert sources <= materializable


def test_marts_are_downstream_of_all_three_raw_sources(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    fact = dg.AssetKey(["marts", "fct_workload_unit_cost_daily"])
    upstream = graph.get_ancestor_asset_keys(fact)
    for raw in (
        "aws_cur_line_items",
        "nvml_gpu_windows",
        "nvml_process_windows",
        "inference_requests",
    ):
        assert dg.AssetKey(["raw", raw]) in upstream


def test_a_backfill_of_daily_assets_is_one_run_over_the_range(
    definitions: dg.Definitions,
) -> None:
    graph = definitions.resolve_asset_graph()
    daily = [
        key
        for key in graph.get_all_asset_keys()
        if isinstance(graph.get(key).partitions_def, dg.DailyPartitionsDefinition)
    ]
    # The landings: NVML GPU and process windows, dcgm, token counters, requests; and the models
    # built a day at a time (dbt's microbatch).
    assert sorted(key.path[-1] for key in daily if key.path[0] == "raw") == [
        "dcgm_samples",
        "inference_metric_samples",
        "inference_requests",
        "nvml_gpu_windows",
        "nvml_process_windows",
    ]
    models = sorted(key.path[-1] for key in daily if key.path[0] != "raw")
    assert len(models) == 13
    assert {"fct_cost_per_useful_token", "int_gpu_hours", "int_request_exceptions"} <= set(models)
    # The build of days also builds the views they read and the tables built whole after them
    # (contracts, commitments, dimensions): unpartitioned assets of the same dbt asset, one
    # materialization a run.
    build = definitions.resolve_job_def("build_daily").asset_layer.executable_asset_keys
    whole = sorted(
        key.path[-1]
        for key in build
        if key.path[0] in ("staging", "intermediate", "marts")
        and graph.get(key).partitions_def is None
    )
    assert len(whole) == 28
    assert {"dim_commitment", "int_contract_hours", "int_gpu_billing_lines"} <= set(whole)
    assert {"stg_nvml__gpu_windows", "fct_commitment_utilization_daily"} <= set(whole)
    for key in daily:
        policy = graph.get(key).backfill_policy
        assert policy is not None and policy.max_partitions_per_run is None, key


def test_billing_periods_are_landed_and_built_in_one_run(
    definitions: dg.Definitions,
) -> None:
    """billing_monthly lands a period's bills, or a range of periods', and builds their bill
    lines (dbt's microbatch by month) in one run; the FOCUS validator reads every period, once
    per build of days."""
    graph = definitions.resolve_asset_graph()
    job = definitions.resolve_job_def("billing_monthly")
    keys = job.asset_layer.executable_asset_keys
    assert {key.path[-1] for key in keys if key.path[0] not in ("raw", "reference")} == {
        "stg_aws_cur__line_items",
        "stg_focus__charges",
        "stg_gcp_billing__credits",
        "stg_gcp_billing__export_rows",
        "int_billing_lines_amortized",
        "int_gcp_billing_rows_amortized",
        "int_billing_focus_from_aws_cur",
        "int_billing_focus_from_focus_exports",
        "int_billing_focus_from_gcp_billing",
        "int_gpu_billing_lines_billed",
        "billing_focus",
    }
    for key in keys:
        assert graph.get(key).partitions_def == job.partitions_def, key
        policy = graph.get(key).backfill_policy
        assert policy is not None and policy.max_partitions_per_run is None, key
    validator = "marts__billing_focus_billing_focus_passes_focus_validator"
    assert validator not in job.graph.node_names()
    assert validator in definitions.resolve_job_def("build_daily").graph.node_names()


def test_a_run_of_days_builds_them_and_the_day_on_either_side() -> None:
    from pipelines.defs.transform.assets import YEAR_BATCH_ROWS, Batches, batches

    def window(first: int, last: int) -> dg.TimeWindow:
        start = datetime(2026, 11, first, tzinfo=UTC)
        return dg.TimeWindow(start, datetime(2026, 11, last, tzinfo=UTC) + timedelta(days=1))

    def rows(counts: dict[int, int]) -> Callable[[date, date], int]:
        """Rows landed per year (absent: none), as the warehouse would count them."""
        return lambda first, end: sum(n for y, n in counts.items() if first.year <= y < end.year)

    none = rows({})
    # One day: three batches of a day.
    assert batches(window(1, 1), none) == Batches("2026-10-31", "2026-11-03", "day")
    assert batches(window(1, 3), none) == Batches("2026-10-31", "2026-11-05", "day")
    # Seven days are still built a day per batch; eight (a backfill, a first build) a year per
    # batch where the years they span hold few rows, else a month per batch.
    assert batches(window(2, 8), none) == Batches("2026-11-01", "2026-11-10", "day")
    assert batches(window(2, 9), none) == Batches("2026-11-01", "2026-11-11", "year")
    at_most = rows({2025: 1, 2026: YEAR_BATCH_ROWS})
    assert batches(window(2, 9), at_most).size == "year"  # 2025 is not in the batch's year
    assert batches(window(2, 9), rows({2026: YEAR_BATCH_ROWS + 1})).size == "month"
    # The day before counts: a run from January 1 builds the year before it too.
    january = dg.TimeWindow(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 20, tzinfo=UTC))
    assert batches(january, at_most) == Batches("2025-12-31", "2026-01-21", "month")
    years = dg.TimeWindow(datetime(2018, 8, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert batches(years, rows({2020: YEAR_BATCH_ROWS})) == Batches(
        "2018-07-31", "2026-12-02", "year"
    )


def test_a_build_of_days_gives_dbt_its_window_and_leaves_the_environment_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build's batch size and days reach dbt's process through its environment, which
    dagster-dbt copies when it starts dbt; the environment is the same as before afterwards,
    for the next run in the same process."""
    from pipelines.defs.transform.assets import BATCH_SIZE_ENV, RUN_DAYS_ENV, _environment

    monkeypatch.setenv(BATCH_SIZE_ENV, "month")
    monkeypatch.delenv(RUN_DAYS_ENV[0], raising=False)
    with _environment({BATCH_SIZE_ENV: "day", RUN_DAYS_ENV[0]: "2026-11-01"}):
        assert (os.environ[BATCH_SIZE_ENV], os.environ[RUN_DAYS_ENV[0]]) == ("day", "2026-11-01")
    assert os.environ[BATCH_SIZE_ENV] == "month"
    assert RUN_DAYS_ENV[0] not in os.environ
    with pytest.raises(RuntimeError), _environment({RUN_DAYS_ENV[0]: "2026-11-01"}):
        raise RuntimeError("dbt could not start")
    assert RUN_DAYS_ENV[0] not in os.environ


def test_a_new_dbt_target_folder_starts_from_the_warehouses_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.defs.transform.assets import MONTHLY_TARGET, PARTIAL_PARSE, TARGET, _target

    monkeypatch.setenv("GPULEDGER_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("GPULEDGER_RAW", "")
    # A new warehouse: nothing parsed yet, the folder is dbt's to make.
    assert _target(MONTHLY_TARGET) == tmp_path / MONTHLY_TARGET
    assert not (tmp_path / MONTHLY_TARGET).exists()
    (tmp_path / MONTHLY_TARGET).mkdir()
    (tmp_path / MONTHLY_TARGET / PARTIAL_PARSE).write_bytes(b"monthly parse")
    # The other build's folder starts from it, and keeps its own from then on.
    assert _target(TARGET) == tmp_path / TARGET
    assert (tmp_path / TARGET / PARTIAL_PARSE).read_bytes() == b"monthly parse"
    (tmp_path / TARGET / PARTIAL_PARSE).write_bytes(b"own parse")
    _target(TARGET)
    assert (tmp_path / TARGET / PARTIAL_PARSE).read_bytes() == b"own parse"


def test_daily_schedules_target_yesterday_and_its_billing_month(
    definitions: dg.Definitions,
) -> None:
    when = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=when)
    ingest = definitions.get_schedule_def("daily_ingest")
    billing = definitions.get_schedule_def("daily_billing")
    assert ingest.cron_schedule == "0 6 * * *"
    assert ingest.execution_timezone == "UTC"
    ingest_request = ingest(context)
    billing_request = billing(context)
    assert isinstance(ingest_request, dg.RunRequest)
    assert isinstance(billing_request, dg.RunRequest)
    assert ingest_request.partition_key == "2026-10-31"
    assert billing_request.partition_key == "2026-10-01"


def test_collectors_import_without_dagster_or_dbt() -> None:
    code = (
        "import sys\n"
        "for name in ('dagster', 'dagster_dbt', 'dbt', 'duckdb', 'pipelines'):\n"
        "    sys.modules[name] = None\n"
        "import collectors.spool, collectors.daemon, collectors.nvml, collectors.window\n"
        "import collectors.writer, collectors.labels, collectors.ship, collectors.scrape\n"
        "import collectors.fake_nvml\n"
        "print(collectors.spool.SCHEMA_VERSION)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "2"


@pytest.mark.parametrize("command", ["demo", "run", "generate", "collect"])
def test_every_cli_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: gpuledger" in capsys.readouterr().out


def test_gpu_reference_agrees_with_the_aws_price_list_samples() -> None:
    seed = {
        line.split(",")[0]: int(line.split(",")[2])
        for line in (REPO / "dbt_project" / "seeds" / "aws_gpu_instance_types.csv")
        .read_text()
        .splitlines()[1:]
    }
    checked = 0
    for sample in sorted((SAMPLES / "aws-pricing").glob("*.json")):
        for product in json.loads(sample.read_text())["products"].values():
            attributes = product.get("attributes", {})
            gpus = int(attributes.get("gpu", "0") or 0)
            if gpus:
                assert seed[attributes["instanceType"]] == gpus
                checked += 1
    assert checked >= 3  # p4d.24xlarge (On-Demand and Capacity Block) and p3.8xlarge


def test_cli_rejects_a_start_after_the_end(tmp_path: Path) -> None:
    from pipelines.cli import main

    code = main(
        [
            "run",
            "--landing",
            str(tmp_path),
            "--warehouse",
            str(tmp_path / "w.duckdb"),
            "--start",
            "2026-11-02",
            "--end",
            "2026-11-01",
        ]
    )
    assert code == 2


def test_cli_names_a_missing_landing_zone_and_a_warehouse_held_by_another_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    warehouse = tmp_path / "w.duckdb"
    code = main(["run", "--landing", str(tmp_path / "nowhere"), "--warehouse", str(warehouse)])
    assert code == 2
    assert f"no landing zone at {tmp_path / 'nowhere'}" in " ".join(capsys.readouterr().err.split())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True);"
            " time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        code = main(["run", "--landing", str(tmp_path), "--warehouse", str(warehouse)])
        err = " ".join(capsys.readouterr().err.split())
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    assert "is open for writing in another process" in err
    assert f"(PID {holder.pid})" in err
    assert "serving/gpuledger.duckdb" in err


def test_the_dbt_resource_asks_no_version_and_loads_no_adapter_before_each_command(
    definitions: dg.Definitions,
) -> None:
    """`dbt --version` and an in-process adapter cost 4-5 s of every run's transform step."""
    from importlib.metadata import version

    from dagster_dbt.core import resource
    from packaging.version import parse

    from pipelines.lib.dbt import GpuledgerDbtCliResource

    dbt = definitions.resources["dbt"]
    assert isinstance(dbt, GpuledgerDbtCliResource)
    calls: list[list[str]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resource, "check_output", lambda args, **_: calls.append(args) or b"")
        assert dbt._cli_version == parse(version("dbt-core"))
        assert dbt._initialize_dbt_core_adapter(["build"]) is None
    assert calls == []


def test_dbt_writes_its_log_file_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.lib.dbt import log_file_args

    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    assert log_file_args() == ("--log-level-file", "none")
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")  # dbt reads it; no flag overrides it
    assert log_file_args() == ()


def test_a_project_dbt_cannot_parse_fails_with_what_dbt_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.lib import manifest

    dbt = tmp_path / "dbt"
    dbt.write_text(
        "#!/bin/sh\necho 'Compilation Error in model int_gpu_hours (models/x.sql)'\nexit 2\n"
    )
    dbt.chmod(0o755)
    monkeypatch.setattr(manifest, "dbt_executable", lambda: str(dbt))
    with pytest.raises(manifest.ManifestError, match=r"(?s)exit 2\).*Compilation Error in model"):
        manifest.prepare_manifest(force=True)


def test_options_are_never_abbreviated(capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main

    for argv in (["demo", "--gpu", "4"], ["contracts", "import-aws", "--ou", "x"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert f"unrecognized arguments: {' '.join(argv[-2:])}" in capsys.readouterr().err


def test_the_next_step_hints_name_commands_that_run_as_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After `make demo` the environment's bin folder is not on PATH: the hint names its path."""
    from pipelines import cli
    from pipelines.cli import _command

    monkeypatch.chdir(REPO)
    # A run puts the environment's bin folder on this process' PATH (for dbt): the hints look
    # at the PATH the user's shell handed over.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setattr(cli, "_USER_PATH", "/usr/bin:/bin")
    for name in ("gpuledger", "duckdb"):
        printed = _command(name)
        assert printed == str((Path(sys.executable).parent / name).absolute().relative_to(REPO))
        assert subprocess.run([printed, "--help"], capture_output=True, check=False).returncode == 0
    monkeypatch.setattr(cli, "_USER_PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert _command("gpuledger") == "gpuledger"


def test_the_demo_replaces_nothing_it_did_not_write_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    warehouse = tmp_path / "mine.duckdb"
    warehouse.write_bytes(b"not the demo's")
    args = ["demo", "--landing", str(tmp_path / "landing"), "--warehouse", str(warehouse)]
    assert main(args) == 2
    assert f"{warehouse} was not written by the demo" in " ".join(capsys.readouterr().err.split())
    assert warehouse.read_bytes() == b"not the demo's"
    landing = tmp_path / "theirs"
    (landing / "aws_cur").mkdir(parents=True)
    assert main(["demo", "--landing", str(landing), "--warehouse", str(tmp_path / "w")]) == 2
    assert "holds data that the demo did not write" in " ".join(capsys.readouterr().err.split())
    assert (landing / "aws_cur").is_dir()


def test_runs_launched_from_the_ui_execute_their_steps_in_one_process(
    definitions: dg.Definitions,
) -> None:
    """Every step writes the one DuckDB file in turn: a process per step would only add its
    start-up to each step of a run the UI launches."""
    for name in ("billing_monthly", "ingest_daily", "ingest_reference", "build_daily", "publish"):
        job = definitions.resolve_job_def(name)
        assert job.executor_def.name == dg.in_process_executor.name, name


def test_every_model_and_test_runs_in_one_build() -> None:
    """Every model is built by billing period (dbt tag `monthly`: the bill lines, built first)
    or by the build of days (tag `daily`), which runs every test that reads any of its models,
    the tests that read bill lines too."""
    import json

    from pipelines.defs.transform.assets import DAILY_MODELS, MONTHLY_MODELS
    from pipelines.defs.transform.project import dbt_project

    assert (DAILY_MODELS, MONTHLY_MODELS) == ("tag:daily", "tag:monthly")
    manifest = json.loads(dbt_project.manifest_path.read_text())
    models = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    daily = {unique_id for unique_id, node in models.items() if "daily" in node["tags"]}
    monthly_models = {unique_id for unique_id, node in models.items() if "monthly" in node["tags"]}
    assert (len(daily), len(monthly_models)) == (41, 11)
    assert daily | monthly_models == set(models) and not daily & monthly_models
    # Each test runs in one build: with the bill lines (cautious indirect selection: every
    # model it reads is one of theirs) or in the build of days (eager: it reads one of those).
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    by_build = {"monthly": 0, "daily": 0}
    for test in tests:
        read = {p for p in test["depends_on"]["nodes"] if not p.startswith("source.")}
        in_monthly = all("monthly" in manifest["nodes"][p]["tags"] for p in read)
        in_daily = bool(read & daily)
        assert in_monthly != in_daily, test["name"]
        by_build["monthly" if in_monthly else "daily"] += 1
    assert by_build == {"monthly": 17, "daily": 42}
    facts = {node["name"] for node in models.values() if node["name"].startswith("fct_")}
    assert facts <= {models[unique_id]["name"] for unique_id in daily}
    # The bill-line models, built by billing period before the others, read only each other,
    # the seeds and the landed bills (their build is the first of a run).
    nodes = {**manifest["nodes"], **manifest["sources"]}
    monthly = {unique_id for unique_id, node in nodes.items() if "monthly" in node.get("tags", [])}
    assert {nodes[m]["name"] for m in monthly if nodes[m]["resource_type"] == "seed"} == {
        "aws_gpu_instance_types",
        "focus_gpu_skus",
        "focus_service_categories",
    }
    reads_others = {
        nodes[m]["name"]: sorted(
            nodes[parent]["name"]
            for parent in nodes[m]["depends_on"]["nodes"]
            if parent not in monthly and nodes[parent]["resource_type"] != "source"
        )
        for m in monthly
        if nodes[m]["resource_type"] == "model"
    }
    assert len(reads_others) == 11
    assert {name: parents for name, parents in reads_others.items() if parents} == {}
    facts = {node["name"] for node in models.values() if node["name"].startswith("fct_")}
    assert facts <= {models[unique_id]["name"] for unique_id in daily}
