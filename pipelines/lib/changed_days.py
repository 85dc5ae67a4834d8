"""The usage days a landing changed, in its materialization's metadata.

A run builds the models made a day at a time (pipelines/defs/transform/assets.py) for the days
its landings changed, read back from those metadata (pipelines/defs/sources/discovery.py::
days_to_build):

* a day of telemetry or request logs changes that day (its partition);
* a bill (a CUR delivery, a FOCUS or GCP export of a billing period) changes the usage days
  whose lines differ from the lines landed before: per usage day, a count and a sum of the
  hashes of the lines one of whose hours falls on it (every column but the file and row the
  line was read from, so a re-delivery of the same lines under new file names changes no day).
  A CUR restated for one day rebuilds that day, not the month;
* contracts, the API price book and exchange rates are read by every day: a change to them
  changes every day; so does one to list prices, whose dimension the build of days builds.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import duckdb

from pipelines.lib import raw_files

USAGE_DAYS_CHANGED = "usage_days_changed"
EVERY_DAY = "every day"

# Each bill's usage start and end (end exclusive) in its raw files.
USAGE_SPANS = {
    "aws_cur_line_items": ("line_item_usage_start_date", "line_item_usage_end_date"),
    "focus_charges": ('"ChargePeriodStart"', '"ChargePeriodEnd"'),
    "gcp_billing_export": ("usage_start_time", "usage_end_time"),
}
# Where a line was read from (the file, its row, the CUR delivery): not part of what it bills.
LINEAGE = ("source_file", "source_row", "execution_id")
# The tables replaced whole that every day reads.
READ_BY_EVERY_DAY = (
    "contracts",
    "contract_resources",
    "api_prices",
    "api_equivalents",
    "exchange_rates",
    "service_objectives",
    "host_aliases",
)


def bill_digests(conn: duckdb.DuckDBPyConnection, table: str, value: str) -> dict[str, str]:
    """Per usage day ('YYYY-MM-DD'), the digest of the lines of one billing period of a bill
    that fall on it, as its raw files hold them now."""
    start, end = USAGE_SPANS[table]
    key = raw_files.TABLES[table].key
    columns = ", ".join(
        f'"{name}"' for name, _ in raw_files.column_types(table) if name not in LINEAGE
    )
    rows = conn.execute(
        f"""
        select cast(usage_day as date), count(*), sum(line_hash)
        from (
            select
                hash({columns}) as line_hash,
                unnest(generate_series(
                    cast(cast({start} as date) as timestamp),
                    cast(cast(greatest({start}, {end} - interval 1 microsecond) as date)
                        as timestamp),
                    interval 1 day
                )) as usage_day
            from {raw_files.scan(conn, table)}
            where {key} = ? and {start} is not null
        )
        group by 1
        """,  # noqa: S608 (the code's own names)
        [value],
    ).fetchall()
    return {day.isoformat(): f"{count}:{total}" for day, count, total in rows}


def bill_days_changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The usage days whose lines changed, appeared or went."""
    return sorted(day for day in before.keys() | after.keys() if before.get(day) != after.get(day))


def versions(conn: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """The versions (tokens: hashes of their files) of tables replaced whole."""
    return [
        (str(table), str(token))
        for table, token in conn.execute(
            "select table_name, token from raw.partitions where table_name in"
            " (select unnest(?)) order by 1",
            [list(tables)],
        ).fetchall()
    ]


def data_version(conn: duckdb.DuckDBPyConnection, table: str) -> dg.DataVersion:
    """A table replaced whole, as Dagster's data version of the asset that lands it: the hash of
    its files, so a landing of the same files gives the same version and the models built from
    it are not stale (pipelines/defs/transform/assets.py)."""
    return dg.DataVersion(":".join(token for _, token in versions(conn, (table,))) or "empty")


def land_read_by_every_day(
    conn: duckdb.DuckDBPyConnection, table: str, land: Callable[[], object]
) -> tuple[dg.DataVersion, dict[str, dg.MetadataValue]]:
    """Land a table replaced whole that every day reads (``land`` writes it): the table's data
    version, and the landing's metadata entry (EVERY_DAY when any such table changed)."""
    before = versions(conn, READ_BY_EVERY_DAY)
    land()
    changed = versions(conn, READ_BY_EVERY_DAY) != before
    return data_version(conn, table), metadata(EVERY_DAY if changed else [])


def metadata(days: list[str] | str) -> dict[str, dg.MetadataValue]:
    """A landing's metadata entry: the usage days it changed, or EVERY_DAY."""
    return {USAGE_DAYS_CHANGED: dg.MetadataValue.json({"days": days})}
