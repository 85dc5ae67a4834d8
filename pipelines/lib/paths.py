"""The one resolver for repository, landing-zone and warehouse paths."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from pipelines.lib.errors import LandingError

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
# Reference data shipped with the code: the API price book and model equivalents.
REFERENCE_DIR = REPO_ROOT / "pipelines" / "reference"
DAGSTER_HOME_DEFAULT = REPO_ROOT / ".dagster"


def landing_root() -> Path:
    """GPULEDGER_LANDING, else warehouse/landing in the repository."""
    value = os.environ.get("GPULEDGER_LANDING")
    return Path(value).resolve() if value else REPO_ROOT / "warehouse" / "landing"


def warehouse_path() -> Path:
    """GPULEDGER_WAREHOUSE, else warehouse/gpuledger.duckdb in the repository."""
    value = os.environ.get("GPULEDGER_WAREHOUSE")
    return Path(value).resolve() if value else REPO_ROOT / "warehouse" / "gpuledger.duckdb"


def aws_cur_location() -> str:
    """GPULEDGER_AWS_CUR (folders or s3://bucket/prefix locations, separated by commas), else
    <landing>/aws_cur."""
    value = os.environ.get("GPULEDGER_AWS_CUR")
    if value:
        return ",".join(
            part if part.startswith("s3://") else str(Path(part).resolve())
            for part in aws_cur_locations(value)
        )
    return str(landing_root() / "aws_cur")


def aws_cur_locations(value: str) -> list[str]:
    """The CUR locations of a GPULEDGER_AWS_CUR value, in order, each once."""
    parts = [part.strip() for part in value.split(",")]
    return list(dict.fromkeys(part for part in parts if part))


def export_environment(landing: Path | None = None, warehouse: Path | None = None) -> None:
    """Pin both paths as absolute values in the environment, which dbt's profile reads, and
    the warehouse's raw folder, which dbt's sources read (GPULEDGER_RAW)."""
    os.environ["GPULEDGER_LANDING"] = str((landing or landing_root()).resolve())
    os.environ["GPULEDGER_WAREHOUSE"] = str((warehouse or warehouse_path()).resolve())
    export_raw_root()


def raw_root(warehouse: Path) -> Path:
    """The raw layer's folder beside a warehouse file (pipelines/lib/raw_files.py):
    ``gpuledger.duckdb`` -> ``gpuledger_raw``."""
    return warehouse.parent / f"{warehouse.stem}_raw"


def export_raw_root() -> None:
    """GPULEDGER_RAW, which dbt's sources read: the raw folder of GPULEDGER_WAREHOUSE's."""
    os.environ["GPULEDGER_RAW"] = str(raw_root(warehouse_path().resolve()))


def lineage_name(path: Path, landing: Path) -> str:
    """How the warehouse records where a row came from: relative to the landing zone, so that
    re-landing the same files from another checkout or mount gives identical rows."""
    try:
        return path.resolve().relative_to(landing.resolve()).as_posix()
    except ValueError:
        return str(path)


def regular_files(paths: Iterable[Path], root: Path) -> list[Path]:
    """The paths found under ``root``, sorted, each refused unless it is a regular file reached
    from ``root`` without a symbolic link: a link (to /etc/passwd, to another mount) or a FIFO
    in a landing folder is never opened. Dot-files (writers' unfinished temp files) are left."""
    base = root.resolve()
    found = []
    for path in sorted(paths):
        if path.name.startswith("."):
            continue
        real = path.resolve()
        if real != base / path.relative_to(root):
            target = path.readlink() if path.is_symlink() else real
            raise LandingError(
                path,
                f"is reached through a symbolic link (to {target}); only regular files inside"
                " the landing folder are read",
                expected="the file itself, copied or moved into the landing folder",
            )
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            raise LandingError(
                path, "is not a regular file (a FIFO, socket or device)", expected="a file"
            )
        found.append(path)
    return found


def put_interpreter_bin_on_path() -> None:
    """What activating the venv does: dagster-dbt's own `dbt parse` (prepare_if_dev) finds the
    project's dbt even when `dagster dev` was started as .venv/bin/dagster without activation."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def dbt_executable() -> str:
    """dbt beside this interpreter (the project's venv), else whatever `dbt` is on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.is_file():
        return str(beside)
    return shutil.which("dbt") or "dbt"
