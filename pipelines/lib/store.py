"""Where a landing source's files are: a local folder or an ``s3://bucket/prefix`` read with boto3.

Keys are ``/``-separated paths relative to the source root in both cases, so delivery discovery
and parsing do not care which one they read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipelines.lib.paths import lineage_name, regular_files


class Store(Protocol):
    def listing(self, prefix: str = "") -> dict[str, str]:
        """Every object key under ``prefix`` with a sortable last-modified stamp."""

    def read(self, key: str) -> bytes: ...

    def describe(self, key: str) -> str:
        """The key as a user finds it: an absolute path or an s3:// URI."""

    def lineage(self, key: str) -> str:
        """How the warehouse records the key (stable across checkouts)."""


@dataclass(frozen=True)
class LocalStore:
    root: Path
    # Rows record their file relative to the landing zone when it is inside it.
    landing: Path | None = None

    def listing(self, prefix: str = "") -> dict[str, str]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return {}
        return {
            path.relative_to(self.root).as_posix(): f"{path.stat().st_mtime_ns:020d}"
            for path in regular_files(base.rglob("*"), self.root)
        }

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def describe(self, key: str) -> str:
        return str(self.root / key)

    def lineage(self, key: str) -> str:
        return lineage_name(self.root / key, self.landing) if self.landing else str(self.root / key)


@dataclass(frozen=True)
class S3Store:
    """An S3 prefix. Endpoint, region and credentials come from the standard AWS chain
    (environment, shared config, instance role); AWS_ENDPOINT_URL points it at any
    S3-compatible server."""

    bucket: str
    prefix: str
    client: Any = field(repr=False, compare=False)

    @classmethod
    def from_uri(cls, uri: str, client: Any = None) -> S3Store:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
        return cls(bucket, prefix.strip("/"), client)

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def listing(self, prefix: str = "") -> dict[str, str]:
        found = {}
        start = self._full(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
            for obj in page.get("Contents", []):
                key = obj["Key"][len(self.prefix) + 1 :] if self.prefix else obj["Key"]
                found[key] = obj["LastModified"].isoformat()
        return found

    def read(self, key: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
        return bytes(response["Body"].read())

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def lineage(self, key: str) -> str:
        return self.describe(key)


def open_store(location: str | Path, landing: Path | None = None) -> Store:
    """A folder path or an s3:// URI."""
    text = str(location)
    if text.startswith("s3://"):
        return S3Store.from_uri(text)
    return LocalStore(Path(text), landing)
