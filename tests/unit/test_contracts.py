"""contracts/commitments.yaml: the schema's errors name the contract and the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from pipelines.defs.sources.contracts.aws_import import import_aws, savings_plans, to_yaml
from pipelines.defs.sources.contracts.load import contract_rows, read_commitments
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


class _StubbedSession:
    """boto3 clients with botocore's Stubber: requests and responses are checked against the
    services' API models (moto 5.2 has no Savings Plans backend and raises NotImplementedError
    for DescribeReservedInstances and DescribeCapacityReservations)."""

    def __init__(self) -> None:
        self.clients = {
            name: boto3.client(
                name,
                region_name="us-east-1",
                aws_access_key_id="stub",
                aws_secret_access_key="stub",
            )
            for name in ("savingsplans", "ec2")
        }
        self.stubbers = {name: Stubber(client) for name, client in self.clients.items()}

    def client(self, name: str, **_: object) -> object:
        return self.clients[name]


def test_aws_commitments_are_imported_into_the_contracts_model(tmp_path: Path) -> None:
    session = _StubbedSession()
    plans, ec2 = session.stubbers["savingsplans"], session.stubbers["ec2"]
    arn = "arn:aws:savingsplans::111122223333:savingsplan/3f1c2a9e"
    plan = {
        "savingsPlanId": "3f1c2a9e", "savingsPlanArn": arn, "start": "2026-01-01T00:00:00Z",
        "end": "2027-01-01T00:00:00Z", "savingsPlanType": "Compute", "paymentOption": "No Upfront",
        "currency": "USD", "commitment": "250.5", "upfrontPaymentAmount": "0",
    }  # fmt: skip
    plans.add_response(
        "describe_savings_plans",
        {"savingsPlans": [plan], "nextToken": "page-2"},
        {"states": ["active", "queued", "payment-pending"]},
    )
    plans.add_response(
        "describe_savings_plans",
        {"savingsPlans": [{**plan, "savingsPlanId": "77aa", "savingsPlanArn": arn + "-2"}]},
        {"states": ["active", "queued", "payment-pending"], "nextToken": "page-2"},
    )
    ec2.add_response(
        "describe_reserved_instances",
        {"ReservedInstances": [{
            "ReservedInstancesId": "ri-1", "InstanceType": "p4d.24xlarge", "InstanceCount": 2,
            "Start": datetime(2026, 3, 1, tzinfo=UTC), "End": datetime(2029, 3, 1, tzinfo=UTC),
            "FixedPrice": 100000.0, "UsagePrice": 0.0, "CurrencyCode": "USD",
            "OfferingType": "Partial Upfront",
            "RecurringCharges": [{"Amount": 9.5, "Frequency": "Hourly"}],
        }]},
        {"Filters": [{"Name": "state", "Values": ["active", "payment-pending"]}]},
    )  # fmt: skip
    block = {
        "CapacityReservationId": "cr-block", "InstanceType": "p5.48xlarge",
        "TotalInstanceCount": 1, "ReservationType": "capacity-block",
        "StartDate": datetime(2026, 10, 30, 11, 30, tzinfo=UTC),
        "EndDate": datetime(2026, 11, 6, 11, 30, tzinfo=UTC),
        "CapacityReservationArn": "arn:aws:ec2:us-east-1:111122223333:capacity-reservation/cr-b",
    }  # fmt: skip
    open_ended = {**block, "CapacityReservationId": "cr-open", "ReservationType": "default"}
    del open_ended["EndDate"]
    ec2.add_response(
        "describe_capacity_reservations",
        {"CapacityReservations": [block, open_ended]},
        {"Filters": [{"Name": "state", "Values": ["active", "scheduled", "payment-pending"]}]},
    )
    for stubber in session.stubbers.values():
        stubber.activate()

    contracts = import_aws(session)

    for stubber in session.stubbers.values():
        stubber.assert_no_pending_responses()
    assert [(c["id"], c["kind"]) for c in contracts] == [
        ("aws-sp-3f1c2a9e", "savings_plan"),
        ("aws-sp-77aa", "savings_plan"),
        ("aws-ri-ri-1", "reservation"),
        ("aws-cr-cr-block", "capacity_block"),
    ]
    assert contracts[0]["hourly_commitment_usd"] == Decimal("250.5")
    assert (contracts[2]["hourly_commitment_usd"], contracts[2]["upfront_usd"]) == (
        Decimal("19.0"),
        Decimal("200000.0"),
    )
    # The file it writes names the one field left to fill in, then validates.
    path = tmp_path / "aws.yaml"
    path.write_text(to_yaml(contracts))
    with pytest.raises(LandingError, match="contract 'aws-cr-cr-block', field 'upfront_usd'"):
        read_commitments(path)
    path.write_text(path.read_text().replace("upfront_usd: null", "upfront_usd: 26208.0"))
    commitments = read_commitments(path)
    block_contract = commitments.contracts[3]
    assert block_contract.end_at - block_contract.start == timedelta(days=7)


def test_savings_plan_in_another_currency_is_refused() -> None:
    session = _StubbedSession()
    session.stubbers["savingsplans"].add_response(
        "describe_savings_plans",
        {"savingsPlans": [{"savingsPlanId": "x", "savingsPlanArn": "arn:x", "start": "2026-01-01",
                           "end": "2027-01-01", "currency": "CNY", "commitment": "10"}]},
    )  # fmt: skip
    session.stubbers["savingsplans"].activate()
    with pytest.raises(ValueError, match="savings plan x: amounts in CNY"):
        savings_plans(session.client("savingsplans"))
