"""The Dagster webserver starts from the repo, on 127.0.0.1, and serves the asset graph."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.lib.manifest import prepare_manifest
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_webserver_answers_on_loopback_and_lists_assets(tmp_path: Path) -> None:
    prepare_manifest()
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "GPULEDGER_WAREHOUSE": str(tmp_path / "w.duckdb"),
    }
    webserver = Path(sys.executable).parent / "dagster-webserver"
    # A new session (process group), so the webserver and its code server stop together.
    process = subprocess.Popen(
        [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-m", "pipelines.definitions"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 120
        query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
        while time.monotonic() < deadline:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql",
                    data=query,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    body = json.loads(response.read())
                if body.get("data", {}).get("assetNodes"):
                    break
            except OSError:
                pass
            time.sleep(1)
        assert body is not None, "webserver never answered"
        keys = {"/".join(node["assetKey"]["path"]) for node in body["data"]["assetNodes"]}
        assert {
            "raw/aws_cur_line_items",
            "raw/inference_requests",
            "marts/fct_cost_per_useful_token",
        } <= keys
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
