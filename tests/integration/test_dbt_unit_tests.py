"""dbt's unit tests (hand-computed rows through the allocation and classification models).

The pipeline's `dbt build` leaves them out (pipelines/lib/dbt.py: they check the models' code,
not the data); CI runs every one of them here, against a built warehouse, as dbt advises.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pipelines.lib.paths import DBT_PROJECT_DIR, dbt_executable
from tests.conftest import REPO, Pipeline

pytestmark = pytest.mark.integration


def test_every_dbt_unit_test_passes_and_the_pipeline_build_leaves_them_out(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    manifest = json.loads((REPO / "dbt_project" / "target" / "manifest.json").read_text())
    declared = set(manifest["unit_tests"])
    assert len(declared) == 12

    kinds = {
        result["unique_id"].split(".")[0]
        for target in ("dbt-target-monthly", "dbt-target")
        for result in json.loads(
            (demo_pipeline.warehouse.parent / target / "run_results.json").read_text()
        )["results"]
    }
    assert kinds == {"model", "seed", "test"}  # the pipeline's builds: no unit_test

    pipeline = demo_pipeline.copy_to(tmp_path)  # dbt opens the warehouse to write
    target = tmp_path / "target"
    result = subprocess.run(
        [dbt_executable(), "test", "--select", "test_type:unit", "--target-path", str(target)],
        cwd=DBT_PROJECT_DIR,
        env={
            **os.environ,
            "GPULEDGER_WAREHOUSE": str(pipeline.warehouse),
            "GPULEDGER_LANDING": str(pipeline.landing),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert {r["unique_id"]: r["status"] for r in results} == dict.fromkeys(declared, "pass")
