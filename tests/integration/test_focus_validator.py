"""The real focus-validator (its own environment), on a public sample and on marts.billing_focus."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.serving.checks import billing_focus_passes_focus_validator
from pipelines.lib.focus_validator import parse_report, validate
from tests.conftest import SAMPLES, Pipeline

pytestmark = pytest.mark.integration


def test_validator_verdict_on_the_public_focus_sample_is_read_from_its_summary() -> None:
    report = validate(SAMPLES / "focus" / "FOCUS-1.0" / "focus_sample.csv")
    assert (report.total, report.passed, report.failed, report.skipped) == (578, 114, 23, 441)
    assert not report.ok
    failures = {f.rule: f for f in report.failures}
    assert len(failures) == 23
    assert failures["BilledCost-C-005-C"].violations == 615
    assert failures["BilledCost-C-005-C"].message == "BilledCost MUST equal '0'."


def test_demo_billing_focus_passes_the_validator_but_for_its_known_defect(
    demo_pipeline: Pipeline,
) -> None:
    resource = demo_pipeline.resource()
    result = billing_focus_passes_focus_validator(
        dg.build_asset_check_context(), warehouse=resource
    )
    metadata = {k: v.value for k, v in result.metadata.items()}
    assert result.passed
    assert metadata["rules_total"] == 578
    assert metadata["rules_failed_blocking"] == 0
    # InvoiceId-C-004-C has no condition in the validator's model: every invoiced row fails it.
    assert metadata["rules_failed"] == 1
    assert (metadata["sources"], metadata["sources_failing"]) == ("aws_cur", "none")
    verdict = str(metadata["verdict_by_source"])
    assert "**aws_cur** (648 rows): pass" in verdict
    assert "`InvoiceId-C-004-C`: 648 violations" in verdict
    assert "(known validator defect)" in verdict


def test_a_parent_rule_failing_only_through_a_known_defect_is_not_blocking() -> None:
    report = parse_report(
        "Total: 3 | Pass: 1 | Fail: 2 | Skipped: 0\n"
        "❌ InvoiceId-C-000-O: FAIL  (violations=1, msg=InvoiceId-C-000-O: AND failed - "
        "failed child rules: [InvoiceId-C-004-C])\n"
        "❌ InvoiceId-C-004-C: FAIL  (violations=5, msg=InvoiceId MUST be NULL., 1.0ms)\n"
        "❌ ListCost-C-001-M: FAIL  (violations=2, msg=ListCost MUST NOT be NULL., 2.0ms)\n"
    )
    assert (report.total, report.failed) == (3, 2)
    assert [f.rule for f in report.blocking_failures] == ["ListCost-C-001-M"]
    assert report.failures[1].message == "InvoiceId MUST be NULL."
    assert not report.ok


def test_a_verdict_is_reused_only_for_the_same_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.lib import focus_validator

    monkeypatch.setenv("GPULEDGER_CACHE_DIR", str(tmp_path / "cache"))
    runs: list[bytes] = []

    def fake_run(path: Path, timeout_s: int) -> str:
        runs.append(path.read_bytes())
        return (
            "❌ BilledCost-C-005-C: FAIL (violations=3, msg=BilledCost MUST equal '0'.)\n"
            f"Total: 10 | Pass: 8 | Fail: 1 | Skipped: {len(runs)}\n"
        )

    monkeypatch.setattr(focus_validator, "_run_validator", fake_run)
    export = tmp_path / "billing_focus.parquet"
    export.write_bytes(b"first")
    first = validate(export)
    assert validate(export) == first  # the same bytes: no second validator run
    assert runs == [b"first"]
    assert (first.failed, first.skipped, first.failures[0].violations) == (1, 1, 3)
    export.write_bytes(b"second")
    assert validate(export).skipped == 2  # changed content is validated again
    assert runs == [b"first", b"second"]
