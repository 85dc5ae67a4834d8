"""How dbt nodes appear in Dagster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings


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
