from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from pipelines.defs.transform.project import dbt_project
from pipelines.lib.dbt import PIPELINE_EXCLUDES, GpuledgerTranslator, log_file_args
from pipelines.lib.paths import export_raw_root, warehouse_path

FULL_REFRESH_TAG = "gpuledger/full_refresh"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=GpuledgerTranslator(),
    pool="duckdb",
)
def gpuledger_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """dbt build, less dbt's unit tests (checks of the models' code, which CI runs). The
    per-window telemetry and the cost facts are incremental by day; a run tagged
    gpuledger/full_refresh=true (`gpuledger run --full-refresh`, or the tag on a run launched
    from the UI) rebuilds them whole."""
    args = ["build", *PIPELINE_EXCLUDES, *log_file_args()]
    if context.run.tags.get(FULL_REFRESH_TAG) == "true":
        args.append("--full-refresh")
    # One target folder per warehouse, beside it (dagster-dbt's default is a new folder per run
    # under dbt_project/target: 5 MB a run, never removed). dbt keeps its partial-parse state
    # there, valid for this warehouse's profile, so a run after the first skips the full parse.
    target = warehouse_path().parent / "dbt-target"
    export_raw_root()  # where the sources' files are, beside the warehouse
    yield from dbt.cli(args, context=context, target_path=target).stream()
