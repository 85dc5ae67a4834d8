from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from pipelines.lib.resources import WarehouseResource
from pipelines.runner import Summary, run
from synth import build_fleet, write_landing_zone

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"


@dataclass(frozen=True)
class Pipeline:
    landing: Path
    warehouse: Path

    def run(
        self,
        start: date | None = None,
        end: date | None = None,
        full_refresh: bool = False,
        instance: dg.DagsterInstance | None = None,
    ) -> Summary:
        return run(
            self.landing,
            self.warehouse,
            start=start,
            end=end,
            instance=instance or dg.DagsterInstance.ephemeral(),
            full_refresh=full_refresh,
        )

    def execute(self, sql: str) -> None:
        conn = duckdb.connect(str(self.warehouse))
        try:
            conn.execute(sql)
        finally:
            conn.close()

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        conn = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            return conn.execute(sql, params or []).fetchall()
        finally:
            conn.close()

    def resource(self) -> WarehouseResource:
        """The resource the assets and checks get, for this pipeline's folders."""
        return WarehouseResource(
            landing=str(self.landing),
            warehouse=str(self.warehouse),
            aws_cur=str(self.landing / "aws_cur"),
        )

    def copy_to(self, folder: Path) -> Pipeline:
        shutil.copytree(self.landing, folder / "landing")
        shutil.copy2(self.warehouse, folder / "gpuledger.duckdb")
        kept = self.warehouse.parent / f"{self.warehouse.stem}_raw"
        if kept.exists():  # spool files kept as landed (pipelines/lib/raw_files.py)
            shutil.copytree(kept, folder / "gpuledger_raw")
        return Pipeline(folder / "landing", folder / "gpuledger.duckdb")

    def fingerprint(self) -> dict[str, str]:
        """A hash of every table's full content, to prove a failed run changed nothing."""
        conn = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            tables = conn.execute(
                "select table_schema, table_name from information_schema.tables"
                " where table_type = 'BASE TABLE' order by 1, 2"
            ).fetchall()
            prints = {}
            for schema, table in tables:
                rows = conn.execute(f'select * from "{schema}"."{table}"').fetchall()
                digest = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
                prints[f"{schema}.{table}"] = digest
            kept = self.warehouse.parent / f"{self.warehouse.stem}_raw"
            files = sorted(
                (p.relative_to(kept).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
                for p in kept.rglob("*")
                if p.is_file()
            )
            prints["kept files"] = hashlib.sha256(repr(files).encode()).hexdigest()
            return prints
        finally:
            conn.close()


def build_pipeline(folder: Path, **fleet_args: Any) -> Pipeline:
    landing = folder / "landing"
    write_landing_zone(build_fleet(**fleet_args), landing)
    pipeline = Pipeline(landing, folder / "gpuledger.duckdb")
    pipeline.run()
    return pipeline


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, **fleet_args: Any) -> Pipeline:
    """A fleet landed and built once per test session, also across pytest-xdist workers: the
    first worker to ask builds it in a folder they share, the others wait for it and take a copy
    of the whole folder (warehouse, kept files, landing zone, dbt's target)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build_pipeline(tmp_path_factory.mktemp(name), **fleet_args)
    shared = tmp_path_factory.getbasetemp().parent / f"built-{name}"
    with shared.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        # Built where it stays: the warehouse's views name its kept files by their full path.
        done = shared / ".built"
        if not done.exists():
            shutil.rmtree(shared, ignore_errors=True)
            try:
                build_pipeline(shared, **fleet_args)
            except BaseException:
                shutil.rmtree(shared, ignore_errors=True)  # no half-built fleet for the next
                raise
            done.touch()
    own = tmp_path_factory.mktemp(name)
    shutil.copytree(shared, own, dirs_exist_ok=True)
    return Pipeline(own / "landing", own / "gpuledger.duckdb")


@pytest.fixture(scope="session")
def demo_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The demo fleet (18 GPUs, 3 days across a month boundary), landed and built once."""
    return built_once(tmp_path_factory, "demo")


@pytest.fixture(scope="session")
def pipeline_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Pipeline]:
    """A landed and built fleet, built once per set of arguments in a session: callers that
    change it work on `.copy_to(...)`."""
    built: dict[str, Pipeline] = {}

    def make(**fleet_args: Any) -> Pipeline:
        key = repr(sorted(fleet_args.items()))
        if key not in built:
            name = "fleet-" + hashlib.sha256(key.encode()).hexdigest()[:12]
            built[key] = built_once(tmp_path_factory, name, **fleet_args)
        return built[key]

    return make


@pytest.fixture(scope="session", autouse=True)
def validator_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """focus-validator verdicts are cached by content for this session only: each distinct
    billing_focus is validated for real once."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPULEDGER_CACHE_DIR", str(folder))
        yield folder
