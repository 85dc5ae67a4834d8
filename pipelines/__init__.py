"""gpuledger: the Dagster code location (assets, dbt, schedules) and the `gpuledger` CLI."""
