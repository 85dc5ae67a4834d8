# All set-up happens here: `make demo` and `make test` work on a fresh machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export UV_COMPILE_BYTECODE := 1
export DAGSTER_HOME := $(CURDIR)/.dagster

.PHONY: install demo test test-fast test-spark lint typecheck manifest dev clean focus-validator bench

$(BIN)/.installed: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv sync --locked --compile-bytecode --python $(PYTHON)
	@touch $@

# uv compiles the installed packages; the project's own modules run from the checkout, so they
# are compiled here (with PYTHONDONTWRITEBYTECODE set, Python would compile them in every
# process: 0.1-0.45 s of each start, the Dagster code server and each run's included).
# compileall skips what is up to date.
install: $(BIN)/.installed
	@$(BIN)/python -m compileall -q pipelines collectors synth bench report >/dev/null

# dbt's manifest, parsed again only when the project changed since (pipelines/lib/manifest.py):
# a run reading it is never handed a manifest being rewritten.
manifest: install
	$(BIN)/python -c "from pipelines.lib.manifest import prepare_manifest; prepare_manifest()"

demo: install
	$(BIN)/gpuledger demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The FinOps focus-validator lives in its own environment (see tools/focus-validator.sh).
focus-validator:
	PYTHON=$(PYTHON) tools/focus-validator.sh install

# One worker per core (at most 4): a pipeline run is mostly one Python process waiting on another
# (dbt), so two runs share two cores well. A module's tests stay on one worker (its fixtures).
PYTEST_WORKERS ?= -n auto --maxprocesses 4 --dist loadfile
test: lint typecheck manifest focus-validator
	$(BIN)/pytest $(PYTEST_WORKERS)

# The same dbt project on Spark (tools/spark-lane.sh): a demo warehouse's raw tables as Parquet,
# `dbt build --target spark` in a local Spark session, every mart compared with DuckDB's.
SPARK_WORK ?= /tmp/gpuledger-spark-lane
test-spark: install
	rm -rf $(SPARK_WORK) && mkdir -p $(SPARK_WORK)
	$(BIN)/gpuledger demo --landing $(SPARK_WORK)/landing --warehouse $(SPARK_WORK)/gpuledger.duckdb >/dev/null
	PYTHON=$(PYTHON) tools/spark-lane.sh run $(SPARK_WORK)/gpuledger.duckdb $(SPARK_WORK)

test-fast: install
	$(BIN)/pytest -m "not integration"

# Benchmarks write results files (bench/results/); quote their medians, never timed tests.
bench: install
	$(BIN)/python tools/bench_collector.py --minutes 3

dev: manifest
	$(BIN)/gpuledger dev

clean:
	rm -rf $(VENV) .venv-focus-validator dbt_project/target warehouse/landing warehouse/*.duckdb
