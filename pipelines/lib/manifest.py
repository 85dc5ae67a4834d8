"""Keep dbt's manifest current before the code location loads (never at import time)."""

from __future__ import annotations

import subprocess

from pipelines.lib.paths import DBT_PROJECT_DIR, dbt_executable

WATCHED = ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml")


def manifest_is_stale() -> bool:
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not manifest.is_file():
        return True
    built = manifest.stat().st_mtime
    for name in WATCHED:
        path = DBT_PROJECT_DIR / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        if any(f.stat().st_mtime > built for f in files):
            return True
    return False


class ManifestError(RuntimeError):
    """dbt could not parse the project; the message ends with what dbt said."""


def prepare_manifest(force: bool = False) -> bool:
    """Run `dbt parse` when the manifest is missing or older than the project; True if it ran."""
    if not force and not manifest_is_stale():
        return False
    result = subprocess.run(
        [dbt_executable(), "parse", "--quiet"],
        cwd=DBT_PROJECT_DIR,
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        said = (result.stdout + result.stderr).strip()[-4000:]
        raise ManifestError(
            f"`dbt parse` failed in {DBT_PROJECT_DIR} (exit {result.returncode}):\n{said}"
        )
    return True
