"""Land ``contracts/commitments.yaml``: validate it, then replace ``raw.contracts`` whole."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import ValidationError

from pipelines.defs.sources.contracts.schema import (
    CapacityBlock,
    CloudCommitment,
    CommitmentsFile,
    NeocloudContract,
    OwnedHardware,
)
from pipelines.lib.errors import LandingError
from pipelines.lib.paths import lineage_name, regular_files
from pipelines.lib.warehouse import refuse_removal, replacing
from pipelines.lib.yaml_files import load_yaml

MONEY = pa.decimal128(38, 10)
CONTRACT_COLUMNS: dict[str, pa.DataType] = {
    "contract_id": pa.string(),
    "kind": pa.string(),
    "provider": pa.string(),
    "description": pa.string(),
    "commitment_id": pa.string(),
    "instance_type": pa.string(),
    "instance_count": pa.int32(),
    "gpu_model": pa.string(),
    "gpu_count": pa.int32(),
    "start_at": pa.timestamp("us"),
    "end_at": pa.timestamp("us"),
    "upfront_usd": MONEY,
    "hourly_commitment_usd": MONEY,
    "hourly_fee_usd_per_gpu": MONEY,
    "monthly_fee_usd": MONEY,
    "escalator_per_year": MONEY,
    "purchase_price_usd": MONEY,
    "salvage_value_usd": MONEY,
    "power_price_usd_per_kwh": MONEY,
    "pue": MONEY,
    "opex_usd_per_month": MONEY,
    "early_termination_notice_days": pa.int32(),
    "early_termination_fee_usd": MONEY,
    "gpu_share": MONEY,
    "source_file": pa.string(),
}
RESOURCE_COLUMNS: dict[str, pa.DataType] = {
    "contract_id": pa.string(),
    "resource_id": pa.string(),
}


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """'contract 'cw-h100', field 'gpu_count'' from a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "contracts" and isinstance(loc[1], int):
        index = loc[1]
        name = f"contract #{index + 1}"
        with contextlib.suppress(KeyError, IndexError, TypeError):
            name = f"contract {raw['contracts'][index]['id']!r}"
        # loc[2] is the kind the union tried (its discriminator value); the field follows.
        field = ".".join(str(part) for part in loc[3:])
        return f"{name}, field {field!r}" if field else name
    return "field " + repr(".".join(str(part) for part in loc)) if loc else "the file"


def read_commitments(path: Path) -> CommitmentsFile:
    raw = load_yaml(path)
    try:
        return CommitmentsFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        problems = [f"{_where(raw, tuple(e['loc']))}: {e['msg']}" for e in exc.errors()[:10]]
        if exc.error_count() > len(problems):
            problems.append(f"and {exc.error_count() - len(problems)} more")
        raise LandingError(
            path,
            "; ".join(problems),
            expected="the schema in docs/contracts.md",
            column=".".join(str(p) for p in first["loc"]) or None,
        ) from exc


def _naive(moment: Any) -> Any:
    return moment.replace(tzinfo=None) if moment is not None else None


def contract_rows(commitments: CommitmentsFile, source_file: str) -> list[dict[str, Any]]:
    rows = []
    for c in commitments.contracts:
        row: dict[str, Any] = dict.fromkeys(CONTRACT_COLUMNS)
        row.update(
            contract_id=c.id,
            kind=c.kind,
            description=c.description,
            start_at=_naive(c.start),
            end_at=_naive(c.end_at),
            source_file=source_file,
        )
        if isinstance(c, CloudCommitment):
            row.update(
                provider=c.provider,
                commitment_id=c.commitment_id,
                hourly_commitment_usd=c.hourly_commitment_usd,
                upfront_usd=c.upfront_usd,
                gpu_share=c.gpu_share,
            )
        elif isinstance(c, CapacityBlock):
            row.update(
                provider=c.provider,
                instance_type=c.instance_type,
                instance_count=c.instance_count,
                upfront_usd=c.upfront_usd,
            )
        elif isinstance(c, NeocloudContract):
            termination = c.early_termination
            row.update(
                provider=c.provider,
                gpu_model=c.gpu_model,
                gpu_count=c.gpu_count,
                upfront_usd=c.upfront_usd,
                hourly_fee_usd_per_gpu=c.hourly_fee_usd_per_gpu,
                monthly_fee_usd=c.monthly_fee_usd,
                escalator_per_year=c.escalator_per_year,
                early_termination_notice_days=termination.notice_days if termination else None,
                early_termination_fee_usd=termination.fee_usd if termination else None,
            )
        elif isinstance(c, OwnedHardware):
            row.update(
                provider="owned",
                gpu_model=c.gpu_model,
                gpu_count=c.gpu_count,
                purchase_price_usd=c.purchase_price_usd,
                salvage_value_usd=c.salvage_value_usd,
                power_price_usd_per_kwh=c.power_price_usd_per_kwh,
                pue=c.pue,
                opex_usd_per_month=c.opex_usd_per_month,
            )
        rows.append(row)
    return rows


def contract_files(landing: Path) -> list[Path]:
    """``contracts/*.yaml``: commitments.yaml, and aws.yaml written by the AWS import."""
    folder = landing / "contracts"
    return regular_files((*folder.glob("*.yaml"), *folder.glob("*.yml")), folder)


def land_contracts(
    conn: duckdb.DuckDBPyConnection, paths: list[Path], landing: Path
) -> tuple[int, int]:
    """Replace every contract (the files are the whole truth), atomically. No file: none, when
    the warehouse holds none either or the removal is allowed (refuse_removal)."""
    if not paths:
        [(held,)] = conn.execute("select count(*) from raw.contracts").fetchall()
        if held:
            refuse_removal(landing / "contracts", "contracts", "contract file", f"{held} contracts")
    rows: list[dict[str, Any]] = []
    resource_rows: list[dict[str, Any]] = []
    first_seen: dict[str, Path] = {}
    for path in paths:
        commitments = read_commitments(path)
        for contract in commitments.contracts:
            if contract.id in first_seen:
                raise LandingError(
                    path,
                    f"contract id {contract.id!r} is also in {first_seen[contract.id]}",
                    column="id",
                    expected="contract ids unique across contracts/*.yaml",
                )
            first_seen[contract.id] = path
            resource_rows.extend(
                {"contract_id": contract.id, "resource_id": r} for r in contract.resource_ids
            )
        rows.extend(contract_rows(commitments, lineage_name(path, landing)))
    contracts = pa.Table.from_pylist(rows, schema=pa.schema(list(CONTRACT_COLUMNS.items())))
    resources = pa.Table.from_pylist(
        resource_rows, schema=pa.schema(list(RESOURCE_COLUMNS.items()))
    )
    with replacing(conn) as staged:
        staged.rows("contracts", None, contracts)
        staged.rows("contract_resources", None, resources)
    return contracts.num_rows, resources.num_rows
