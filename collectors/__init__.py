"""Code that runs on GPU hosts. Importable without dagster or dbt installed."""
