import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg

from pipelines.lib.focus_validator import ValidatorReport, ValidatorUnavailable, validate
from pipelines.lib.resources import WarehouseResource

BILLING_FOCUS = dg.AssetKey(["marts", "billing_focus"])


def _failure_lines(report: ValidatorReport) -> list[str]:
    return [
        f"  - `{f.rule}`: {f.violations} violations — {f.message}"
        + ("" if f in report.blocking_failures else " (known validator defect)")
        for f in report.failures
    ]


@dg.asset_check(
    asset=BILLING_FOCUS,
    description=(
        "marts.billing_focus checked by the FinOps Foundation's focus-validator 2.2.1 against "
        "FOCUS 1.2 (bundled rules, offline), once per source system (x_source_system), so a "
        "failing rule points at the source whose rows break it: aws_cur and gcp_billing rows "
        "are our own mappings; focus rows are passed through from third-party exports and keep "
        "their violations. Lists every failing rule with its violation count."
    ),
    blocking=False,
)
def billing_focus_passes_focus_validator(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    reports: dict[str, tuple[int, ValidatorReport]] = {}
    with tempfile.TemporaryDirectory() as folder:
        with warehouse.connect() as conn:
            counts = conn.execute(
                "select x_source_system, count(*) from marts.billing_focus group by 1 order by 1"
            ).fetchall()
            exports = {}
            for source, _ in counts:
                # Parquet keeps the column types (a CSV makes account ids look like numbers).
                exports[source] = Path(folder) / f"billing_focus_{source}.parquet"
                conn.execute(
                    "copy (select * exclude (x_billing_period, x_billing_period_start)"
                    " from marts.billing_focus"
                    " where x_source_system = ?) to ? (format parquet)",
                    [source, str(exports[source])],
                )
        try:
            # One validator process per source, side by side: each spends most of its 5-7 s
            # starting up and loading its rules, whatever the rows.
            with ThreadPoolExecutor(
                max_workers=max(1, min(len(counts), os.cpu_count() or 1))
            ) as pool:
                verdicts = pool.map(validate, [exports[source] for source, _ in counts])
                for (source, rows), report in zip(counts, verdicts, strict=True):
                    reports[source] = (rows, report)
        except ValidatorUnavailable as exc:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=str(exc),
            )
    lines = []
    for source, (rows, report) in reports.items():
        verdict = "pass" if report.ok else f"{len(report.blocking_failures)} rules fail"
        lines.append(
            f"- **{source}** ({rows} rows): {verdict}; {report.passed} passed, "
            f"{report.failed} failed, {report.skipped} skipped of {report.total}"
        )
        lines.extend(_failure_lines(report))
    return dg.AssetCheckResult(
        passed=all(report.ok for _, report in reports.values()),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "sources": ", ".join(reports) or "none",
            "sources_failing": ", ".join(s for s, (_, r) in reports.items() if not r.ok) or "none",
            "rules_total": max((r.total for _, r in reports.values()), default=0),
            "rules_failed": sum(r.failed for _, r in reports.values()),
            "rules_failed_blocking": sum(len(r.blocking_failures) for _, r in reports.values()),
            "verdict_by_source": dg.MetadataValue.md("\n".join(lines) or "no rows"),
        },
    )
