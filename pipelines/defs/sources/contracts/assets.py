from collections.abc import Iterator

import dagster as dg

from pipelines.defs.sources.contracts import load
from pipelines.lib import changed_days
from pipelines.lib.resources import WarehouseResource

DESCRIPTION = (
    "Commitments and owned hardware from contracts/*.yaml in the landing zone "
    "(schema: docs/contracts.md): savings plans and reservations (listed for utilization; the "
    "bill amortizes them), Capacity Blocks, neocloud contracts, owned GPUs. Replaced whole on "
    "every run; an invalid file fails naming the contract and the field."
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", "contracts"], description=DESCRIPTION, group_name="contracts",
            kinds={"duckdb", "yaml"},
        ),
        dg.AssetSpec(
            ["raw", "contract_resources"],
            description="The hosts (cloud resource ids) whose GPUs each contract pays for.",
            group_name="contracts",
            kinds={"duckdb", "yaml"},
        ),
    ],
    pool="duckdb",
)  # fmt: skip
def contracts(warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    warehouse.sync("contracts")
    files = load.contract_files(warehouse.landing_root)
    with warehouse.connect() as conn:
        before = changed_days.versions(conn, changed_days.READ_BY_EVERY_DAY)
        landed, hosts = load.land_contracts(conn, files, warehouse.landing_root)
        changed = changed_days.versions(conn, changed_days.READ_BY_EVERY_DAY) != before
        versions = [changed_days.data_version(conn, t) for t in ("contracts", "contract_resources")]
    yield dg.MaterializeResult(
        asset_key=["raw", "contracts"],
        data_version=versions[0],
        metadata={
            "contracts": landed,
            "files": ", ".join(str(f) for f in files) or "none",
            **changed_days.metadata(changed_days.EVERY_DAY if changed else []),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["raw", "contract_resources"],
        metadata={"contract_hosts": hosts},
        data_version=versions[1],
    )
