"""Closed windows into spool files: atomic, rotated by time and size, capped on disk.

Rows are buffered and written as one Parquet file per UTC day of their windows when the file
has been open ``rotate_s`` seconds or its rows reach ``rotate_bytes`` (an uncompressed
estimate). A write that fails (disk full, read-only file system) keeps the rows buffered and
retries at the next rotation; the sampler goes on. Past ``max_buffer_rows`` the oldest buffered
rows are dropped and counted, never silently. After each write the spool is held under
``max_spool_bytes`` by deleting the oldest closed files, counted too.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from collectors.spool import SPOOL_SCHEMA, spool_path, write_spool_file

log = logging.getLogger("gpuledger.collector")

ROW_BYTES = 320  # estimate of one window row, uncompressed
PROCESS_BYTES = 96  # and of each process in it
STATUS_FILE = "_collector_status.json"


def _row_bytes(row: dict[str, Any]) -> int:
    return ROW_BYTES + PROCESS_BYTES * len(row.get("processes") or ())


class SpoolWriter:
    def __init__(
        self,
        root: Path,
        host: str,
        rotate_s: float = 300.0,
        rotate_bytes: int = 8 * 1024**2,
        max_spool_bytes: int = 1024**3,
        max_buffer_rows: int = 200_000,
        write: Callable[[pa.Table, Path, pa.Schema], None] = write_spool_file,
        on_closed: Callable[[Path], None] | None = None,
        clock: Callable[[], float] | None = None,
        schema: pa.Schema = SPOOL_SCHEMA,
        time_column: str = "window_start",
    ) -> None:
        """``schema``/``time_column``: the scrapers write their own row shapes this way."""
        self.root, self.host = root, host
        self.rotate_s, self.rotate_bytes = rotate_s, rotate_bytes
        self.max_spool_bytes, self.max_buffer_rows = max_spool_bytes, max_buffer_rows
        self._write, self.on_closed = write, on_closed
        self.schema, self.time_column = schema, time_column
        self._clock = clock or (lambda: datetime.now(UTC).timestamp())
        self.buffer: list[dict[str, Any]] = []
        self.buffer_bytes = 0
        self.opened_at: float | None = None
        self._sequence = 0
        self._failing = False
        self.stats = {
            "files_written": 0,
            "rows_written": 0,
            "rows_lost": 0,
            "write_errors": 0,
            "files_evicted": 0,
            "bytes_evicted": 0,
        }
        self.last_error: str | None = None

    def add(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.opened_at is None:
            self.opened_at = self._clock()
        self.buffer.extend(rows)
        self.buffer_bytes += sum(_row_bytes(r) for r in rows)
        overflow = len(self.buffer) - self.max_buffer_rows
        if overflow > 0:
            del self.buffer[:overflow]
            self.stats["rows_lost"] += overflow
            self.buffer_bytes = sum(_row_bytes(r) for r in self.buffer)
            log.error("spool buffer full: %d oldest rows dropped (counted as rows_lost)", overflow)
        if self.due():
            self.flush()

    def due(self) -> bool:
        if not self.buffer or self.opened_at is None:
            return False
        return (
            self._clock() - self.opened_at >= self.rotate_s
            or self.buffer_bytes >= self.rotate_bytes
        )

    def flush(self) -> list[Path]:
        """Write the buffer; returns the files written (none when the write failed)."""
        if not self.buffer:
            return []
        by_day: dict[Any, list[dict[str, Any]]] = {}
        for row in self.buffer:
            by_day.setdefault(row[self.time_column].date(), []).append(row)
        written: list[Path] = []
        unwritten: list[dict[str, Any]] = []
        for day, rows in sorted(by_day.items()):
            if unwritten:  # an earlier day failed: keep the rest for the next attempt
                unwritten.extend(rows)
                continue
            first = min(r[self.time_column] for r in rows)
            self._sequence += 1
            name = f"{self.host}-{first:%Y%m%dT%H%M%SZ}-{os.getpid()}-{self._sequence:06d}"
            path = spool_path(self.root, self.host, day, name)
            try:
                self._write(pa.Table.from_pylist(rows, schema=self.schema), path, self.schema)
            except OSError as exc:
                self.stats["write_errors"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                if not self._failing:
                    log.error(
                        "cannot write spool file %s (%s): keeping %d rows and sampling on",
                        path,
                        exc,
                        len(self.buffer),
                    )
                self._failing = True
                unwritten.extend(rows)
                continue
            written.append(path)
            self.stats["files_written"] += 1
            self.stats["rows_written"] += len(rows)
        if unwritten:
            self.opened_at = self._clock()  # retry at the next rotation, not every tick
        else:
            if self._failing:
                log.warning("spool writes work again")
            self._failing = False
            self.opened_at = None
        self.buffer = unwritten
        self.buffer_bytes = sum(_row_bytes(r) for r in unwritten)
        if written:
            self.enforce_cap()
        for path in written:
            if self.on_closed is not None:
                self.on_closed(path)
        return written

    def closed_files(self) -> list[Path]:
        """Closed spool files, oldest first (by day folder, then modification time)."""
        files = [p for p in self.root.glob("host=*/date=*/*.parquet") if not p.name.startswith(".")]
        return sorted(files, key=lambda p: (p.parent.name, p.stat().st_mtime, p.name))

    def enforce_cap(self) -> None:
        files = self.closed_files()
        total = sum(p.stat().st_size for p in files)
        for path in files:
            if total <= self.max_spool_bytes:
                break
            size = path.stat().st_size
            path.unlink(missing_ok=True)
            total -= size
            self.stats["files_evicted"] += 1
            self.stats["bytes_evicted"] += size
            log.warning("spool over %d bytes: evicted %s", self.max_spool_bytes, path)

    def write_status(self, extra: dict[str, Any]) -> None:
        """``_collector_status.json`` beside the spool: counters for operators and tests."""
        status = {
            **self.stats,
            "rows_pending": len(self.buffer),
            "last_error": self.last_error,
            **extra,
        }
        target = self.root / STATUS_FILE
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(status, indent=2, sort_keys=True, default=str))
            tmp.replace(target)
        except OSError:
            pass  # the status is a convenience; a full disk is already counted
