"""The generator's own model of a fleet: hosts, GPUs, workloads, bills, busy time and requests.

Everything the writers emit and everything ``truth.json`` states comes from this model; the truth
is computed here in plain Python (``synth.truth``), never by reading the files back.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property

from synth.calibration import (
    REQUEST_SHAPES,
    RequestShape,
    peak_requests_per_hour,
    request_latency,
)

GIB = 1024**3


@dataclass(frozen=True)
class InstanceType:
    name: str
    gpu_model: str
    gpu_count: int
    gpu_memory_bytes: int
    # On-demand $/h, us-east-1 Linux. p5 and p4d: the prices after AWS's June 2025 cut
    # (p4d.24xlarge $32.7726 -> $21.96, see shared/samples/SOURCES.md); g5.xlarge: list price.
    on_demand_usd_per_hour: Decimal
    util_source: str
    idle_power_w: float
    max_power_w: float


INSTANCE_TYPES: dict[str, InstanceType] = {
    t.name: t
    for t in (
        InstanceType(
            "p5.48xlarge",
            "NVIDIA H100 80GB HBM3",
            8,
            80 * GIB,
            Decimal("55.04"),
            "gpm_sm_util",
            70.0,
            700.0,
        ),
        InstanceType(
            "p4d.24xlarge",
            "NVIDIA A100-SXM4-40GB",
            8,
            40 * GIB,
            Decimal("21.96"),
            "graphics_engine_activity",
            55.0,
            400.0,
        ),
        InstanceType(
            "g5.xlarge",
            "NVIDIA A10G",
            1,
            24 * GIB,
            Decimal("1.006"),
            "nvml_utilization_gpu",
            25.0,
            300.0,
        ),
    )
}

# A 1-year no-upfront Compute Savings Plan rate as a share of on-demand (illustrative, fixed so
# that the truth is exact).
SAVINGS_PLAN_RATE = Decimal("0.72")
ACCOUNT_ID = "111122223333"
REGION = "us-east-1"
SAVINGS_PLAN_ARN = (
    f"arn:aws:savingsplans::{ACCOUNT_ID}:savingsplan/3f1c2a9e-5b7d-4e0a-9c8b-1a2b3c4d5e6f"
)


@dataclass(frozen=True)
class WorkloadPlacement:
    workload: str
    gpu_indexes: tuple[int, ...]
    base_busy: float  # mean busy share at the diurnal peak
    memory_share: float  # share of GPU memory the workload's process holds


@dataclass(frozen=True)
class Workload:
    name: str
    model: str
    requests_per_hour: int  # at the diurnal peak
    shape: RequestShape
    all_requests_fail: bool = False


@dataclass(frozen=True)
class Host:
    name: str
    instance_id: str
    instance_type: InstanceType
    savings_plan: bool
    placements: tuple[WorkloadPlacement, ...]
    # Minutes (from the fleet start) during which the collector wrote nothing for GPU 0.
    collector_gap_minutes: tuple[int, int] | None = None
    # Who charges for the host: "aws" (on-demand, or the savings plan when savings_plan is set),
    # "capacity_block" (a prepaid AWS block: $0.00 usage lines), "neocloud" (a contract, no cloud
    # bill) or "owned" (bought; depreciation, opex and measured energy).
    billing: str = "aws"

    @property
    def gpu_count(self) -> int:
        return self.instance_type.gpu_count

    def gpu_uuid(self, index: int) -> str:
        digest = f"{abs(hash_str(self.instance_id + str(index))):032x}"[:32]
        return f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def power_w(self, samples: list[ProcessSample]) -> float:
        """The GPU's draw in a minute with these process samples (idle draw + busy share)."""
        busy = min(1.0, sum(s.busy_share for s in samples))
        itype = self.instance_type
        return itype.idle_power_w + busy * (itype.max_power_w - itype.idle_power_w)

    def gpu_hour_cost(self) -> Decimal:
        """Effective (amortized) cost of one GPU for one hour, as the final bill states it."""
        rate = self.instance_type.on_demand_usd_per_hour
        if self.savings_plan:
            rate = rate * SAVINGS_PLAN_RATE
        return rate / self.gpu_count


