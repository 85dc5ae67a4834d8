"""`dagster dev` (what `make dev` runs) starts from the repo root, serves the asset graph and its
checks on 127.0.0.1 only, and stops with its whole process group."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pipelines.lib.manifest import prepare_manifest
from tests.conftest import REPO

pytestmark = pytest.mark.integration

QUERY = (
    "{ assetNodes { assetKey { path } description "
    "metadataEntries { label ... on TableSchemaMetadataEntry { schema { columns { name "
    "description } } } } assetChecksOrError { __typename "
    "... on AssetChecks { checks { name description } } } } "
    "workspaceOrError { ... on Workspace { locationEntries { name } } } }"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _graphql(port: int, deadline: float) -> dict[str, Any]:
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/graphql",
                data=json.dumps({"query": QUERY}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                body = json.loads(response.read())
            if body.get("data", {}).get("assetNodes"):
                return body
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"dagster dev did not serve the asset graph in time: {body}")


def _asset_graph_renders_in_chromium(port: int, location: str, tmp_path: Path) -> None:
    """The UI's asset graph, drawn by a real browser: the global lineage (every group) and the
    marts group (its assets and their checks) are in the rendered DOM, and the screenshots are
    not blank. GPULEDGER_SCREENSHOTS=<dir> keeps the PNGs."""
    from PIL import Image

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return  # the GraphQL assertions above still ran; .ci/run installs chromium
    # The UI is a JS app: virtual time lets it fetch the graph and lay it out before the dump.
    base = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=25000",
        "--window-size=1600,1000",
    ]
    pages = {
        "asset-graph.png": (
            "/asset-groups",
            ["Global asset lineage", "aws_cur", "telemetry", "marts", "serving", "staging"],
        ),
        # The graph draws only the nodes inside the window: which marts those are depends on
        # the layout, so the page is checked for one that sits first in it.
        "asset-graph-marts.png": (
            f"/locations/{location}/asset-groups/marts",
            ["fct_gpu_utilization_hourly", "Asset checks"],
        ),
    }
    keep = os.environ.get("GPULEDGER_SCREENSHOTS")
    for name, (path, expected) in pages.items():
        url = f"http://127.0.0.1:{port}{path}"
        dom = subprocess.run(
            [*base, "--dump-dom", url], capture_output=True, text=True, timeout=180
        ).stdout
        for text in expected:
            assert text in dom, (path, text)
        shot = tmp_path / name
        subprocess.run(
            [*base, f"--screenshot={shot}", url], capture_output=True, timeout=180, check=True
        )
        histogram = Image.open(shot).convert("L").histogram()
        dark = sum(histogram[:128])  # text and edges; a blank or error page has almost none
        assert dark > 5_000, (path, dark)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy2(shot, Path(keep) / name)


def test_dagster_dev_serves_assets_and_checks_on_loopback_only(tmp_path: Path) -> None:
    prepare_manifest()
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "GPULEDGER_WAREHOUSE": str(tmp_path / "w.duckdb"),
    }
    # The community sign-up dialog (shown once per DAGSTER_HOME) would cover the screenshots.
    (tmp_path / ".nux").mkdir()
    (tmp_path / ".nux" / "nux.yaml").write_text("seen: 1\n")
    dagster = Path(sys.executable).parent / "dagster"
    # A new session (process group): the webserver, daemon and code server stop together.
    process = subprocess.Popen(
        [str(dagster), "dev", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        body = _graphql(port, time.monotonic() + 180)
        nodes = body["data"]["assetNodes"]
        keys = {"/".join(node["assetKey"]["path"]) for node in nodes}
        assert {
            "raw/aws_cur_line_items",
            "raw/nvml_gpu_windows",
            "raw/inference_requests",
            "marts/fct_cost_per_useful_token",
        } <= keys
        checks = {
            check["name"]
            for node in nodes
            if node["assetChecksOrError"]["__typename"] == "AssetChecks"
            for check in node["assetChecksOrError"]["checks"]
        }
        assert "assert_daily_cost_conserved" in checks
        # The UI shows each model's description and its column schema, every column described.
        (fact,) = [n for n in nodes if n["assetKey"]["path"][-1] == "fct_cost_per_useful_token"]
        assert fact["description"]
        (schema,) = [e for e in fact["metadataEntries"] if e["label"] == "dagster/column_schema"]
        columns = schema["schema"]["columns"]
        assert len(columns) > 10 and all(c["description"] for c in columns)
        described = [
            check["description"]
            for node in nodes
            if node["assetChecksOrError"]["__typename"] == "AssetChecks"
            for check in node["assetChecksOrError"]["checks"]
            if check["name"] == "quarantine_is_empty"
        ]
        assert described and all(described)
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        bound = [
            fields[3]
            for fields in (line.split() for line in listening.splitlines())
            if fields[3].endswith(f":{port}")
        ]
        assert bound == [f"127.0.0.1:{port}"]
        (location,) = body["data"]["workspaceOrError"]["locationEntries"]
        _asset_graph_renders_in_chromium(port, location["name"], tmp_path)
    finally:
        # dagster dev stops its children on SIGINT; SIGKILL the group if anything is left.
        os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
