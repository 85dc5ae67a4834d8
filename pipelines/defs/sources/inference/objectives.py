"""Service-level objectives per workload: which useful tokens were also served in time.

``inference/objectives.yml`` (optional)::

    workloads:
      chat-assistant:
        time_to_first_token_ms: 500     # the first token within half a second
        time_per_output_token_ms: 60    # then at least ~17 tokens a second
      batch-summaries:
        duration_ms: 600000             # done within ten minutes

Each objective is a positive number of milliseconds; a workload may set any of the three. A
useful request meets its workload's objectives when every objective set is met; its tokens are
then goodput (the facts' ``goodput_tokens``). Where a request's latency is not known, or its
workload has no objective, its goodput is unknown (null), never assumed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from pipelines.lib.errors import LandingError
from pipelines.lib.yaml_files import load_yaml

FILE = "inference/objectives.yml"
OBJECTIVES = ("time_to_first_token_ms", "time_per_output_token_ms", "duration_ms")
COLUMNS: dict[str, pa.DataType] = {
    "workload": pa.string(),
    **{name: pa.float64() for name in OBJECTIVES},
    "source_file": pa.string(),
}
SCHEMA = pa.schema(list(COLUMNS.items()))


def read_objectives(landing: Path) -> pa.Table:
    """The objectives file's rows (none without the file); LandingError names what is wrong."""
    path = landing / FILE
    if not path.is_file():
        return SCHEMA.empty_table()
    loaded = load_yaml(path) or {}
    _refuse_repeated_workloads(path)
    workloads = loaded.get("workloads") if isinstance(loaded, dict) else None
    if (
        not isinstance(loaded, dict)
        or set(loaded) - {"workloads"}
        or not isinstance(workloads, dict)
    ):
        raise LandingError(
            path, "is not a mapping of workloads", expected="workloads: {name: {...}}"
        )
    rows: list[dict[str, Any]] = []
    for workload, objectives in workloads.items():
        if not isinstance(workload, str) or not workload:
            raise LandingError(path, f"workload {workload!r} is not a name")
        if not isinstance(objectives, dict) or not objectives or set(objectives) - set(OBJECTIVES):
            raise LandingError(
                path, f"workload {workload!r}: objectives", expected=", ".join(OBJECTIVES)
            )
        for name, value in objectives.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise LandingError(
                    path,
                    f"workload {workload!r}: {name} is {value!r}",
                    column=name,
                    expected="a positive number of milliseconds",
                )
        rows.append(
            {
                "workload": workload,
                **{n: objectives.get(n) for n in OBJECTIVES},
                "source_file": FILE,
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _refuse_repeated_workloads(path: Path) -> None:
    """A workload named twice would keep its last objectives silently (YAML mappings do)."""
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return
    for key, value in root.value:
        if key.value == "workloads" and isinstance(value, yaml.MappingNode):
            names = [k.value for k, _ in value.value]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise LandingError(path, f"workload {repeated[0]!r} is named twice")
