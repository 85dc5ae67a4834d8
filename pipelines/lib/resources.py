"""The warehouse resource: where the landing zone is and which DuckDB file is written."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.lib import paths
from pipelines.lib.store import Store, open_store
from pipelines.lib.warehouse import connect


class WarehouseResource(dg.ConfigurableResource):
    landing: str
    warehouse: str
    aws_cur: str

    @classmethod
    def from_environment(cls) -> WarehouseResource:
        return cls(
            landing=str(paths.landing_root()),
            warehouse=str(paths.warehouse_path()),
            aws_cur=paths.aws_cur_location(),
        )

    @property
    def landing_root(self) -> Path:
        return Path(self.landing)

    def sync(self, folder: str) -> None:
        """Mirror the landing folder from S3 first when it is configured to live there."""
        from pipelines.lib.mirror import sync_landing

        sync_landing(self.landing_root, only=folder)

    def aws_cur_stores(self) -> list[Store]:
        """One store per CUR location (GPULEDGER_AWS_CUR may name several)."""
        return [
            open_store(location, landing=self.landing_root)
            for location in paths.aws_cur_locations(self.aws_cur)
        ]

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(Path(self.warehouse)) as conn:
            yield conn

    def forget_landings(self, sources: Sequence[str], first: date, end: date) -> None:
        """Forget the landings of ``sources`` on the days [first, end) (raw.landing_log): the next
        run lands those days again, and builds them."""
        with self.connect() as conn:
            conn.execute(
                "delete from raw.landing_log where source in (select unnest(?))"
                " and partition_date >= ? and partition_date < ?",
                [list(sources), first, end],
            )

    def query_landed(self, sql: str, params: list[object]) -> list[tuple[object, ...]]:
        """Rows of what the warehouse has landed, read without taking the write lock; none when
        there is no warehouse yet or a run holds it (a sensor then proposes what it sees)."""
        path = Path(self.warehouse)
        if not path.exists():
            return []
        try:
            conn = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:
            return []
        try:
            return conn.execute(sql, params).fetchall()
        except duckdb.CatalogException:
            return []  # a warehouse older than the table
        finally:
            conn.close()
