"""The dbt project, in its own module: the CLI prepares its manifest before loading definitions."""

from __future__ import annotations

from dagster_dbt import DbtProject

from pipelines.lib.paths import DBT_PROJECT_DIR, put_interpreter_bin_on_path

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# `dagster dev` parses the project when the manifest is stale; elsewhere it is a no-op and
# `gpuledger` / the tests prepare it explicitly (pipelines.lib.manifest).
put_interpreter_bin_on_path()
dbt_project.prepare_if_dev()
