"""Ground truth straight from the generator's model, in plain Python with exact decimals.

This deliberately shares no code with the dbt models: it walks the model's GPU-minutes and
requests and applies DESIGN.md's allocation rules 1, 2, 5 and 6 directly.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from pipelines.synth.fleet import Fleet

UNALLOCATED = "(unallocated)"
REFERENCE = Path(__file__).resolve().parents[1] / "reference"
CENT = Decimal("0.000001")


@dataclass
class WorkloadDay:
    attributed: Decimal = Decimal(0)
    idle: Decimal = Decimal(0)
    useful_prompt_tokens: int = 0
    useful_completion_tokens: int = 0
    api_cost: Decimal = Decimal(0)


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


def compute_truth(fleet: Fleet) -> dict[str, Any]:
    per_workload: dict[tuple[date, str], WorkloadDay] = defaultdict(WorkloadDay)
    gpu_cost: dict[date, Decimal] = defaultdict(Decimal)
    unallocated: dict[date, Decimal] = defaultdict(Decimal)

    for host in fleet.hosts:
        cost_per_second = host.gpu_hour_cost() / 3600
        for gpu in range(host.gpu_count):
            for minute in range(fleet.days * 24 * 60):
                day = fleet.start + timedelta(days=minute // 1440)
                if minute % 60 == 0:
                    gpu_cost[day] += host.gpu_hour_cost()
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
                    "gpu_hour_cost_usd": _money(h.gpu_hour_cost()),
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