def hash_str(text: str) -> int:
    """A stable 128-bit hash (Python's hash() is salted per process)."""
    acc = 0xCBF29CE484222325
    for ch in text.encode():
        acc = ((acc ^ ch) * 0x100000001B3) % (1 << 128)
    return acc


@dataclass(frozen=True)
class CapacityBlockDeal:
    """An AWS Capacity Block bought for two instances; only the fleet's host is launched."""

    contract_id: str
    host: str
    instance_count: int
    usd_per_instance_hour: Decimal
    start_at: datetime
    end_at: datetime

    @property
    def upfront_usd(self) -> Decimal:
        hours = int((self.end_at - self.start_at).total_seconds() // 3600)
        return self.usd_per_instance_hour * self.instance_count * hours


@dataclass(frozen=True)
class NeocloudDeal:
    """A two-host neocloud contract; the second host never comes up (unused commitment)."""

    contract_id: str
    host: str
    idle_resource_id: str
    gpus_per_host: int
    start: date
    term_months: int
    upfront_usd: Decimal
    hourly_fee_usd_per_gpu: Decimal
    escalator_per_year: Decimal


@dataclass(frozen=True)
class OwnedDeal:
    contract_id: str
    host: str
    gpu_count: int
    in_service: date
    useful_life_years: int
    purchase_price_usd: Decimal
    salvage_value_usd: Decimal
    power_price_usd_per_kwh: Decimal
    pue: Decimal
    opex_usd_per_month: Decimal


@dataclass(frozen=True)
class ProcessSample:
    workload: str
    pid: int
    busy_share: float
    memory_used_bytes: int


@dataclass(frozen=True)
class Request:
    request_id: str
    created_at: datetime
    host: str
    workload: str
    model: str
    status: int
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int
    reasoning_tokens: int
    attempt: int
    retry_of: str | None
    synthetic: bool
    # The generator's own verdict: does this request count as useful?
    useful: bool
    time_to_first_token_ms: float | None = None
    duration_ms: float | None = None


@dataclass
class Fleet:
    seed: int
    start: date
    days: int
    hosts: list[Host]
    workloads: dict[str, Workload]
    capacity_blocks: tuple[CapacityBlockDeal, ...] = ()
    neocloud_deals: tuple[NeocloudDeal, ...] = ()
    owned_deals: tuple[OwnedDeal, ...] = ()

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def hours(self) -> list[datetime]:
        return [self.start_at + timedelta(hours=h) for h in range(self.days * 24)]

    @property
    def gpu_count(self) -> int:
        return sum(h.gpu_count for h in self.hosts)

    @property
    def billing_periods(self) -> list[str]:
        return sorted({d.strftime("%Y-%m") for d in self.dates})

    def rng(self, *key: object) -> random.Random:
        # str seeds are hashed with SHA-512 by random.seed: stable across processes and fast.
        return random.Random(f"{self.seed}|" + "|".join(map(str, key)))

    # --- telemetry -------------------------------------------------------------------------

    def minute_samples(self, host: Host, gpu_index: int, minute: int) -> list[ProcessSample] | None:
        """Process samples for one GPU-minute, or None when the collector recorded nothing."""
        gap = host.collector_gap_minutes
        if gap is not None and gpu_index == 0 and gap[0] <= minute < gap[1]:
            return None
        at = self.start_at + timedelta(minutes=minute)
        # Diurnal load: peak at 15:00 UTC, trough at 03:00 UTC.
        diurnal = 0.55 + 0.45 * math.cos((at.hour + at.minute / 60 - 15) / 24 * 2 * math.pi)
        rng = self.rng("busy", host.name, gpu_index, minute)
        samples = []
        for i, placement in enumerate(host.placements):
            if gpu_index not in placement.gpu_indexes:
                continue
            busy = placement.base_busy * diurnal * (0.8 + 0.4 * rng.random())
            samples.append(
                ProcessSample(
                    workload=placement.workload,
                    pid=4000 + 100 * i + gpu_index,
                    busy_share=busy,
                    memory_used_bytes=int(
                        host.instance_type.gpu_memory_bytes * placement.memory_share
                    ),
                )
            )
        total = sum(s.busy_share for s in samples)
        scale = 0.97 / total if total > 0.97 else 1.0
        # The collector writes shares rounded to 4 decimals; those rounded values are the truth.
        return [
            ProcessSample(s.workload, s.pid, round(s.busy_share * scale, 4), s.memory_used_bytes)
            for s in samples
        ]

    # --- inference requests ----------------------------------------------------------------

    def requests(self) -> Iterator[Request]:
        for name, workload in sorted(self.workloads.items()):
            hosts = [h for h in self.hosts if any(p.workload == name for p in h.placements)]
            for hour_index, hour in enumerate(self.hours):
                yield from self._hour_requests(workload, hosts, hour_index, hour)

    def _hour_requests(
        self, workload: Workload, hosts: list[Host], hour_index: int, hour: datetime
    ) -> Iterator[Request]:
        rng = self.rng("requests", workload.name, hour_index)
        diurnal = 0.55 + 0.45 * math.cos((hour.hour + 0.5 - 15) / 24 * 2 * math.pi)
        count = max(1, round(workload.requests_per_hour * diurnal * (0.85 + 0.3 * rng.random())))
        seq = 0

        def new_id() -> str:
            nonlocal seq
            seq += 1
            return f"req-{workload.name}-{hour_index:05d}-{seq:05d}"

        for n in range(count):
            host = hosts[n % len(hosts)].name
            gpu_model = hosts[n % len(hosts)].instance_type.gpu_model
            # How crowded the server was: a tenth of requests each at 1.00, 1.06, ... 1.54
            # (not drawn from the generator, so every other figure of the fleet stays as it is).
            load = 1 + 0.06 * (n % 10)
            created = hour + timedelta(seconds=rng.randrange(0, 3600 - 120))
            shape = workload.shape
            prompt = int(rng.lognormvariate(shape.prompt_mu, shape.prompt_sigma))
            prompt += shape.prompt_floor
            completion = int(rng.lognormvariate(shape.completion_mu, shape.completion_sigma))
            completion += shape.completion_floor
            cached = (prompt // 2) if rng.random() < 0.3 else 0
            roll = rng.random()
            if workload.all_requests_fail:
                fates = ("error", "timeout", "abort")
                fate = fates[n % 3]
            elif roll < 0.80:
                fate = "stop"
            elif roll < 0.84:
                fate = "length"
            elif roll < 0.87:
                fate = "tool_calls"
            elif roll < 0.90:
                fate = "error"
            elif roll < 0.92:
                fate = "abort"
            elif roll < 0.93:
                fate = "timeout"
            elif roll < 0.96:
                fate = "retried_then_ok"
            else:
                fate = "late_success_retried"

            def make(
                rid: str,
                at: datetime,
                status: int,
                finish: str | None,
                p_tok: int | None,
                c_tok: int | None,
                attempt: int = 1,
                retry_of: str | None = None,
                useful: bool = False,
                host: str = host,
                cached: int = cached,
                gpu_model: str = gpu_model,
                load: float = load,
            ) -> Request:
                first, whole = request_latency(
                    workload.model, gpu_model, p_tok or 0, c_tok or 0, load
                )
                return Request(
                    rid,
                    at,
                    host,
                    workload.name,
                    workload.model,
                    status,
                    finish,
                    p_tok,
                    c_tok,
                    cached,
                    0,
                    attempt,
                    retry_of,
                    synthetic=False,
                    useful=useful,
                    time_to_first_token_ms=first,
                    duration_ms=whole,
                )

            rid = new_id()
            if fate in ("stop", "length", "tool_calls"):
                yield make(rid, created, 200, fate, prompt, completion, useful=True)
            elif fate == "error":
                yield make(rid, created, 503 if n % 2 else 500, None, None, None)
            elif fate == "abort":
                yield make(rid, created, 499, "abort", prompt, completion // 3)
            elif fate == "timeout":
                yield make(rid, created, 504, None, prompt, completion // 2)
            else:
                # First attempt: a 503, or a 200 the client gave up on; the retry is what counts.
                if fate == "late_success_retried":
                    yield make(rid, created, 200, "stop", prompt, completion)
                else:
                    yield make(rid, created, 503, None, None, None)
                yield make(
                    new_id(),
                    created + timedelta(seconds=30),
                    200,
                    "stop",
                    prompt,
                    completion,
                    attempt=2,
                    retry_of=rid,
                    useful=True,
                )
        # Load-balancer health checks every 10 minutes per host: synthetic, never useful.
        for host_ in hosts:
            for minute in range(0, 60, 10):
                yield Request(
                    new_id(),
                    hour + timedelta(minutes=minute, seconds=7),
                    host=host_.name,
                    workload=workload.name,
                    model=workload.model,
                    status=200,
                    finish_reason="length",
                    prompt_tokens=1,
                    completion_tokens=1,
                    cached_tokens=0,
                    reasoning_tokens=0,
                    attempt=1,
                    retry_of=None,
                    synthetic=True,
                    useful=False,
                )

    @cached_property
    def all_requests(self) -> list[Request]:
        return list(self.requests())


MODELS = {
    "chat-assistant": "meta-llama/Llama-3.1-70B-Instruct",
    "rag-search": "mistralai/Mistral-7B-Instruct-v0.3",
    "code-complete": "Qwen/Qwen2.5-Coder-7B-Instruct",
    "doc-summarize": "meta-llama/Llama-3.1-8B-Instruct",
    "translate-canary": "google/gemma-2-9b-it",
}
ROLES = ("dedicated", "shared", "idle", "failing")


def demo_base(workload: str) -> str:
    """The kind of a demo workload: ``chat-assistant-2`` is a second chat-assistant."""
    base, _, occurrence = workload.rpartition("-")
    return base if occurrence.isdigit() and base in MODELS else workload


def _host_types(gpus: int) -> list[InstanceType]:
    """p5 and p4d hosts while 8 or more GPUs remain, then single-GPU g5 hosts."""
    types: list[InstanceType] = []
    remaining = gpus
    big = (INSTANCE_TYPES["p5.48xlarge"], INSTANCE_TYPES["p4d.24xlarge"])
    while remaining >= 8:
        types.append(big[len(types) % 2])
        remaining -= 8
    types.extend(INSTANCE_TYPES["g5.xlarge"] for _ in range(remaining))
    return types


def build_fleet(
    gpus: int = 18,
    days: int = 3,
    seed: int = 7,
    start: date | None = None,
    contracts: bool = True,
) -> Fleet:
    """A fleet of ``gpus`` GPUs over ``days`` days whose hosts cycle through four roles.

    dedicated: one workload on every GPU; shared: half the GPUs to one workload, the other half
    shared by two workloads (a one-GPU host shares its GPU); idle: a host with no workload;
    failing: a workload that holds GPUs but whose requests all fail.

    With ``contracts`` (the default) the first shared host runs in an AWS Capacity Block bought
    for two instances, the first idle host is owned hardware, and the first failing host is on a
    two-host neocloud contract; every other host is billed by AWS (dedicated hosts under the
    savings plan).
    """
    if gpus < 1 or days < 1:
        raise ValueError("a fleet needs at least one GPU and one day")
    start = start or date(2026, 10, 30)
    workloads: dict[str, Workload] = {}
    hosts: list[Host] = []
    role_counts: dict[str, int] = {}

    def place(
        base: str,
        occurrence: int,
        itype: InstanceType,
        gpu_indexes: tuple[int, ...],
        peak_busy: float,
        memory_share: float,
        fail: bool = False,
    ) -> WorkloadPlacement:
        """A workload of its own on these GPUs, sent the requests that keep them so busy."""
        name = base if occurrence == 0 else f"{base}-{occurrence + 1}"
        rate = peak_requests_per_hour(
            base, MODELS[base], itype.gpu_model, len(gpu_indexes), peak_busy
        )
        workloads[name] = Workload(name, MODELS[base], rate, REQUEST_SHAPES[base], fail)
        return WorkloadPlacement(name, gpu_indexes, peak_busy, memory_share)

    for i, itype in enumerate(_host_types(gpus)):
        role = ROLES[i % len(ROLES)]
        occ = role_counts.get(role, 0)
        role_counts[role] = occ + 1
        everything = tuple(range(itype.gpu_count))
        placements: tuple[WorkloadPlacement, ...]
        # Busy shares at the diurnal peak; a day averages 0.55 of the peak (minute_samples).
        if role == "dedicated":
            placements = (place("chat-assistant", occ, itype, everything, 0.12, 0.85),)
        elif role == "shared":
            half = everything[: itype.gpu_count // 2]
            rest = everything[itype.gpu_count // 2 :]
            placements = (
                *([place("rag-search", occ, itype, half, 0.12, 0.7)] if half else []),
                place("code-complete", occ, itype, rest, 0.10, 0.4),
                place("doc-summarize", occ, itype, rest, 0.08, 0.35),
            )
        elif role == "failing":
            placements = (place("translate-canary", occ, itype, everything, 0.05, 0.5, fail=True),)
        else:
            placements = ()
        name = f"{itype.name.split('.')[0]}-{i:03d}"
        instance_id = f"i-{hash_str(f'{seed}-{name}') % (1 << 68):017x}"
        billing = "aws"
        if contracts and occ == 0:
            billing = {"shared": "capacity_block", "idle": "owned", "failing": "neocloud"}.get(
                role, "aws"
            )
        if billing == "neocloud":
            instance_id = f"neo-{name}"
        elif billing == "owned":
            instance_id = f"dc1-{name}"
        hosts.append(
            Host(
                name=name,
                instance_id=instance_id,
                instance_type=itype,
                savings_plan=(role == "dedicated"),
                placements=placements,
                # The first host's collector is down 30 minutes on day one: those GPU-minutes
                # are unallocated cost.
                collector_gap_minutes=(600, 630) if i == 0 else None,
                billing=billing,
            )
        )
    start_at = datetime(start.year, start.month, start.day, tzinfo=UTC)
    blocks = tuple(
        CapacityBlockDeal(
            contract_id=f"cb-{h.name}",
            host=h.name,
            instance_count=2,
            # Capacity Block prices float with demand; this one is below on-demand.
            usd_per_instance_hour=(
                h.instance_type.on_demand_usd_per_hour * Decimal("0.85")
            ).quantize(Decimal("0.0001")),
            start_at=start_at,
            end_at=start_at + timedelta(days=days),
        )
        for h in hosts
        if h.billing == "capacity_block"
    )
    neoclouds = tuple(
        NeocloudDeal(
            contract_id=f"neo-{h.name}",
            host=h.name,
            idle_resource_id=f"neo-{h.name}-b",
            gpus_per_host=h.gpu_count,
            start=date(2026, 1, 1),
            term_months=24,
            upfront_usd=Decimal(1000),
            hourly_fee_usd_per_gpu=Decimal("0.75"),
            escalator_per_year=Decimal("0.04"),
        )
        for h in hosts
        if h.billing == "neocloud"
    )
    owned = tuple(
        OwnedDeal(
            contract_id=f"owned-{h.name}",
            host=h.name,
            gpu_count=h.gpu_count,
            in_service=date(2025, 3, 1),
            useful_life_years=4,
            purchase_price_usd=Decimal(12000) * h.gpu_count,
            salvage_value_usd=Decimal(1000) * h.gpu_count,
            power_price_usd_per_kwh=Decimal("0.12"),
            pue=Decimal("1.3"),
            opex_usd_per_month=Decimal(200) * h.gpu_count,
        )
        for h in hosts
        if h.billing == "owned"
    )
    return Fleet(
        seed=seed,
        start=start,
        days=days,
        hosts=hosts,
        workloads=workloads,
        capacity_blocks=blocks,
        neocloud_deals=neoclouds,
        owned_deals=owned,
    )
