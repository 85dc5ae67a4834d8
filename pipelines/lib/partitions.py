"""Partitions shared by every source: billing periods are months, everything else is days (UTC)."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

# History the UI offers for backfills; GPULEDGER_PARTITIONS_START moves it.
# 2018: the oldest bill in ../shared/samples (a legacy CUR of August 2018) is a partition too.
PARTITIONS_START = os.environ.get("GPULEDGER_PARTITIONS_START", "2018-01-01")

# end_offset=1: the current month and today are partitions too (bills arrive month-to-date).
monthly = dg.MonthlyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
daily = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)


def billing_period(partition_key: str) -> str:
    """Monthly partition key 2026-10-01 -> billing period 2026-10."""
    return partition_key[:7]


def month_key(period: str) -> str:
    return f"{period}-01"


def day_of(partition_key: str) -> date:
    return date.fromisoformat(partition_key)


# A backfill of many days or billing periods is one run (the UI's backfills and `gpuledger run`,
# which lands consecutive periods and days as ranges): the daily assets land each day of the
# run's partition range in its own transaction, the bills each period, and dbt builds them in
# one invocation (its microbatches: a day or a period each). A run costs seconds whatever it
# holds (dbt's start, Dagster's run), so a year of bills is one run, not twelve.
single_run = dg.BackfillPolicy.single_run()


def billing_periods_of(context: dg.AssetExecutionContext) -> list[str]:
    """The billing periods of a run: one partition, or every month of a backfill's range."""
    return [billing_period(key) for key in context.partition_keys]


def days_of(context: dg.AssetExecutionContext) -> list[date]:
    """The days of a run: one partition, or every day of a backfill's range, in order."""
    return [day_of(key) for key in context.partition_keys]
