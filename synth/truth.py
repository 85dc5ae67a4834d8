"""Ground truth straight from the generator's model, in plain Python with exact decimals.

This deliberately shares no code with the dbt models: it walks the model's GPU-minutes and
requests and applies DESIGN.md's allocation rules 1, 2, 5 and 6 directly.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipelines.lib.paths import REFERENCE_DIR
from synth.calibration import DEMO_OBJECTIVES, meets_objectives
from synth.fleet import Fleet, Host, demo_base

UNALLOCATED = "(unallocated)"
REFERENCE = REFERENCE_DIR
CENT = Decimal("0.000001")


@dataclass
class WorkloadDay:
    attributed: Decimal = Decimal(0)
    idle: Decimal = Decimal(0)
    useful_prompt_tokens: int = 0
    useful_completion_tokens: int = 0
    api_cost: Decimal = Decimal(0)
    # Useful tokens of requests served within their workload's objectives.
    goodput_tokens: int = 0


def _api_prices() -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """Served model -> (input, cached input, output) $/token, read from the bundled files."""
    book = json.loads((REFERENCE / "model_prices.json").read_text())
    with (REFERENCE / "api_equivalents.csv").open(newline="") as handle:
        pairs = {r["served_model"]: r["api_model"] for r in csv.DictReader(handle)}
    prices = {}
    for served, api in pairs.items():
        entry = book[api]
        input_price = Decimal(str(entry["input_cost_per_token"]))
        cached = Decimal(
            str(entry.get("cache_read_input_token_cost", entry["input_cost_per_token"]))
        )
        prices[served] = (input_price, cached, Decimal(str(entry["output_cost_per_token"])))
    return prices


def _hours_between(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 3600)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _host_hour_costs(fleet: Fleet, host: Host, hour: datetime) -> tuple[Decimal, Decimal]:
    """(cost of each of the host's GPUs in this hour, unused commitment of its contract)."""
    if host.billing == "aws":
        return host.gpu_hour_cost(), Decimal(0)
    if host.billing == "capacity_block":
        block = next(b for b in fleet.capacity_blocks if b.host == host.name)
        hourly = block.upfront_usd / _hours_between(block.start_at, block.end_at)
        contract_gpus = block.instance_count * host.gpu_count
        return hourly / contract_gpus, hourly * (contract_gpus - host.gpu_count) / contract_gpus
    if host.billing == "neocloud":
        deal = next(d for d in fleet.neocloud_deals if d.host == host.name)
        start = _midnight(deal.start)
        end = _midnight(_add_months(deal.start, deal.term_months))
        years = 0
        while _midnight(_add_months(deal.start, 12 * (years + 1))) <= hour:
            years += 1
        contract_gpus = 2 * deal.gpus_per_host
        hourly = deal.hourly_fee_usd_per_gpu * contract_gpus * (
            1 + deal.escalator_per_year
        ) ** years + deal.upfront_usd / _hours_between(start, end)
        return hourly / contract_gpus, hourly * (contract_gpus - host.gpu_count) / contract_gpus
    owned = next(o for o in fleet.owned_deals if o.host == host.name)
    life_start = _midnight(owned.in_service)
    life_end = _midnight(_add_months(owned.in_service, 12 * owned.useful_life_years))
    month_start = hour.replace(day=1, hour=0)
    month_hours = _hours_between(month_start, _midnight(_add_months(month_start.date(), 1)))
    fixed = (owned.purchase_price_usd - owned.salvage_value_usd) / _hours_between(
        life_start, life_end
    ) + owned.opex_usd_per_month / month_hours
    # Energy the collector measured on the host in this hour (joules -> kWh), x price x PUE.
    first_minute = int((hour - fleet.start_at).total_seconds() // 60)
    joules = Decimal(0)
    for gpu in range(host.gpu_count):
        for minute in range(first_minute, first_minute + 60):
            samples = fleet.minute_samples(host, gpu, minute)
            if samples is not None:
                joules += Decimal(str(host.power_w(samples))) * 60
    energy = joules / 3_600_000 * owned.power_price_usd_per_kwh * owned.pue
    return (fixed + energy) / host.gpu_count, Decimal(0)


def compute_truth(fleet: Fleet) -> dict[str, Any]:
    per_workload: dict[tuple[date, str], WorkloadDay] = defaultdict(WorkloadDay)
    gpu_cost: dict[date, Decimal] = defaultdict(Decimal)
    aws_billed: dict[date, Decimal] = defaultdict(Decimal)
    unallocated: dict[date, Decimal] = defaultdict(Decimal)
    unused: dict[date, Decimal] = defaultdict(Decimal)

    for host in fleet.hosts:
        hour_costs = []
        for hour in fleet.hours:
            per_gpu, unused_hour = _host_hour_costs(fleet, host, hour)
            hour_costs.append(per_gpu)
            day = hour.date()
            unused[day] += unused_hour
            gpu_cost[day] += unused_hour
            if host.billing == "aws":
                aws_billed[day] += per_gpu * host.gpu_count
        for gpu in range(host.gpu_count):
            for minute in range(fleet.days * 24 * 60):
                day = fleet.start + timedelta(days=minute // 1440)
                cost_per_second = hour_costs[minute // 60] / 3600
                if minute % 60 == 0:
                    gpu_cost[day] += hour_costs[minute // 60]
                samples = fleet.minute_samples(host, gpu, minute)
                if samples is None:
                    unallocated[day] += cost_per_second * 60
                    continue
                idle_seconds = Decimal(60)
                for s in samples:
                    busy = Decimal(str(s.busy_share)) * 60
                    per_workload[(day, s.workload)].attributed += cost_per_second * busy
                    idle_seconds -= busy
                held = sum(s.memory_used_bytes for s in samples if s.memory_used_bytes > 0)
                if held == 0:
                    unallocated[day] += cost_per_second * idle_seconds
                    continue
                for s in samples:
                    if s.memory_used_bytes > 0:
                        share = Decimal(s.memory_used_bytes) / Decimal(held)
                        per_workload[(day, s.workload)].idle += (
                            cost_per_second * idle_seconds * share
                        )

    api_prices = _api_prices()
    for request in fleet.all_requests:
        if request.useful:
            wd = per_workload[(request.created_at.date(), request.workload)]
            prompt = request.prompt_tokens or 0
            completion = request.completion_tokens or 0
            wd.useful_prompt_tokens += prompt
            wd.useful_completion_tokens += completion
            objectives = DEMO_OBJECTIVES.get(demo_base(request.workload))
            assert request.time_to_first_token_ms is not None
            assert request.duration_ms is not None
            if objectives is not None and meets_objectives(
                objectives, request.time_to_first_token_ms, request.duration_ms, completion
            ):
                wd.goodput_tokens += prompt + completion
            input_price, cached_price, output_price = api_prices[request.model]
            wd.api_cost += (
                (prompt - request.cached_tokens) * input_price
                + request.cached_tokens * cached_price
                + completion * output_price
            )

    rows = []
    for (day, name), wd in sorted(per_workload.items()):
        cost = wd.attributed + wd.idle
        tokens = wd.useful_prompt_tokens + wd.useful_completion_tokens
        rows.append(
            {
                "date": day.isoformat(),
                "workload": name,
                "model": fleet.workloads[name].model,
                "attributed_cost_usd": _money(wd.attributed),
                "idle_cost_usd": _money(wd.idle),
                "cost_usd": _money(cost),
                "useful_prompt_tokens": wd.useful_prompt_tokens,
                "useful_completion_tokens": wd.useful_completion_tokens,
                "useful_tokens": tokens,
                "cost_per_million_useful_tokens": _money(cost * 1_000_000 / tokens)
                if tokens
                else None,
                "api_equivalent_cost_usd": _money(wd.api_cost) if name != UNALLOCATED else None,
                # Unknown for a workload without objectives that served useful tokens.
                "goodput_tokens": wd.goodput_tokens
                if demo_base(name) in DEMO_OBJECTIVES or not tokens
                else None,
            }
        )
    daily = []
    for day in fleet.dates:
        attributed = sum(
            (wd.attributed for (d, _), wd in per_workload.items() if d == day), Decimal(0)
        )
        idle = sum((wd.idle for (d, _), wd in per_workload.items() if d == day), Decimal(0))
        daily.append(
            {
                "date": day.isoformat(),
                "gpu_cost_usd": _money(gpu_cost[day]),
                "aws_billed_gpu_cost_usd": _money(aws_billed[day]),
                "unused_commitment_usd": _money(unused[day]),
                "attributed_cost_usd": _money(attributed),
                "idle_cost_usd": _money(idle),
                "unallocated_cost_usd": _money(unallocated[day]),
            }
        )
    return {
        "generator": {
            "seed": fleet.seed,
            "start": fleet.start.isoformat(),
            "days": fleet.days,
            "gpus": fleet.gpu_count,
            "hosts": [
                {
                    "host": h.name,
                    "instance_id": h.instance_id,
                    "instance_type": h.instance_type.name,
                    "savings_plan": h.savings_plan,
                    "billing": h.billing,
                    "gpu_hour_cost_usd": _money(h.gpu_hour_cost()) if h.billing == "aws" else None,
                    "workloads": sorted({p.workload for p in h.placements}),
                }
                for h in fleet.hosts
            ],
        },
        "workload_days": rows,
        "daily": daily,
    }


def _money(value: Decimal) -> str:
    """Six decimals as a string: well below a cent, and exact in JSON."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))
