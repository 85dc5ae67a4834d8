from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.defs.transform.project import dbt_project
from pipelines.lib.paths import dbt_executable, export_environment
from pipelines.lib.resources import WarehouseResource


@dg.definitions
def resources() -> dg.Definitions:
    export_environment()
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource.from_environment(),
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        }
    )
