"""Import AWS commitments with boto3 into the commitments.yaml model.

* Savings Plans (``savingsplans.describe_savings_plans``): kind ``savings_plan``, hourly
  commitment and upfront payment as AWS states them.
* EC2 Reserved Instances (``ec2.describe_reserved_instances``): kind ``reservation``; hourly =
  (usage price + hourly recurring charges) x instance count, upfront = fixed price x count.
* EC2 Capacity Reservations (``ec2.describe_capacity_reservations``): on-demand reservations
  (``ReservationType`` ``default``) are billed hourly on the CUR, so they are kind
  ``reservation``; Capacity Blocks (``capacity-block``) are kind ``capacity_block``. The API does
  not return what a block cost, so its ``upfront_usd`` is left empty with a comment: the file
  fails validation, naming that field, until the price from the purchase is filled in.

Credentials, region and endpoint come from the standard AWS chain (``AWS_ENDPOINT_URL`` for a
local server); nothing is written but the YAML file. Amounts in another currency are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import yaml

ACTIVE_PLAN_STATES = ["active", "queued", "payment-pending"]


def _iso(moment: datetime | str) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _usd(amount: object, currency: str | None, where: str) -> Decimal:
    if currency not in (None, "", "USD"):
        raise ValueError(f"{where}: amounts in {currency}; gpuledger's contracts are in USD")
    return Decimal(str(amount or 0))


def _tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t.get("Key", t.get("key", "")): t.get("Value", t.get("value", "")) for t in tags or []}


def savings_plans(client: Any) -> list[dict[str, Any]]:
    contracts = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"states": ACTIVE_PLAN_STATES}
        if token:
            kwargs["nextToken"] = token
        page = client.describe_savings_plans(**kwargs)
        for plan in page.get("savingsPlans", []):
            where = f"savings plan {plan['savingsPlanId']}"
            contracts.append(
                {
                    "id": f"aws-sp-{plan['savingsPlanId']}",
                    "kind": "savings_plan",
                    "provider": "aws",
                    "description": " ".join(
                        p
                        for p in (
                            plan.get("savingsPlanType"),
                            plan.get("paymentOption"),
                            plan.get("ec2InstanceFamily"),
                        )
                        if p
                    ),
                    "commitment_id": plan["savingsPlanArn"],
                    "start": _iso(plan["start"]),
                    "end": _iso(plan["end"]),
                    "hourly_commitment_usd": _usd(
                        plan.get("commitment"), plan.get("currency"), where
                    ),
                    "upfront_usd": _usd(
                        plan.get("upfrontPaymentAmount"), plan.get("currency"), where
                    ),
                }
            )
        token = page.get("nextToken")
        if not token:
            return contracts


def reserved_instances(client: Any) -> list[dict[str, Any]]:
    page = client.describe_reserved_instances(
        Filters=[{"Name": "state", "Values": ["active", "payment-pending"]}]
    )
    contracts = []
    for ri in page.get("ReservedInstances", []):
        where = f"reserved instances {ri['ReservedInstancesId']}"
        count = int(ri.get("InstanceCount") or 1)
        recurring = sum(
            (
                Decimal(str(c.get("Amount") or 0))
                for c in ri.get("RecurringCharges", [])
                if c.get("Frequency") == "Hourly"
            ),
            Decimal(0),
        )
        hourly = (_usd(ri.get("UsagePrice"), ri.get("CurrencyCode"), where) + recurring) * count
        offering = ri.get("OfferingType", "")
        contracts.append(
            {
                "id": f"aws-ri-{ri['ReservedInstancesId']}",
                "kind": "reservation",
                "provider": "aws",
                "description": f"{count} x {ri['InstanceType']} {offering}".strip(),
                "commitment_id": ri["ReservedInstancesId"],
                "start": _iso(ri["Start"]),
                "end": _iso(ri["End"]),
                "hourly_commitment_usd": hourly,
                "upfront_usd": _usd(ri.get("FixedPrice"), ri.get("CurrencyCode"), where) * count,
            }
        )
    return contracts


def capacity_reservations(client: Any) -> list[dict[str, Any]]:
    contracts = []
    token = None
    while True:
        kwargs: dict[str, Any] = {
            "Filters": [{"Name": "state", "Values": ["active", "scheduled", "payment-pending"]}]
        }
        if token:
            kwargs["NextToken"] = token
        page = client.describe_capacity_reservations(**kwargs)
        for cr in page.get("CapacityReservations", []):
            end = cr.get("EndDate")
            if end is None:
                # An open-ended on-demand reservation: billed hourly on the CUR until cancelled.
                continue
            contract: dict[str, Any] = {
                "id": f"aws-cr-{cr['CapacityReservationId']}",
                "description": _tags(cr.get("Tags")).get("Name")
                or f"{cr['TotalInstanceCount']} x {cr['InstanceType']}",
                "start": _iso(cr.get("StartDate") or cr["CreateDate"]),
                "end": _iso(end),
            }
            if cr.get("ReservationType") == "capacity-block":
                contract.update(
                    kind="capacity_block",
                    instance_type=cr["InstanceType"],
                    instance_count=int(cr["TotalInstanceCount"]),
                    upfront_usd=None,
                )
            else:
                contract.update(
                    kind="reservation",
                    provider="aws",
                    commitment_id=cr["CapacityReservationArn"],
                )
            contracts.append(contract)
        token = page.get("NextToken")
        if not token:
            return contracts


def import_aws(session: Any) -> list[dict[str, Any]]:
    """Every AWS commitment the session's account can see, as commitments.yaml contracts."""
    ec2 = session.client("ec2")
    return [
        *savings_plans(session.client("savingsplans", region_name="us-east-1")),
        *reserved_instances(ec2),
        *capacity_reservations(ec2),
    ]


def to_yaml(contracts: list[dict[str, Any]]) -> str:
    """The contracts as a commitments.yaml document (decimals as plain numbers)."""

    def plain(value: object) -> object:
        if isinstance(value, Decimal):
            return float(value) if value != value.to_integral_value() else int(value)
        return value

    document = {"version": 1, "contracts": [{k: plain(v) for k, v in c.items()} for c in contracts]}
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return (
        "# Imported from AWS by `gpuledger contracts import-aws`. Capacity Blocks need the\n"
        "# price of their purchase in upfront_usd (the EC2 API does not return it).\n"
        + text.replace(
            "upfront_usd: null", "upfront_usd: null  # fill in: price paid for the block"
        )
    )
