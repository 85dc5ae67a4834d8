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


# A backfill of many days is one run (the UI's backfills and `gpuledger run --start --end`):
# the daily assets land each day of the run's partition range in its own transaction.
single_run = dg.BackfillPolicy.single_run()
# A billing period is landed and built in a run of its own (billing_monthly): the landings
# replace one period each, and dagster-dbt's default for the bill-line models is one run.
run_per_period = dg.BackfillPolicy.multi_run(1)


def days_of(context: dg.AssetExecutionContext) -> list[date]:
    """The days of a run: one partition, or every day of a backfill's range, in order."""
    return [day_of(key) for key in context.partition_keys]
