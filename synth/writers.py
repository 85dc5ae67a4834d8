"""Write a Fleet into a landing zone in the real delivery formats, plus truth.json."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from collectors.spool import SCHEMA_VERSION, SPOOL_SCHEMA, spool_path, write_spool_file
from synth.calibration import DEMO_OBJECTIVES
from synth.fleet import (
    ACCOUNT_ID,
    REGION,
    SAVINGS_PLAN_ARN,
    SAVINGS_PLAN_RATE,
    Fleet,
    Host,
    demo_base,
)
from synth.truth import compute_truth

EXPORT_NAME = "gpuledger-cur2"
EXPORT_BUCKET = "acme-billing-exports"
EXPORT_PREFIX = "cur"
EXPORT_ARN = f"arn:aws:bcm-data-exports:us-east-1:{ACCOUNT_ID}:export/{EXPORT_NAME}-4f5a6b7c"
MONEY = pa.decimal128(38, 10)

# A subset of the CUR 2.0 table dictionary's columns, with their real names and types. The
# `product`, `resource_tags` and `cost_category` columns are maps in CUR 2.0.
CUR2_SCHEMA = pa.schema(
    [
        ("bill_bill_type", pa.string()),
        ("bill_billing_entity", pa.string()),
        ("bill_billing_period_end_date", pa.timestamp("ms")),
        ("bill_billing_period_start_date", pa.timestamp("ms")),
        ("bill_payer_account_name", pa.string()),
        ("bill_invoice_id", pa.string()),
        ("bill_payer_account_id", pa.string()),
        ("identity_line_item_id", pa.string()),
        ("identity_time_interval", pa.string()),
        ("line_item_availability_zone", pa.string()),
        ("line_item_currency_code", pa.string()),
        ("line_item_line_item_description", pa.string()),
        ("line_item_line_item_type", pa.string()),
        ("line_item_net_unblended_cost", pa.float64()),
        ("line_item_operation", pa.string()),
        ("line_item_product_code", pa.string()),
        ("line_item_resource_id", pa.string()),
        ("line_item_unblended_cost", pa.float64()),
        ("line_item_unblended_rate", pa.string()),
        ("line_item_usage_account_id", pa.string()),
        ("line_item_usage_amount", pa.float64()),
        ("line_item_usage_end_date", pa.timestamp("ms")),
        ("line_item_usage_start_date", pa.timestamp("ms")),
        ("line_item_usage_type", pa.string()),
        ("pricing_public_on_demand_cost", pa.float64()),
        ("pricing_term", pa.string()),
        ("pricing_unit", pa.string()),
        ("product", pa.map_(pa.string(), pa.string())),
        ("product_instance_type", pa.string()),
        ("product_product_family", pa.string()),
        ("product_region_code", pa.string()),
        ("product_servicecode", pa.string()),
        ("reservation_effective_cost", pa.float64()),
        ("resource_tags", pa.map_(pa.string(), pa.string())),
        ("savings_plan_savings_plan_a_r_n", pa.string()),
        ("savings_plan_savings_plan_effective_cost", pa.float64()),
        ("savings_plan_savings_plan_rate", pa.float64()),
        ("savings_plan_total_commitment_to_date", pa.float64()),
        ("savings_plan_used_commitment", pa.float64()),
    ]
)


def write_landing_zone(fleet: Fleet, root: Path) -> dict[str, Any]:
    """Write every source of the fleet under ``root`` and return what was written."""
    root.mkdir(parents=True, exist_ok=True)
    cur_files = write_cur(fleet, root / "aws_cur")
    spool_files = write_spool(fleet, root / "telemetry" / "nvml")
    request_files = write_requests(fleet, root / "inference" / "requests")
    write_contracts(fleet, root / "contracts" / "commitments.yaml")
    write_objectives(fleet, root / "inference" / "objectives.yml")
    truth = compute_truth(fleet)
    (root / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return {
        "aws_cur_files": len(cur_files),
        "telemetry_files": len(spool_files),
        "request_files": len(request_files),
        "requests": len(fleet.all_requests),
        "gpus": fleet.gpu_count,
        "days": fleet.days,
    }


# --- AWS Data Exports (CUR 2.0) ------------------------------------------------------------------


def _period_bounds(period: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(period + "-01", "%Y-%m-%d")
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _cur_rows(fleet: Fleet, period: str, preliminary: bool) -> list[dict[str, Any]]:
    """Hourly line items of one billing period.

    A preliminary delivery is what AWS sends mid-month before savings plans are applied and
    before a price correction: every GPU hour at 4% over the final on-demand rate.
    """
    start, end = _period_bounds(period)
    rows: list[dict[str, Any]] = []
    seq = 0

    def line(**values: Any) -> None:
        nonlocal seq
        seq += 1
        usage_start = values["line_item_usage_start_date"]
        row: dict[str, Any] = dict.fromkeys(CUR2_SCHEMA.names)
        row.update(
            bill_bill_type="Anniversary",
            bill_billing_entity="AWS",
            bill_billing_period_start_date=start,
            bill_billing_period_end_date=end,
            bill_invoice_id=None if preliminary else f"EUINUS{period.replace('-', '')}1",
            bill_payer_account_id=ACCOUNT_ID,
            bill_payer_account_name="Acme AI Platform",
            identity_line_item_id=str(
                uuid.UUID(int=fleet.rng("cur", period, seq).getrandbits(128))
            ),
            identity_time_interval=(
                f"{usage_start:%Y-%m-%dT%H:%M:%SZ}/"
                f"{values['line_item_usage_end_date']:%Y-%m-%dT%H:%M:%SZ}"
            ),
            line_item_currency_code="USD",
            line_item_usage_account_id=ACCOUNT_ID,
            product_region_code=REGION,
            product={"region": REGION},
            resource_tags={},
        )
        row.update(values)
        if row["line_item_net_unblended_cost"] is None:
            row["line_item_net_unblended_cost"] = row["line_item_unblended_cost"]
        rows.append(row)

    for hour in fleet.hours:
        naive = hour.replace(tzinfo=None)
        if not (start <= naive < end):
            continue
        end_hour = naive + timedelta(hours=1)
        commitment = Decimal(0)
        for host in fleet.hosts:
            if host.billing in ("neocloud", "owned"):
                continue  # not on the AWS bill
            itype = host.instance_type
            od = itype.on_demand_usd_per_hour
            common: dict[str, Any] = {
                "line_item_usage_start_date": naive,
                "line_item_usage_end_date": end_hour,
                "line_item_resource_id": host.instance_id,
                "line_item_product_code": "AmazonEC2",
                "product_servicecode": "AmazonEC2",
                "line_item_usage_amount": 1.0,
                "line_item_availability_zone": "us-east-1a",
                "pricing_unit": "Hrs",
                "product_instance_type": itype.name,
                "product_product_family": "Compute Instance",
                "line_item_usage_type": f"USE1-BoxUsage:{itype.name}",
                "line_item_operation": "RunInstances",
                "pricing_public_on_demand_cost": float(od),
                "resource_tags": {"user_host": host.name},
                "product": {
                    "region": REGION,
                    "instance_type": itype.name,
                    "gpu": str(host.gpu_count),
                },
            }
            if host.billing == "capacity_block":
                # Prepaid: the block's instances bill $0.00 per hour.
                line(
                    **common,
                    line_item_line_item_type="Usage",
                    line_item_unblended_cost=0.0,
                    line_item_unblended_rate="0.0",
                    line_item_line_item_description=(
                        f"$0.00 per Capacity Block Linux {itype.name} Instance Hour"
                    ),
                    pricing_term="OnDemand",
                )
            elif host.savings_plan and not preliminary:
                sp_rate = od * SAVINGS_PLAN_RATE
                commitment += sp_rate
                line(
                    **common,
                    line_item_line_item_type="SavingsPlanCoveredUsage",
                    line_item_unblended_cost=float(od),
                    line_item_unblended_rate=str(od),
                    line_item_line_item_description=(
                        f"${sp_rate} per hour for {itype.name} covered by Compute Savings Plan"
                    ),
                    pricing_term="OnDemand",
                    savings_plan_savings_plan_a_r_n=SAVINGS_PLAN_ARN,
                    savings_plan_savings_plan_rate=float(sp_rate),
                    savings_plan_savings_plan_effective_cost=float(sp_rate),
                )
                line(
                    **common,
                    line_item_line_item_type="SavingsPlanNegation",
                    line_item_unblended_cost=-float(od),
                    line_item_unblended_rate=str(-od),
                    line_item_line_item_description=(
                        f"SavingsPlanNegation used by AccountId : {ACCOUNT_ID} and UsageSku"
                    ),
                    savings_plan_savings_plan_a_r_n=SAVINGS_PLAN_ARN,
                )
            else:
                rate = od * Decimal("1.04") if preliminary else od
                line(
                    **common,
                    line_item_line_item_type="Usage",
                    line_item_unblended_cost=float(rate),
                    line_item_unblended_rate=str(rate),
                    line_item_line_item_description=(
                        f"${rate} per On Demand Linux {itype.name} Instance Hour"
                    ),
                    pricing_term="OnDemand",
                )
            # Not GPU compute, though on the GPU instance's bill: EBS and data transfer.
            line(
                line_item_usage_start_date=naive,
                line_item_usage_end_date=end_hour,
                line_item_line_item_type="Usage",
                line_item_resource_id=f"vol-{host.instance_id[2:]}",
                line_item_product_code="AmazonEC2",
                product_servicecode="AmazonEC2",
                product_product_family="Storage",
                line_item_usage_type="USE1-EBS:VolumeUsage.gp3",
                line_item_operation="CreateVolume-Gp3",
                line_item_usage_amount=2000 / 730,
                line_item_unblended_cost=0.08 * 2000 / 730,
                pricing_unit="GB-Mo",
                line_item_line_item_description="$0.08 per GB-month of General Purpose (gp3)",
            )
            line(
                line_item_usage_start_date=naive,
                line_item_usage_end_date=end_hour,
                line_item_line_item_type="Usage",
                line_item_resource_id=host.instance_id,
                line_item_product_code="AmazonEC2",
                product_servicecode="AWSDataTransfer",
                product_product_family="Data Transfer",
                line_item_usage_type="USE1-DataTransfer-Out-Bytes",
                line_item_operation="RunInstances",
                line_item_usage_amount=1.5,
                line_item_unblended_cost=0.09 * 1.5,
                pricing_unit="GB",
                line_item_line_item_description="$0.09 per GB - first 10 TB / month out",
            )
        if commitment:
            line(
                line_item_usage_start_date=naive,
                line_item_usage_end_date=end_hour,
                line_item_line_item_type="SavingsPlanRecurringFee",
                line_item_resource_id=SAVINGS_PLAN_ARN,
                line_item_product_code="ComputeSavingsPlans",
                product_servicecode="ComputeSavingsPlans",
                line_item_usage_type="ComputeSP:1yrNoUpfront",
                line_item_operation="",
                line_item_usage_amount=1.0,
                line_item_unblended_cost=float(commitment),
                pricing_unit="Hrs",
                savings_plan_savings_plan_a_r_n=SAVINGS_PLAN_ARN,
                savings_plan_total_commitment_to_date=float(commitment),
                savings_plan_used_commitment=float(commitment),
                line_item_line_item_description="1 year No Upfront Compute Savings Plan",
            )
        # A CPU-only instance in the same account: must never count as GPU cost.
        line(
            line_item_usage_start_date=naive,
            line_item_usage_end_date=end_hour,
            line_item_line_item_type="Usage",
            line_item_resource_id="i-0c0ffee0c0ffee0c0",
            line_item_product_code="AmazonEC2",
            product_servicecode="AmazonEC2",
            product_product_family="Compute Instance",
            product_instance_type="c5.2xlarge",
            line_item_usage_type="USE1-BoxUsage:c5.2xlarge",
            line_item_operation="RunInstances",
            line_item_usage_amount=1.0,
            line_item_unblended_cost=0.34,
            pricing_unit="Hrs",
            pricing_term="OnDemand",
            line_item_line_item_description="$0.34 per On Demand Linux c5.2xlarge Instance Hour",
        )
    return rows


def _write_delivery(
    root: Path, fleet: Fleet, period: str, rows: list[dict[str, Any]], executed_at: datetime
) -> list[Path]:
    execution_id = str(uuid.UUID(int=fleet.rng("exec", period, executed_at).getrandbits(128)))
    table = pa.Table.from_pylist(rows, schema=CUR2_SCHEMA)
    return write_cur_delivery(root, period, table, executed_at, execution_id)


def write_cur_delivery(
    root: Path, period: str, table: pa.Table, executed_at: datetime, execution_id: str
) -> list[Path]:
    """One CUR 2.0 execution as AWS lays it out (create-new mode): data file and manifest."""
    folder = f"{executed_at:%Y%m%dT%H%M%SZ}-{execution_id}"
    data_dir = root / EXPORT_NAME / "data" / f"BILLING_PERIOD={period}" / folder
    meta_dir = root / EXPORT_NAME / "metadata" / f"BILLING_PERIOD={period}" / folder
    data_dir.mkdir(parents=True, exist_ok=True)
    meta_dir.mkdir(parents=True, exist_ok=True)
    data_file = data_dir / f"{EXPORT_NAME}-00001.snappy.parquet"
    pq.write_table(table, data_file, compression="snappy")
    manifest = {
        "executionId": execution_id,
        "exportArn": EXPORT_ARN,
        "billingPeriod": period,
        "exportCreationTime": f"{executed_at:%Y-%m-%dT%H:%M:%SZ}",
        "columns": [{"name": f.name, "type": _manifest_type(f.type)} for f in CUR2_SCHEMA],
        "dataFiles": [
            f"s3://{EXPORT_BUCKET}/{EXPORT_PREFIX}/{EXPORT_NAME}/data/BILLING_PERIOD={period}/"
            f"{folder}/{data_file.name}"
        ],
        "additionalOutputFiles": [],
    }
    manifest_file = meta_dir / f"{EXPORT_NAME}-Manifest.json"
    manifest_file.write_text(json.dumps(manifest, indent=2) + "\n")
    return [data_file, manifest_file]


def _manifest_type(t: pa.DataType) -> str:
    if pa.types.is_map(t):
        return "map<string,string>"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_floating(t):
        return "double"
    return "string"


def write_cur(fleet: Fleet, root: Path) -> list[Path]:
    """One delivery per billing period; the first period is delivered twice (a restatement)."""
    files: list[Path] = []
    for i, period in enumerate(fleet.billing_periods):
        _, end = _period_bounds(period)
        executed = end.replace(tzinfo=UTC) + timedelta(days=2, hours=3)
        if i == 0:
            files += _write_delivery(
                root,
                fleet,
                period,
                _cur_rows(fleet, period, preliminary=True),
                executed - timedelta(days=1),
            )
        files += _write_delivery(root, fleet, period, _cur_rows(fleet, period, False), executed)
    return files


# --- NVML collector spool ---


def _gpu_rows(fleet: Fleet, host: Host, day_index: int) -> list[dict[str, Any]]:
    itype = host.instance_type
    rows = []
    for gpu in range(host.gpu_count):
        for minute in range(day_index * 1440, (day_index + 1) * 1440):
            samples = fleet.minute_samples(host, gpu, minute)
            if samples is None:
                continue
            start = fleet.start_at + timedelta(minutes=minute)
            busy = min(1.0, sum(s.busy_share for s in samples))
            power_w = host.power_w(samples)
            held = sum(s.memory_used_bytes for s in samples)
            util = busy
            if itype.util_source == "nvml_utilization_gpu":
                # utilization.gpu reads "a kernel ran" time: an upper bound on SM activity.
                util = min(1.0, busy * 1.6) if busy > 0 else 0.0
            rows.append(
                {
                    "schema_version": SCHEMA_VERSION,
                    "host": host.name,
                    "cloud_resource_id": host.instance_id,
                    "gpu_uuid": host.gpu_uuid(gpu),
                    "gpu_index": gpu,
                    "gpu_model": itype.gpu_model,
                    "mig_instance_id": None,
                    "window_start": start,
                    "window_end": start + timedelta(minutes=1),
                    "sample_count": 60,
                    "util_mean": round(util, 4),
                    "util_source": itype.util_source,
                    "sm_active_mean": round(busy, 4)
                    if itype.util_source == "gpm_sm_util"
                    else None,
                    "gr_engine_active_mean": round(busy, 4)
                    if itype.util_source == "graphics_engine_activity"
                    else None,
                    "gpu_util_mean": round(util, 4),
                    "memory_used_bytes_max": held + 512 * 1024**2,
                    "memory_total_bytes": itype.gpu_memory_bytes,
                    "power_mw_mean": round(power_w * 1000, 1),
                    "energy_mj": round(power_w * 1000 * 60),
                    "processes": [
                        {
                            "pid": s.pid,
                            "container_id": None,
                            "k8s_namespace": "inference",
                            "k8s_pod": f"{s.workload}-{host.name}",
                            "workload": s.workload,
                            "busy_share": s.busy_share,
                            "memory_used_bytes": s.memory_used_bytes,
                        }
                        for s in samples
                    ],
                }
            )
    return rows


def write_spool(fleet: Fleet, root: Path) -> list[Path]:
    files = []
    for host in fleet.hosts:
        for day_index, day in enumerate(fleet.dates):
            rows = _gpu_rows(fleet, host, day_index)
            path = spool_path(root, host.name, day, f"{host.name}-{day:%Y%m%d}T0000Z")
            write_spool_file(pa.Table.from_pylist(rows, schema=SPOOL_SCHEMA), path)
            files.append(path)
    return files


# --- inference request logs ---


def write_requests(fleet: Fleet, root: Path) -> list[Path]:
    by_file: dict[Path, list[str]] = defaultdict(list)
    for r in fleet.all_requests:
        usage = None
        if r.prompt_tokens is not None:
            completion = r.completion_tokens or 0
            usage = {
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": r.prompt_tokens + completion,
                "prompt_tokens_details": {"cached_tokens": r.cached_tokens},
                "completion_tokens_details": {"reasoning_tokens": r.reasoning_tokens},
            }
        record = {
            "time": r.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "request_id": r.request_id,
            "host": r.host,
            "endpoint": f"http://{r.host}:8000/v1/chat/completions",
            "workload": r.workload,
            "model": r.model,
            "status": r.status,
            "finish_reason": r.finish_reason,
            "attempt": r.attempt,
            "retry_of": r.retry_of,
            "synthetic": r.synthetic,
            "usage": usage,
        }
        if r.duration_ms is not None:
            record["time_to_first_token_ms"] = r.time_to_first_token_ms
            record["duration_ms"] = r.duration_ms
        day = r.created_at.date()
        path = root / f"date={day.isoformat()}" / f"{r.host}.jsonl"
        by_file[path].append(json.dumps(record, separators=(",", ":")))
    for path, lines in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return sorted(by_file)


# --- inference/objectives.yml -------------------------------------------------------------------


def write_objectives(fleet: Fleet, path: Path) -> None:
    """The demo's service-level objectives (synth.calibration.DEMO_OBJECTIVES) for its workloads."""
    objectives = {
        name: DEMO_OBJECTIVES[base]
        for name in sorted(fleet.workloads)
        if (base := demo_base(name)) in DEMO_OBJECTIVES
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"workloads": objectives}, sort_keys=True))


