"""The NVML collector spool: a versioned Parquet schema, one row per GPU per window.

Files land at ``telemetry/nvml/host=<host>/date=YYYY-MM-DD/<name>.parquet`` (date of the window
start, UTC). The schema is documented in ``docs/spool-schema.md``; bump ``SCHEMA_VERSION`` on any
incompatible change and keep readers accepting every version still in the field.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 2

# Where a utilization figure came from, best first (DESIGN.md allocation rule 7).
UTIL_SOURCES = (
    "gpm_sm_util",
    "dcgm_prof_sm_active",
    "graphics_engine_activity",
    "nvml_utilization_gpu",
)

PROCESS_TYPE = pa.struct(
    [
        pa.field("pid", pa.int64()),
        pa.field("container_id", pa.string()),
        pa.field("k8s_namespace", pa.string()),
        pa.field("k8s_pod", pa.string()),
        pa.field("workload", pa.string()),
        # Share of the window this process kept the SMs busy, 0..1
        # (nvmlDeviceGetProcessUtilization smUtil, averaged over the window).
        pa.field("busy_share", pa.float64()),
        pa.field("memory_used_bytes", pa.int64()),
    ]
)

SPOOL_SCHEMA = pa.schema(
    [
        pa.field("schema_version", pa.int16(), nullable=False),
        pa.field("host", pa.string(), nullable=False),
        pa.field("cloud_resource_id", pa.string()),
        pa.field("gpu_uuid", pa.string(), nullable=False),
        pa.field("gpu_index", pa.int16(), nullable=False),
        pa.field("gpu_model", pa.string()),
        pa.field("mig_instance_id", pa.string()),
        pa.field("window_start", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("window_end", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("sample_count", pa.int32(), nullable=False),
        # Mean activity over the window, 0..1; util_source says which counter it is.
        pa.field("util_mean", pa.float64()),
        pa.field("util_source", pa.string()),
        pa.field("sm_active_mean", pa.float64()),
        pa.field("gr_engine_active_mean", pa.float64()),
        pa.field("gpu_util_mean", pa.float64()),
        pa.field("memory_used_bytes_max", pa.int64()),
        pa.field("memory_total_bytes", pa.int64()),
        pa.field("power_mw_mean", pa.float64()),
        # Energy counter delta over the window in millijoules, reset-safe.
        pa.field("energy_mj", pa.int64()),
        # Since version 2: clocks, temperature, clock event (throttle) reasons, and what the
        # device could not report ("metric=reason; ...").
        pa.field("sm_clock_mhz_mean", pa.float64()),
        pa.field("mem_clock_mhz_mean", pa.float64()),
        pa.field("temperature_c_max", pa.int32()),
        pa.field("clocks_event_reasons", pa.int64()),
        pa.field("unsupported", pa.string()),
        pa.field("processes", pa.list_(PROCESS_TYPE)),
    ]
)

REQUIRED_COLUMNS = tuple(f.name for f in SPOOL_SCHEMA if not f.nullable)


def spool_path(root: Path, host: str, day: date, name: str) -> Path:
    return root / f"host={host}" / f"date={day.isoformat()}" / f"{name}.parquet"


def write_spool_file(table: pa.Table, path: Path, schema: pa.Schema = SPOOL_SCHEMA) -> None:
    """Write atomically: a reader never sees a half-written file (temp name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table.cast(schema), tmp, compression="zstd")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # a write that failed half-way leaves nothing behind
