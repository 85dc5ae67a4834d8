"""contracts/commitments.yaml: the schema's errors name the contract and the field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.defs.contracts.load import contract_rows, read_commitments
from pipelines.lib.errors import LandingError

NEOCLOUD = """\
version: 1
contracts:
  - id: cw-h100
    kind: neocloud
    provider: CoreWeave
    gpu_model: NVIDIA H100 80GB
    gpu_count: {gpu_count}
    start: 2026-01-31
    term_months: 1
    hourly_fee_usd_per_gpu: 2.25
    resource_ids: [cw-node-1]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "commitments.yaml"
    path.write_text(text)
    return path


def test_a_valid_contract_reads_with_its_term(tmp_path: Path) -> None:
    commitments = read_commitments(_write(tmp_path, NEOCLOUD.format(gpu_count=8)))
    (contract,) = commitments.contracts
    # Jan 31 + 1 month ends on the last day of February.
    assert contract.end_at == datetime(2026, 2, 28, tzinfo=UTC)
    (row,) = contract_rows(commitments, "contracts/commitments.yaml")
    assert (row["contract_id"], row["kind"], row["gpu_count"]) == ("cw-h100", "neocloud", 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            NEOCLOUD.format(gpu_count=0),
            "contract 'cw-h100', field 'gpu_count': Input should be greater than 0",
        ),
        (
            NEOCLOUD.format(gpu_count="eight"),
            "contract 'cw-h100', field 'gpu_count': Input should be a valid integer",
        ),
        (
            NEOCLOUD.format(gpu_count=8).replace("    term_months: 1\n", ""),
            "contract 'cw-h100': Value error, give exactly one of end and term_months",
        ),
        (
            NEOCLOUD.format(gpu_count=8).replace("kind: neocloud", "kind: lease"),
            "contract 'cw-h100': Input tag 'lease' found using 'kind' does not match",
        ),
        (
            NEOCLOUD.format(gpu_count=8).replace("    provider: CoreWeave\n", ""),
            "contract 'cw-h100', field 'provider': Field required",
        ),
        (
            NEOCLOUD.format(gpu_count=8) + "    hourly_fee_usd: 3\n",
            "contract 'cw-h100', field 'hourly_fee_usd': Extra inputs are not permitted",
        ),
        (
            "version: 1\ncontracts:\n  - kind: owned\n    id: rack\n    gpu_model: A10\n"
            "    gpu_count: 1\n    in_service: 2025-01-01\n    useful_life_years: 4\n"
            "    purchase_price_usd: 1000\n    salvage_value_usd: 2000\n"
            "    power_price_usd_per_kwh: 0.1\n    pue: 1.2\n    resource_ids: [h]\n",
            "contract 'rack': Value error, salvage_value_usd is more than purchase_price_usd",
        ),
        ("version: 2\ncontracts: []\n", "field 'version': Input should be 1"),
        ("version: 1\ncontracts:\n  - id: [\n", "not valid YAML"),
    ],
)
def test_an_invalid_contract_names_the_contract_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(LandingError) as failure:
        read_commitments(_write(tmp_path, text))
    assert message in str(failure.value)
    assert str(tmp_path / "commitments.yaml") in str(failure.value)


def test_two_contracts_with_one_id_are_rejected(tmp_path: Path) -> None:
    text = NEOCLOUD.format(gpu_count=8)
    twice = text + text.split("contracts:\n", 1)[1]
    with pytest.raises(LandingError, match="contract id 'cw-h100' is used twice"):
        read_commitments(_write(tmp_path, twice))
