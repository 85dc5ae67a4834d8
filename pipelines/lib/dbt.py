"""How dbt nodes appear in Dagster, and how Dagster calls dbt."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource
from packaging import version

# dbt build's steps that are checks of the models' code, not of the data: CI runs them
# (tests/integration/test_dbt_unit_tests.py), as dbt advises, and the daily runs leave them out.
PIPELINE_EXCLUDES = ("--exclude-resource-type", "unit_test")


def log_file_args() -> tuple[str, ...]:
    """dbt's own log file (``<target>/dbt.log``), off unless asked for.

    By default dbt writes every event at debug level there, each SQL statement included, which
    took about 1.8 s of a 15 s `dbt build` of the demo on 2 cores. What the pipeline's build
    reports is kept anyway: its info-level events go to the run's log (Dagster's compute log, or
    `<warehouse dir>/logs/dbt.log` for `gpuledger run`). Set ``DBT_LOG_LEVEL_FILE`` (``debug``,
    say), which dbt reads, to have the file again."""
    return () if os.environ.get("DBT_LOG_LEVEL_FILE") else ("--log-level-file", "none")


class GpuledgerDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, less two things it does before every dbt command that nothing here
    uses, 4-5 s of each run's transform step on a 2-core machine:

    - it runs `dbt --version` to learn the version of the dbt it calls (once per run: the resource
      is made anew for each run). The dbt beside this interpreter is the dbt-core package this
      interpreter has, whose version is known without a process;
    - it loads dbt's macros in this process to get an adapter, used only by
      `fetch_row_counts()` and `fetch_column_metadata()`, which this project does not call.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return version.parse(package_version("dbt-core"))
        return super()._cli_version  # another dbt on PATH: ask it

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None


class GpuledgerTranslator(DagsterDbtTranslator):
    """Sources keep dbt's default key (["raw", <table>]), which the Python raw assets share.

    Models are grouped by their layer (staging, intermediate, marts); seeds are "reference".
    """

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_code_references=False))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 1:
            return str(fqn[1])
        return "reference"
