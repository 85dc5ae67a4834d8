"""Who a GPU process belongs to, and which cloud resource the host is.

Process -> container -> Kubernetes pod -> workload:
  * the container id is read from ``/proc/<pid>/cgroup`` (docker, containerd, CRI-O and
    systemd-slice spellings; cgroup v1 and v2);
  * the pod from the same path's pod UID (``kubepods-...-pod<uid>.slice`` or ``/pod<uid>/``),
    named by the kubelet's log folders ``/var/log/pods/<namespace>_<pod>_<uid>``;
  * the workload from a static mapping file (first matching rule), else the pod's name without
    its ReplicaSet / StatefulSet suffix, else null (costs go to ``(unlabeled)``).
Nothing here needs root: both paths are world-readable on standard hosts.

Host -> cloud resource id: ``--resource-id`` when given; else AWS IMDSv2 (a session token, then
``instance-id``) or the GCP metadata server (``instance/name``, as the billing export names the
VM), each with a short timeout, cached in a file so a restart does not ask again.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("gpuledger.collector")

_CONTAINER = re.compile(
    r"(?:docker-|cri-containerd-|crio-|containerd-|libpod-)?([0-9a-f]{64})(?:\.scope)?$"
)
_POD = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
# chat-7d9f8b6c4-x2x9k (Deployment), chat-0 (StatefulSet), chat-x2x9k (DaemonSet / Job)
# Kubernetes' generated suffixes use the alphabet bcdfghjklmnpqrstvwxz2456789 (no vowels), so a
# name's own last word ("rag-embed") is kept.
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_POD_SUFFIX = re.compile(rf"(-{_SAFE}{{6,10}})?-{_SAFE}{{5}}$|-\d+$")


@dataclass(frozen=True)
class Rule:
    workload: str
    k8s_namespace: str | None = None
    k8s_pod_prefix: str | None = None
    container_id_prefix: str | None = None
    cmdline_regex: str | None = None


def load_rules(path: Path) -> list[Rule]:
    """A mapping file: ``workloads: [{workload: chat, k8s_namespace: ..., ...}, ...]``."""
    data = yaml.safe_load(path.read_text()) or {}
    rules = []
    for number, item in enumerate(data.get("workloads") or [], start=1):
        if not isinstance(item, dict) or not item.get("workload"):
            raise ValueError(f"{path}: rule {number} needs a 'workload'")
        unknown = set(item) - set(Rule.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: rule {number} has unknown keys {sorted(unknown)}")
        rules.append(Rule(**item))
    return rules


class ProcessLabeler:
    def __init__(
        self,
        rules: list[Rule] | None = None,
        proc_root: Path = Path("/proc"),
        pods_root: Path = Path("/var/log/pods"),
    ) -> None:
        self.rules = rules or []
        self.proc_root, self.pods_root = proc_root, pods_root
        self._cache: dict[int, tuple[str | None, str | None, str | None, str | None]] = {}

    def __call__(self, pid: int) -> tuple[str | None, str | None, str | None, str | None]:
        """(container id, namespace, pod, workload) of a process; cached per pid."""
        if pid not in self._cache:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[pid] = self._label(pid)
        return self._cache[pid]

    def _label(self, pid: int) -> tuple[str | None, str | None, str | None, str | None]:
        container, pod_uid = self._cgroup(pid)
        namespace, pod = self._pod(pod_uid) if pod_uid else (None, None)
        cmdline = self._cmdline(pid) if any(r.cmdline_regex for r in self.rules) else ""
        for rule in self.rules:
            if rule.k8s_namespace and rule.k8s_namespace != namespace:
                continue
            if rule.k8s_pod_prefix and not (pod or "").startswith(rule.k8s_pod_prefix):
                continue
            if rule.container_id_prefix and not (container or "").startswith(
                rule.container_id_prefix
            ):
                continue
            if rule.cmdline_regex and not re.search(rule.cmdline_regex, cmdline):
                continue
            return container, namespace, pod, rule.workload
        workload = _POD_SUFFIX.sub("", pod) if pod else None
        return container, namespace, pod, workload

    def _cgroup(self, pid: int) -> tuple[str | None, str | None]:
        try:
            text = (self.proc_root / str(pid) / "cgroup").read_text()
        except OSError:
            return None, None  # gone, or another user's process we may not read
        container = pod_uid = None
        for line in text.splitlines():
            path = line.split(":", 2)[-1]
            for part in path.split("/"):
                match = _CONTAINER.search(part)
                if match:
                    container = match.group(1)
                pod_match = _POD.search(part)
                if pod_match:
                    pod_uid = pod_match.group(1).replace("_", "-")
        return container, pod_uid

    def _pod(self, uid: str) -> tuple[str | None, str | None]:
        for folder in self._pod_folders():
            namespace, _, rest = folder.partition("_")
            pod, _, folder_uid = rest.rpartition("_")
            if folder_uid == uid:
                return namespace, pod
        return None, None

    def _pod_folders(self) -> list[str]:
        try:
            return [p.name for p in self.pods_root.iterdir()]
        except OSError:
            return []

    def _cmdline(self, pid: int) -> str:
        try:
            raw = (self.proc_root / str(pid) / "cmdline").read_bytes()
        except OSError:
            return ""
        return raw.replace(b"\0", b" ").decode(errors="replace").strip()


# -- cloud identity -------------------------------------------------------------------------

AWS_IMDS = "http://169.254.169.254"
GCP_METADATA = "http://metadata.google.internal"


def _http(request: urllib.request.Request, timeout: float) -> str | None:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(response.read().decode().strip()) or None
    except (OSError, ValueError):
        return None


def aws_instance_id(base: str = AWS_IMDS, timeout: float = 0.3) -> str | None:
    token_request = urllib.request.Request(
        f"{base}/latest/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
    )
    token = _http(token_request, timeout)
    if token is None:
        return None
    request = urllib.request.Request(
        f"{base}/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token}
    )
    return _http(request, timeout)


def gcp_instance_name(base: str = GCP_METADATA, timeout: float = 0.3) -> str | None:
    request = urllib.request.Request(
        f"{base}/computeMetadata/v1/instance/name", headers={"Metadata-Flavor": "Google"}
    )
    return _http(request, timeout)


@lru_cache(maxsize=8)
def _probe(aws_base: str, gcp_base: str, timeout: float) -> tuple[str | None, str | None]:
    instance = aws_instance_id(aws_base, timeout)
    if instance:
        return instance, "aws"
    name = gcp_instance_name(gcp_base, timeout)
    if name:
        return name, "gcp"
    return None, None


def cloud_resource_id(
    configured: str | None,
    cache_file: Path | None,
    aws_base: str = AWS_IMDS,
    gcp_base: str = GCP_METADATA,
    timeout: float = 0.3,
) -> str | None:
    """The host's cloud resource id: configured, cached, or asked of the metadata servers."""
    if configured:
        return configured
    if cache_file is not None and cache_file.exists():
        try:
            cached: dict[str, Any] = json.loads(cache_file.read_text())
            return cached.get("cloud_resource_id")
        except (OSError, ValueError):
            pass
    resource_id, provider = _probe(aws_base, gcp_base, timeout)
    if resource_id is None:
        log.info("no cloud metadata server answered: cloud_resource_id stays empty")
        return None
    log.info("host is %s resource %s", provider, resource_id)
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(
                json.dumps({"cloud_resource_id": resource_id, "provider": provider})
            )
        except OSError:
            pass
    return resource_id
