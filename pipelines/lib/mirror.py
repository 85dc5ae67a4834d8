"""Landing sources kept in S3: mirrored into the landing zone before they are read.

Any folder of the landing zone can instead live under an ``s3://bucket/prefix`` (the AWS CUR
has its own reader, pipelines/lib/store.py). Set the folder's variable and the pipeline keeps
a mirror of the prefix in the landing folder: every run, every landing asset and the landing
sensor sync it first (one LIST per source when nothing changed), then read local files as
usual. Rows record the same landing-relative file names either way.

| folder               | variable                       | who writes there                    |
|----------------------|--------------------------------|-------------------------------------|
| telemetry/nvml       | GPULEDGER_NVML                 | `gpuledger-collect --ship s3://...` |
| telemetry/dcgm       | GPULEDGER_DCGM                 | `gpuledger-scrape` + a sync         |
| inference/requests   | GPULEDGER_REQUESTS             | the serving gateway's log shipper   |
| inference/litellm    | GPULEDGER_LITELLM              | LiteLLM's S3 bucket logger          |
| inference/otel       | GPULEDGER_OTEL                 | the OTel Collector's file exporter  |
| inference/metrics    | GPULEDGER_INFERENCE_METRICS    | `gpuledger-scrape` + a sync         |
| focus                | GPULEDGER_FOCUS                | a cloud's FOCUS export              |
| gcp_billing          | GPULEDGER_GCP_BILLING          | a BigQuery export job               |
| contracts            | GPULEDGER_CONTRACTS            | whoever keeps the contracts         |

A mirrored file keeps the object's LastModified as its modification time, so a day's landing
version (raw.landing_log) changes only when an object does. The prefix is authoritative: a
local file whose object is gone is removed, as a deleted export should un-land its rows.
Credentials and endpoint come from the standard AWS chain (AWS_ENDPOINT_URL for S3-compatible
servers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.lib.store import S3Store

MIRRORED = {
    "telemetry/nvml": "GPULEDGER_NVML",
    "telemetry/dcgm": "GPULEDGER_DCGM",
    "inference/requests": "GPULEDGER_REQUESTS",
    "inference/litellm": "GPULEDGER_LITELLM",
    "inference/otel": "GPULEDGER_OTEL",
    "inference/metrics": "GPULEDGER_INFERENCE_METRICS",
    "focus": "GPULEDGER_FOCUS",
    "gcp_billing": "GPULEDGER_GCP_BILLING",
    "contracts": "GPULEDGER_CONTRACTS",
}


@dataclass(frozen=True)
class Synced:
    folder: str
    uri: str
    downloaded: int
    removed: int
    unchanged: int


def s3_sources(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Landing folder -> s3:// URI, for the folders configured to live in S3."""
    env = os.environ if env is None else env
    return {
        folder: env[var].rstrip("/")
        for folder, var in MIRRORED.items()
        if env.get(var, "").startswith("s3://")
    }


def mirror(uri: str, folder: Path, client: Any = None) -> tuple[int, int, int]:
    """Make ``folder`` hold what ``uri`` holds; returns (downloaded, removed, unchanged)."""
    store = S3Store.from_uri(uri, client)
    start = f"{store.prefix}/" if store.prefix else ""
    objects: dict[str, tuple[int, float]] = {}
    for page in store.client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=start
    ):
        for obj in page.get("Contents", []):
            key = obj["Key"][len(start) :]
            if key and not key.endswith("/") and not Path(key).name.startswith("."):
                objects[key] = (int(obj["Size"]), obj["LastModified"].timestamp())
    downloaded = unchanged = removed = 0
    for key, (size, modified) in sorted(objects.items()):
        local = folder / key
        if local.is_file():
            stat = local.stat()
            if stat.st_size == size and int(stat.st_mtime) == int(modified):
                unchanged += 1
                continue
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(f".{local.name}.part")
        partial.write_bytes(store.read(key))
        os.utime(partial, (modified, modified))
        partial.replace(local)  # readers never see half a file
        downloaded += 1
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            key = path.relative_to(folder).as_posix()
            if path.is_file() and not path.name.startswith(".") and key not in objects:
                path.unlink()
                removed += 1
    return downloaded, removed, unchanged


def sync_landing(landing: Path, only: str | None = None, client: Any = None) -> list[Synced]:
    """Mirror every S3-backed landing folder (or just ``only``) into ``landing``."""
    done = []
    for folder, uri in s3_sources().items():
        if only is not None and folder != only:
            continue
        downloaded, removed, unchanged = mirror(uri, landing / folder, client)
        done.append(Synced(folder, uri, downloaded, removed, unchanged))
    return done