# --- contracts/commitments.yaml ------------------------------------------------------------------


def write_contracts(fleet: Fleet, path: Path) -> None:
    """The fleet's Capacity Blocks, neocloud contracts and owned GPUs as commitments.yaml."""
    host_ids = {h.name: h.instance_id for h in fleet.hosts}
    instance_types = {h.name: h.instance_type.name for h in fleet.hosts}
    contracts: list[dict[str, Any]] = []
    for block in fleet.capacity_blocks:
        contracts.append(
            {
                "id": block.contract_id,
                "kind": "capacity_block",
                "description": (
                    f"{block.instance_count} x {instance_types[block.host]}, one launched"
                ),
                "instance_type": instance_types[block.host],
                "instance_count": block.instance_count,
                "start": block.start_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": block.end_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "upfront_usd": str(block.upfront_usd),
                "resource_ids": [host_ids[block.host]],
            }
        )
    for deal in fleet.neocloud_deals:
        contracts.append(
            {
                "id": deal.contract_id,
                "kind": "neocloud",
                "provider": "ExampleNeocloud",
                "description": "two hosts contracted, one brought up",
                "gpu_model": next(
                    h.instance_type.gpu_model for h in fleet.hosts if h.name == deal.host
                ),
                "gpu_count": 2 * deal.gpus_per_host,
                "start": deal.start.isoformat(),
                "term_months": deal.term_months,
                "upfront_usd": str(deal.upfront_usd),
                "hourly_fee_usd_per_gpu": str(deal.hourly_fee_usd_per_gpu),
                "escalator_per_year": str(deal.escalator_per_year),
                "early_termination": {"notice_days": 90, "fee_share_of_remaining": "0.5"},
                "resource_ids": [host_ids[deal.host], deal.idle_resource_id],
            }
        )
    for owned in fleet.owned_deals:
        contracts.append(
            {
                "id": owned.contract_id,
                "kind": "owned",
                "gpu_model": next(
                    h.instance_type.gpu_model for h in fleet.hosts if h.name == owned.host
                ),
                "gpu_count": owned.gpu_count,
                "in_service": owned.in_service.isoformat(),
                "useful_life_years": owned.useful_life_years,
                "purchase_price_usd": str(owned.purchase_price_usd),
                "salvage_value_usd": str(owned.salvage_value_usd),
                "power_price_usd_per_kwh": str(owned.power_price_usd_per_kwh),
                "pue": str(owned.pue),
                "opex_usd_per_month": str(owned.opex_usd_per_month),
                "resource_ids": [host_ids[owned.host]],
            }
        )
    if not contracts:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by gpuledger's generator; schema in docs/contracts.md.\n"
        + yaml.safe_dump({"version": 1, "contracts": contracts}, sort_keys=False)
    )
