"""The same dbt project on Spark (dbt-spark, session mode) from a DuckDB warehouse's raw files,
and its marts compared with DuckDB's to the cent.

Run by tools/spark-lane.sh (an environment with dbt-core, dbt-spark[session] and pyspark): every
raw table's folder of Hive-partitioned Parquet beside the warehouse (<stem>_raw/<table>, what the
landing wrote and DuckDB's models read; pipelines/lib/raw_files.py) is registered in a local
Spark catalog as raw.<table>, as it is (the NVML spool as both raw.nvml_* sources), and the
warehouse's own bookkeeping tables (raw.landing_log, raw.partitions) are exported to Parquet;
`dbt build --target spark` builds every model and runs every test (the cost conservation tests
included) in that Spark session; then each mart is read from both engines and compared row by
row, money rounded to the cent, other numbers to 6 decimals. Exit 0 when all marts are equal.

With `--thrift HOST:PORT` the same runs against a Spark Thrift server instead (dbt-spark
`method: thrift`, the `thrift` output of dbt_project/profiles.yml): the raw tables are registered
and the marts read over the server's HiveServer2 protocol (PyHive). The Parquet files must be
where the server can read them (here: the same machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

REPO = Path(__file__).resolve().parents[1]


def _tables(conn: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select table_name from duckdb_tables() where schema_name = ? order by 1", [schema]
        ).fetchall()
    ]


def raw_folders(warehouse: Path) -> dict[str, Path]:
    """raw.<table> -> its folder of files, as the landing wrote them."""
    root = warehouse.parent / f"{warehouse.stem}_raw"
    folders = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and p.name != "nvml_spool"}
    folders["nvml_gpu_windows"] = folders["nvml_process_windows"] = root / "nvml_spool"
    return folders


def export_bookkeeping(warehouse: Path, out: Path) -> dict[str, Path]:
    """The warehouse's own raw tables (landing log, partitions) as Parquet, for the macros that
    read them."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    folders = {}
    try:
        for table in _tables(conn, "raw"):
            folder = out / table
            folder.mkdir(parents=True, exist_ok=True)
            conn.execute(f"copy raw.\"{table}\" to '{folder / 'part-0.parquet'}' (format parquet)")
            folders[table] = folder
        return folders
    finally:
        conn.close()


MONEY_TOLERANCE = Decimal("0.005")  # equal to the cent
RELATIVE_TOLERANCE = 1e-5  # token shares and ratios: Spark narrows decimal scales differently


def _money(column: str) -> bool:
    return column.endswith("_usd") or column.endswith("Cost")


