import tempfile
from pathlib import Path

import dagster as dg

from pipelines.lib.focus_validator import ValidatorUnavailable, validate
from pipelines.lib.resources import WarehouseResource

BILLING_FOCUS = dg.AssetKey(["marts", "billing_focus"])


@dg.asset_check(
    asset=BILLING_FOCUS,
    description=(
        "marts.billing_focus, exported to CSV, checked by the FinOps Foundation's focus-validator "
        "2.2.1 against FOCUS 1.2 (bundled rules, offline). Lists every failing rule with its "
        "violation count."
    ),
    blocking=False,
)
def billing_focus_passes_focus_validator(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with tempfile.TemporaryDirectory() as folder:
        # Parquet keeps the column types (a CSV makes account ids look like numbers).
        export = Path(folder) / "billing_focus.parquet"
        with warehouse.connect() as conn:
            conn.execute(
                "copy (select * exclude (x_billing_period) from marts.billing_focus) to ?"
                " (format parquet)",
                [str(export)],
            )
        try:
            report = validate(export)
        except ValidatorUnavailable as exc:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=str(exc),
            )
    return dg.AssetCheckResult(
        passed=report.ok,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rules_total": report.total,
            "rules_passed": report.passed,
            "rules_failed": report.failed,
            "rules_failed_blocking": len(report.blocking_failures),
            "rules_skipped": report.skipped,
            "failures": dg.MetadataValue.md(
                "\n".join(
                    f"- `{f.rule}`: {f.violations} violations — {f.message}"
                    + ("" if f in report.blocking_failures else " (known validator defect)")
                    for f in report.failures
                )
                or "none"
            ),
        },
    )
