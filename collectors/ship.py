"""Closed spool files to S3 (optional): retried with backoff, deleted only once confirmed.

``--ship s3://bucket/prefix`` uploads each closed file to ``<prefix>/<path under the spool>``
(``host=<h>/date=<d>/<name>.parquet``, the landing layout), then asks S3 for the object and
compares its size with the local file before deleting the local copy. A failed upload stays on
disk and is retried with exponential backoff; files left from an earlier run are shipped at
start. boto3 finds credentials and the endpoint the standard way (instance role,
``AWS_PROFILE``, ``AWS_ENDPOINT_URL``); nothing secret is configured here.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger("gpuledger.collector")


def parse_s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"expected s3://bucket/prefix, got {url!r}")
    return parsed.netloc, parsed.path.strip("/")


class S3Shipper:
    def __init__(
        self,
        url: str,
        root: Path,
        client: Any = None,
        max_attempts: int = 6,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.root = root
        if client is None:
            import boto3  # optional: only hosts that ship need it

            client = boto3.client("s3")
        self.client = client
        self.max_attempts, self.backoff_s, self._sleep = max_attempts, backoff_s, sleep
        self.stats = {"files_shipped": 0, "bytes_shipped": 0, "upload_failures": 0}
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def key(self, path: Path) -> str:
        relative = path.relative_to(self.root).as_posix()
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def ship(self, path: Path) -> bool:
        """Upload one file; True (and the local file gone) once S3 holds it whole."""
        key = self.key(path)
        size = path.stat().st_size
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.client.upload_file(str(path), self.bucket, key)
                head = self.client.head_object(Bucket=self.bucket, Key=key)
                if int(head["ContentLength"]) != size:
                    raise OSError(f"s3://{self.bucket}/{key} holds {head['ContentLength']} bytes")
            except Exception as exc:  # botocore raises many kinds; all mean "not yet"
                self.stats["upload_failures"] += 1
                wait = self.backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "upload of %s failed (attempt %d/%d: %s); retrying in %.1f s",
                    path.name,
                    attempt,
                    self.max_attempts,
                    exc,
                    wait,
                )
                if attempt < self.max_attempts:
                    self._sleep(wait)
                continue
            path.unlink(missing_ok=True)
            self.stats["files_shipped"] += 1
            self.stats["bytes_shipped"] += size
            return True
        log.error("giving up on %s for now: it stays in the spool", path)
        return False

    def pending(self) -> list[Path]:
        return sorted(
            p for p in self.root.glob("host=*/date=*/*.parquet") if not p.name.startswith(".")
        )

    # -- background thread used by the daemon ----------------------------------------------

    def start(self) -> None:
        for path in self.pending():  # left by an earlier run
            self._queue.put(path)
        self._thread = threading.Thread(target=self._run, name="s3-shipper", daemon=True)
        self._thread.start()

    def submit(self, path: Path) -> None:
        self._queue.put(path)

    def _run(self) -> None:
        while True:
            path = self._queue.get()
            if path is None:
                return
            if path.exists():
                self.ship(path)

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