def _key(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _same(a: Any, b: Any, money: bool) -> bool:
    if a is None or b is None or isinstance(a, (bool, str)) or isinstance(b, (bool, str)):
        return _key(a) == _key(b)
    if isinstance(a, (Decimal, float, int)) and isinstance(b, (Decimal, float, int)):
        x, y = Decimal(str(a)), Decimal(str(b))
        if money:
            return abs(x - y) < MONEY_TOLERANCE
        return abs(x - y) <= Decimal(str(RELATIVE_TOLERANCE)) * max(abs(x), abs(y), Decimal(1))
    return _key(a) == _key(b)


def compare_marts(spark: Any, warehouse: Path) -> dict[str, dict[str, Any]]:
    """Every mart on both engines: the same rows (matched on their text, time and cent-rounded
    money columns), money equal to the cent, other numbers to a relative 1e-5."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    out: dict[str, dict[str, Any]] = {}
    try:
        for mart in _tables(conn, "marts"):
            relation = conn.execute(f"select * from marts.{mart}")  # noqa: S608 - catalog names
            columns = [d[0] for d in relation.description]
            money = [_money(c) for c in columns]

            def key(row: tuple[Any, ...], money: list[bool] = money) -> str:
                parts = []
                for value, is_money in zip(row, money, strict=True):
                    if isinstance(value, (Decimal, float)) and not isinstance(value, bool):
                        parts.append(str(round(Decimal(str(value)), 2)) if is_money else "")
                    else:
                        parts.append(repr(_key(value)))
                return "|".join(parts)

            ours = sorted((tuple(r) for r in relation.fetchall()), key=key)
            theirs = sorted(
                (tuple(row[c] for c in columns) for row in spark.table(f"marts.{mart}").collect()),
                key=key,
            )
            first = None
            if len(ours) != len(theirs):
                first = f"{len(ours)} rows in DuckDB, {len(theirs)} on Spark"
            for a, b in zip(ours, theirs, strict=False):
                if first is not None:
                    break
                for column, x, y, is_money in zip(columns, a, b, money, strict=True):
                    if not _same(x, y, is_money):
                        first = f"{column}: duckdb {x!r} / spark {y!r} (row {key(a)})"
                        break
            out[mart] = {"rows": len(ours), "equal": first is None, "first_difference": first}
    finally:
        conn.close()
    return out


class ThriftCatalog:
    """What compare_marts reads through a Thrift server: `table(name).collect()`, rows keyed by
    column name, values typed as a Spark session gives them (HiveServer2 sends decimals, dates
    and timestamps as text)."""

    def __init__(self, host: str, port: int) -> None:
        from pyhive import hive

        self.connection = hive.connect(host=host, port=port, auth="NONE")
        self._rows: list[dict[str, Any]] = []

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    def table(self, name: str) -> ThriftCatalog:
        cursor = self.connection.cursor()
        try:
            cursor.execute(f"select * from {name}")  # noqa: S608 - catalog names
            described = cursor.description or []
            names = [d[0].split(".")[-1] for d in described]
            types = [d[1] for d in described]
            self._rows = [
                {n: _typed(v, t) for n, v, t in zip(names, row, types, strict=True)}
                for row in cursor.fetchall()
            ]
        finally:
            cursor.close()
        return self

    def collect(self) -> list[dict[str, Any]]:
        return self._rows


def _typed(value: Any, hive_type: str) -> Any:
    if value is None or not isinstance(value, str):
        return value
    if hive_type == "DECIMAL_TYPE":
        return Decimal(value)
    if hive_type == "TIMESTAMP_TYPE":
        return datetime.fromisoformat(value)
    if hive_type == "DATE_TYPE":
        return date.fromisoformat(value)
    return value


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--select", default=None)
    parser.add_argument("--thrift", default=None, metavar="HOST:PORT")
    args = parser.parse_args()
    # A Thrift server keeps its own metastore and warehouse in WORK while it runs.
    leftovers = (
        ("raw", "target") if args.thrift else ("raw", "target", "spark-warehouse", "metastore_db")
    )
    for leftover in leftovers:
        shutil.rmtree(args.work / leftover, ignore_errors=True)
    tables = {
        **raw_folders(args.warehouse),
        **export_bookkeeping(args.warehouse, args.work / "raw"),
    }
    catalog: Any
    if args.thrift:
        host, port = args.thrift.rsplit(":", 1)
        os.environ["GPULEDGER_SPARK_THRIFT_HOST"] = host
        os.environ["GPULEDGER_SPARK_THRIFT_PORT"] = port
        catalog = ThriftCatalog(host, int(port))
        for database in ("raw", "gpuledger", "staging", "intermediate", "marts", "reference"):
            catalog.sql(f"drop database if exists {database} cascade")
        target = "thrift"
    else:
        catalog = _session(args.work)
        target = "spark"
    catalog.sql("create database if not exists raw")
    for table, folder in tables.items():
        # A table replaced whole has no key=value folder, only its token's: read every file.
        whole = not any("=" in p.name for p in folder.iterdir())
        options = " options (recursiveFileLookup 'true')" if whole else ""
        catalog.sql(f"create table raw.{table} using parquet{options} location '{folder}'")
    return _build_and_compare(args, catalog, target)


def _session(work: Path) -> Any:
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("gpuledger-dbt")
        .config("spark.sql.warehouse.dir", str(work / "spark-warehouse"))
        .config("spark.driver.memory", "2g")
        .config("spark.sql.session.timeZone", "UTC")
        # The raw tables' partitions are their key=value folders, found when they are read.
        .config("spark.sql.hive.manageFilesourcePartitions", "false")
        .config("spark.ui.enabled", "false")
        # The models quote identifiers the ANSI way ("BilledCost"), as DuckDB does.
        .config("spark.sql.ansi.enabled", "true")
        .config("spark.sql.ansi.doubleQuotedIdentifiers", "true")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )


def _build_and_compare(args: argparse.Namespace, catalog: Any, target: str) -> int:
    from dbt.cli.main import dbtRunner

    os.environ["GPULEDGER_WAREHOUSE"] = str(args.warehouse)
    command = ["build", "--target", target, "--target-path", str(args.work / "target")]
    if args.select:
        command += ["--select", args.select]
    started = time.perf_counter()
    result = dbtRunner().invoke(
        [
            *command,
            "--project-dir",
            str(REPO / "dbt_project"),
            "--profiles-dir",
            str(REPO / "dbt_project"),
        ]
    )
    build_s = time.perf_counter() - started
    if not result.success:
        print(f"dbt build on Spark failed after {build_s:.1f} s")  # noqa: T201 - a command-line tool
        return 1
    differences = compare_marts(catalog, args.warehouse)
    report = {
        "dbt_build_on_spark_s": round(build_s, 1),
        "marts": {m: d for m, d in differences.items()},
        "equal": all(d["equal"] for d in differences.values()),
    }
    (args.work / "spark-lane.json").write_text(json.dumps(report, indent=2) + "\n")
    for mart, d in differences.items():
        verdict = "equal" if d["equal"] else f"DIFFERENT: {d['first_difference']}"
        print(f"{mart}: {d['rows']} rows, {verdict}")  # noqa: T201 - a command-line tool
    print(f"dbt build on Spark: {build_s:.1f} s; marts equal: {report['equal']}")  # noqa: T201 - a command-line tool
    return 0 if report["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
