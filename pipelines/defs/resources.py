from __future__ import annotations

import dagster as dg

from pipelines.defs.transform.project import dbt_project
from pipelines.lib.dbt import GpuledgerDbtCliResource
from pipelines.lib.paths import dbt_executable, export_environment
from pipelines.lib.resources import WarehouseResource


@dg.definitions
def resources() -> dg.Definitions:
    export_environment()
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource.from_environment(),
            "dbt": GpuledgerDbtCliResource(
                project_dir=str(dbt_project.project_dir),
                profiles_dir=str(dbt_project.profiles_dir),
                dbt_executable=dbt_executable(),
            ),
        }
    )
