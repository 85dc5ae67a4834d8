"""The host map: the names one machine goes by in telemetry, logs and bills.

``telemetry/hosts.csv`` (optional), one row per alias::

    alias,host,cloud_resource_id
    dcgm-exporter-cmhft,ip-10-0-3-17.ec2.internal,i-0a1b2c3d4e5f60718
    ip-10-0-3-17.ec2.internal,ip-10-0-3-17.ec2.internal,i-0a1b2c3d4e5f60718
    vllm-node-3,gpu-node-3,

Every host name read from a source (the NVML spool's ``host``, dcgm-exporter's node or
``Hostname`` label, inference scrapes and request logs) that equals an ``alias`` becomes its
``host``; ``cloud_resource_id`` (optional) is the machine's id in the bill where the row does
not carry one. The automatic rules that need no row here (an EC2 instance id or a GKE node's
GCE instance name as the host is its cloud resource id) are in dbt (macros/host_identity.sql);
docs/host-identity.md describes both.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa

from pipelines.lib.errors import LandingError

FILE = "telemetry/hosts.csv"
COLUMNS: dict[str, pa.DataType] = {
    "alias": pa.string(),
    "host": pa.string(),
    "cloud_resource_id": pa.string(),
    "source_row": pa.int32(),
}
SCHEMA = pa.schema(list(COLUMNS.items()))
REQUIRED = ("alias", "host")


def read_host_map(landing: Path) -> pa.Table:
    """The map's rows (none without the file); LandingError names the row and column of what
    is wrong: a missing column, an empty alias or host, an alias mapped twice."""
    path = landing / FILE
    if not path.is_file():
        return SCHEMA.empty_table()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LandingError(path, f"is not UTF-8 ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    for name in REQUIRED:
        if name not in header:
            raise LandingError(path, "column missing", column=name, expected=",".join(COLUMNS))
    rows: list[dict[str, object]] = []
    seen: dict[str, tuple[int, str, str | None]] = {}
    for record in reader:
        number = reader.line_num  # the file's line: blank lines are skipped, not counted out
        values = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
        if not any(values.values()):
            continue
        for name in REQUIRED:
            if not values.get(name):
                raise LandingError(path, "value is empty", row=number, column=name)
        alias, host = values["alias"], values["host"]
        resource = values.get("cloud_resource_id") or None
        if alias in seen and seen[alias][1:] != (host, resource):
            raise LandingError(
                path,
                f"alias {alias!r} is mapped twice (row {seen[alias][0]}: {seen[alias][1]!r},"
                f" row {number}: {host!r})",
                row=number,
                column="alias",
                expected="one host and cloud resource id per alias",
            )
        if alias in seen:
            continue
        seen[alias] = (number, host, resource)
        rows.append(
            {"alias": alias, "host": host, "cloud_resource_id": resource, "source_row": number}
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)
