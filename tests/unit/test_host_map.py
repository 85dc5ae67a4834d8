"""The host map (telemetry/hosts.csv): read per alias, and a wrong row named."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.defs.sources.telemetry.hosts import read_host_map
from pipelines.lib.errors import LandingError


def _write(root: Path, text: str) -> Path:
    path = root / "telemetry" / "hosts.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_aliases_are_read_with_their_host_and_resource_id(tmp_path: Path) -> None:
    assert read_host_map(tmp_path).num_rows == 0  # no file: no aliases
    _write(
        tmp_path,
        "alias, host ,cloud_resource_id\n"
        "dcgm-exporter-cmhft,ip-10-0-3-17,i-0a1b2c3d4e5f60718\n"
        "\n"
        "vllm-node-3,gpu-node-3,\n"
        "dcgm-exporter-cmhft,ip-10-0-3-17,i-0a1b2c3d4e5f60718\n",  # the same row again
    )
    assert read_host_map(tmp_path).to_pylist() == [
        {
            "alias": "dcgm-exporter-cmhft",
            "host": "ip-10-0-3-17",
            "cloud_resource_id": "i-0a1b2c3d4e5f60718",
            "source_row": 2,
        },
        {"alias": "vllm-node-3", "host": "gpu-node-3", "cloud_resource_id": None, "source_row": 4},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,host\na,b\n", "column 'alias': column missing (expected alias,host,"),
        ("alias,host\na,\n", "row 2, column 'host': value is empty"),
        (
            "alias,host\na,b\nc,d\na,e\n",
            "row 4, column 'alias': alias 'a' is mapped twice (row 2: 'b', row 4: 'e')",
        ),
    ],
)
def test_a_wrong_row_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(LandingError) as refused:
        read_host_map(tmp_path)
    assert str(refused.value).startswith(f"{path}, ") and message in str(refused.value)
