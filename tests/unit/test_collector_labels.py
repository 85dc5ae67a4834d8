"""Process -> container -> pod -> workload labels, and the host's cloud resource id."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from collectors.labels import ProcessLabeler, Rule, cloud_resource_id, load_rules

CONTAINER = "3f2a9c1be4d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f"
POD_UID = "6b1f0c2e-4d3a-4f5b-9c8d-7e6f5a4b3c2d"


def fake_host(tmp_path: Path, pid: int, cgroup: str, cmdline: str = "python serve.py") -> Path:
    proc = tmp_path / "proc" / str(pid)
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(cgroup)
    (proc / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")
    return tmp_path


@pytest.mark.parametrize(
    "cgroup",
    [
        # cgroup v2, systemd driver, containerd
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        f"{POD_UID.replace('-', '_')}.slice/cri-containerd-{CONTAINER}.scope\n",
        # cgroup v1, cgroupfs driver, docker
        f"12:memory:/kubepods/burstable/pod{POD_UID}/{CONTAINER}\n"
        f"11:cpu,cpuacct:/kubepods/burstable/pod{POD_UID}/{CONTAINER}\n",
    ],
)
def test_process_is_labelled_with_its_container_pod_and_workload(
    tmp_path: Path, cgroup: str
) -> None:
    root = fake_host(tmp_path, 4242, cgroup)
    pods = root / "pods"
    (pods / f"inference_chat-assistant-7d9f8b6c4-x2x9k_{POD_UID}").mkdir(parents=True)
    (pods / "kube-system_coredns-5d78c9869d-abcde_00000000-0000-0000-0000-000000000000").mkdir()
    labeler = ProcessLabeler(proc_root=root / "proc", pods_root=pods)
    assert labeler(4242) == (
        CONTAINER,
        "inference",
        "chat-assistant-7d9f8b6c4-x2x9k",
        "chat-assistant",
    )


def test_mapping_rules_win_in_order_and_a_bare_process_is_unlabelled(tmp_path: Path) -> None:
    root = fake_host(
        tmp_path, 10, f"0::/system.slice/docker-{CONTAINER}.scope\n", "python embed_worker.py"
    )
    fake_host(tmp_path, 11, "0::/user.slice/user-1000.slice/session-3.scope\n", "python train.py")
    rules_file = tmp_path / "workloads.yaml"
    rules_file.write_text(
        "workloads:\n"
        "  - {workload: batch-embed, cmdline_regex: 'embed_worker\\.py'}\n"
        f"  - {{workload: research, container_id_prefix: '{CONTAINER[:4]}'}}\n"
    )
    labeler = ProcessLabeler(load_rules(rules_file), proc_root=root / "proc", pods_root=tmp_path)
    assert labeler(10) == (CONTAINER, None, None, "batch-embed")
    assert labeler(11) == (None, None, None, None)
    assert labeler(99) == (None, None, None, None)  # gone before it was labelled


def test_a_bad_mapping_file_names_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "workloads.yaml"
    path.write_text("workloads:\n  - {workload: a}\n  - {workload: b, k8s_pod: x}\n")
    with pytest.raises(ValueError, match=r"rule 2 has unknown keys \['k8s_pod'\]"):
        load_rules(path)
    path.write_text("workloads:\n  - {k8s_namespace: x}\n")
    with pytest.raises(ValueError, match="rule 1 needs a 'workload'"):
        load_rules(path)
    assert Rule("w").workload == "w"


@contextmanager
def metadata_server(kind: str) -> Iterator[tuple[str, list[str]]]:
    """A local stand-in for AWS IMDSv2 or the GCP metadata server, checking their headers."""
    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: str | None) -> None:
            calls.append(f"{self.command} {self.path}")
            if body is None:
                self.send_error(401 if kind == "aws" else 403)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            ok = kind == "aws" and self.path == "/latest/api/token" and ttl
            self._answer("session-token" if ok else None)

        def do_GET(self) -> None:
            if kind == "aws":
                ok = self.headers.get("X-aws-ec2-metadata-token") == "session-token"
                self._answer("i-0abc123" if ok and self.path.endswith("/instance-id") else None)
            else:
                ok = self.headers.get("Metadata-Flavor") == "Google"
                self._answer("a2-vm-1" if ok and self.path.endswith("/instance/name") else None)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()


def test_cloud_resource_id_from_aws_imdsv2_is_cached(tmp_path: Path) -> None:
    cache = tmp_path / "_host_identity.json"
    with metadata_server("aws") as (aws, calls), metadata_server("gcp") as (gcp, _):
        assert cloud_resource_id(None, cache, aws_base=aws, gcp_base=gcp) == "i-0abc123"
    assert calls == ["PUT /latest/api/token", "GET /latest/meta-data/instance-id"]
    assert json.loads(cache.read_text()) == {"cloud_resource_id": "i-0abc123", "provider": "aws"}
    # A restart reads the cache and asks nobody (port 9 would refuse).
    assert cloud_resource_id(None, cache, aws_base="http://127.0.0.1:9") == "i-0abc123"
    assert cloud_resource_id("i-0configured", cache) == "i-0configured"


def test_cloud_resource_id_from_the_gcp_metadata_server(tmp_path: Path) -> None:
    with metadata_server("gcp") as (gcp, calls), metadata_server("gcp") as (not_aws, _):
        # The AWS probe gets no token (a 403) and the GCP server names the VM.
        found = cloud_resource_id(None, tmp_path / "id.json", aws_base=not_aws, gcp_base=gcp)
    assert found == "a2-vm-1"
    assert calls == ["GET /computeMetadata/v1/instance/name"]


def test_no_metadata_server_leaves_the_resource_id_empty(tmp_path: Path) -> None:
    cache = tmp_path / "id.json"
    start = time.monotonic()
    assert cloud_resource_id(None, cache, "http://127.0.0.1:9", "http://127.0.0.1:9") is None
    assert time.monotonic() - start < 2
    assert not cache.exists()
