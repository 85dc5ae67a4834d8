"""Run the FinOps focus-validator (in its own environment, tools/focus-validator.sh) and read
its verdict. It exits 0 even when rules fail, so the summary line is what counts."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.lib.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "tools" / "focus-validator.sh"
INSTALLED = REPO_ROOT / ".venv-focus-validator" / ".installed-2.2.1"
SUMMARY = re.compile(
    r"Total:\s*(\d+)\s*\|\s*Pass:\s*(\d+)\s*\|\s*Fail:\s*(\d+)\s*\|\s*Skipped:\s*(\d+)"
)
FAILURE = re.compile(
    r"^❌ (?P<rule>\S+): FAIL\s+\(violations=(?P<violations>\d+), msg=(?P<msg>.*)\)$"
)


class ValidatorUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    violations: int
    message: str


@dataclass(frozen=True)
class ValidatorReport:
    total: int
    passed: int
    failed: int
    skipped: int
    failures: tuple[RuleFailure, ...]

    @property
    def ok(self) -> bool:
        return self.failed == 0


def parse_report(output: str) -> ValidatorReport:
    match = SUMMARY.search(output)
    if match is None:
        raise ValidatorUnavailable(f"no 'Total | Pass | Fail | Skipped' line in:\n{output[-2000:]}")
    failures = []
    for line in output.splitlines():
        if found := FAILURE.match(line.strip()):
            message = re.sub(r", [\d.]+ms$", "", found.group("msg"))
            failures.append(
                RuleFailure(found.group("rule"), int(found.group("violations")), message)
            )
    total, passed, failed, skipped = (int(g) for g in match.groups())
    return ValidatorReport(total, passed, failed, skipped, tuple(failures))


def validate(csv_file: Path, timeout_s: int = 600) -> ValidatorReport:
    """Validate a FOCUS CSV against FOCUS 1.2 with the bundled rules (no download)."""
    if not INSTALLED.exists():
        raise ValidatorUnavailable(
            "focus-validator is not installed: run `tools/focus-validator.sh install` "
            "(make test does)"
        )
    result = subprocess.run(
        ["bash", str(SCRIPT), "run", str(csv_file)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        raise ValidatorUnavailable(
            f"focus-validator exited {result.returncode}:\n{result.stderr[-2000:]}"
        )
    return parse_report(result.stdout)
