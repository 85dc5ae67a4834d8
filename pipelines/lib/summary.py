"""Read the marts back for the CLI, and check them against a generator's truth.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from pipelines.lib.warehouse import read_sql

# What the marts lack when a kind of source is missing, as the run's summary says it.
MISSING_SOURCE_EFFECTS = {
    "bills": (
        "no bill or contract (aws_cur/, gcp_billing/, focus/, contracts/): GPU cost is unknown "
        "and every token is unmetered"
    ),
    "telemetry": (
        "no GPU telemetry (telemetry/nvml/, telemetry/dcgm/): all GPU cost is unallocated and "
        "every token is unmetered"
    ),
    "requests": ("no request logs (inference/requests/): no useful tokens, so no cost per token"),
}


# fct_workload_unit_cost_daily.unmetered_reason (several: joined with ", "), as a person reads it.
UNMETERED_REASONS = {
    "no_gpu_telemetry": "no GPU telemetry of the workload on its host in those hours",
    "no_gpu_cost": "its GPUs are on no bill or contract",
    "no_gpu_cost, no_gpu_telemetry": "no GPU telemetry, or GPUs on no bill or contract",
}


def query(warehouse: Path, sql_file: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = conn.execute(read_sql(sql_file))
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    finally:
        conn.close()


@dataclass(frozen=True)
class TruthCheck:
    workload_days: int
    max_cost_difference_usd: Decimal
    token_mismatches: int
    max_api_cost_difference_usd: Decimal = Decimal(0)

    @property
    def ok(self) -> bool:
        return (
            self.max_cost_difference_usd < Decimal("0.005")
            and self.max_api_cost_difference_usd < Decimal("0.005")
            and self.token_mismatches == 0
        )


def check_against_truth(warehouse: Path, truth_file: Path) -> TruthCheck:
    """Compare fct_workload_unit_cost_daily with truth.json: cost to the cent, tokens exactly."""
    truth = json.loads(truth_file.read_text())
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = conn.execute(
            "select cast(usage_date as varchar), workload, sum(cost_usd),"
            " sum(useful_prompt_tokens), sum(useful_completion_tokens),"
            " sum(api_equivalent_cost_usd)"
            " from marts.fct_workload_unit_cost_daily group by 1, 2"
        ).fetchall()
    finally:
        conn.close()
    actual = {(r[0], r[1]): r[2:] for r in rows}
    worst = Decimal(0)
    worst_api = Decimal(0)
    mismatches = 0
    for expected in truth["workload_days"]:
        got = actual.get((expected["date"], expected["workload"]))
        if got is None:
            mismatches += 1
            continue
        worst = max(worst, abs(Decimal(got[0]) - Decimal(expected["cost_usd"])))
        if expected.get("api_equivalent_cost_usd") is not None:
            api = Decimal(got[3]) if got[3] is not None else Decimal("Infinity")
            worst_api = max(worst_api, abs(api - Decimal(expected["api_equivalent_cost_usd"])))
        if (got[1], got[2]) != (
            expected["useful_prompt_tokens"],
            expected["useful_completion_tokens"],
        ):
            mismatches += 1
    return TruthCheck(len(truth["workload_days"]), worst, mismatches, worst_api)
