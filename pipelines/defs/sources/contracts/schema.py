"""The schema of ``contracts/commitments.yaml``: what the company committed to or owns.

Five kinds of contract, one list. Money is US dollars; times are UTC (a date means midnight
UTC). Examples for every kind are in ``docs/contracts.md``; the schema is checked with pydantic
and every error names the contract (by its ``id``, else its position) and the field.

How each kind becomes cost (``dbt_project/models/intermediate/commitments``):

* ``savings_plan``, ``reservation``: the cloud bill already amortizes them (CUR savings-plan and
  reservation effective cost, FOCUS EffectiveCost). They are listed for their utilization and
  never add cost: the bill's dollars are counted once.
* ``capacity_block``: AWS EC2 Capacity Blocks are prepaid; their usage lines read $0.00/h. The
  purchase price is spread evenly over the block's hours and is GPU cost of the block's
  instances while they run; hours with no running instance are unused commitment.
* ``neocloud``: multi-year GPU contracts (CoreWeave, Lambda, Nebius, ...): upfront spread over
  the term, plus an hourly (per GPU) or monthly fee raised by the escalator on every
  anniversary. Contracted GPUs with no running host are unused commitment.
* ``owned``: straight-line depreciation of (purchase - salvage) over the useful life, monthly
  opex spread over each month's hours, and energy measured by NVML x power price x PUE.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Money = Annotated[Decimal, Field(ge=0, max_digits=28, decimal_places=10)]


def _utc(value: object) -> object:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value  # pydantic reports it
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")
    description: str | None = None
    start: datetime
    end: datetime | None = None
    term_months: int | None = Field(default=None, gt=0, le=240)
    # Cloud resource ids (instance ids, VM names, host ids of the collector's config) whose GPUs
    # the contract pays for.
    resource_ids: tuple[str, ...] = ()

    @field_validator("start", "end", mode="before")
    @classmethod
    def _as_utc(cls, value: object) -> object:
        return _utc(value)

    @model_validator(mode="after")
    def _one_term(self) -> _Contract:
        if (self.end is None) == (self.term_months is None):
            raise ValueError("give exactly one of end and term_months")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} is not after start")
        return self

    @property
    def end_at(self) -> datetime:
        if self.end is not None:
            return self.end
        months = self.start.month - 1 + (self.term_months or 0)
        year, month = self.start.year + months // 12, months % 12 + 1
        # Jan 31 + 1 month ends on the last day of February.
        day = min(self.start.day, calendar.monthrange(year, month)[1])
        return self.start.replace(year=year, month=month, day=day)


class CloudCommitment(_Contract):
    """A savings plan or reservation the provider bills and amortizes itself."""

    kind: Literal["savings_plan", "reservation"]
    provider: str
    # The id on the bill: savings plan ARN, reservation id, FOCUS CommitmentDiscountId.
    commitment_id: str = Field(min_length=1)
    hourly_commitment_usd: Money | None = None
    upfront_usd: Money = Decimal(0)
    # Share of the commitment bought for GPUs. Default: measured from the bill, as the GPU
    # share of the usage it covered in the billing period.
    gpu_share: Decimal | None = Field(default=None, ge=0, le=1)


class CapacityBlock(_Contract):
    kind: Literal["capacity_block"]
    provider: Literal["aws"] = "aws"
    instance_type: str = Field(min_length=1)
    instance_count: int = Field(gt=0)
    upfront_usd: Money


class EarlyTermination(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    notice_days: int = Field(ge=0)
    fee_usd: Money | None = None
    fee_share_of_remaining: Decimal | None = Field(default=None, ge=0, le=1)


class NeocloudContract(_Contract):
    kind: Literal["neocloud"]
    provider: str = Field(min_length=1)
    gpu_model: str = Field(min_length=1)
    gpu_count: int = Field(gt=0)
    upfront_usd: Money = Decimal(0)
    hourly_fee_usd_per_gpu: Money | None = None
    monthly_fee_usd: Money | None = None
    # Raise of the fees on every anniversary of the start, e.g. 0.03 for 3 % a year.
    escalator_per_year: Decimal = Field(default=Decimal(0), ge=0, le=1)
    early_termination: EarlyTermination | None = None

    @model_validator(mode="after")
    def _one_fee(self) -> NeocloudContract:
        if self.hourly_fee_usd_per_gpu is not None and self.monthly_fee_usd is not None:
            raise ValueError("give hourly_fee_usd_per_gpu or monthly_fee_usd, not both")
        if not self.resource_ids:
            raise ValueError("resource_ids: name the hosts the contract's GPUs run on")
        return self


class OwnedHardware(_Contract):
    """Owned GPUs: ``start`` is the in-service date; the term is the useful life."""

    kind: Literal["owned"]
    gpu_model: str = Field(min_length=1)
    gpu_count: int = Field(gt=0)
    purchase_price_usd: Money
    salvage_value_usd: Money = Decimal(0)
    useful_life_years: int = Field(gt=0, le=20)
    power_price_usd_per_kwh: Money
    pue: Decimal = Field(ge=1, le=3)
    opex_usd_per_month: Money = Decimal(0)

    @model_validator(mode="before")
    @classmethod
    def _life_is_the_term(cls, data: object) -> object:
        if isinstance(data, dict) and "in_service" in data:
            data = dict(data)
            data["start"] = data.pop("in_service")
        if isinstance(data, dict) and "useful_life_years" in data and "term_months" not in data:
            life = data["useful_life_years"]
            if isinstance(life, int) and not isinstance(life, bool):
                data = {**data, "term_months": 12 * life}
        return data

    @model_validator(mode="after")
    def _salvage_below_price(self) -> OwnedHardware:
        if self.salvage_value_usd > self.purchase_price_usd:
            raise ValueError("salvage_value_usd is more than purchase_price_usd")
        if not self.resource_ids:
            raise ValueError("resource_ids: name the hosts the GPUs are in")
        return self


Contract = Annotated[
    CloudCommitment | CapacityBlock | NeocloudContract | OwnedHardware,
    Field(discriminator="kind"),
]


class CommitmentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    contracts: tuple[Contract, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> CommitmentsFile:
        seen: set[str] = set()
        for contract in self.contracts:
            if contract.id in seen:
                raise ValueError(f"contract id {contract.id!r} is used twice")
            seen.add(contract.id)
        return self
