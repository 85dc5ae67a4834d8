#!/usr/bin/env bash
# The dbt project on Spark (dbt-spark session mode, a local Spark on this machine's Java 17), in
# an environment of its own (.venv-spark): pyspark is 300 MB the pipeline itself never needs.
#
#   tools/spark-lane.sh install                     # idempotent, about 80 s the first time
#   tools/spark-lane.sh run WAREHOUSE.duckdb WORK   # build on Spark, compare marts with DuckDB's
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="$here/.venv-spark"
stamp="$venv/.installed-1"
python="${PYTHON:-python3}"

install() {
  [ -f "$stamp" ] && return 0
  "$python" -m uv --version >/dev/null 2>&1 || "$python" -m pip install --quiet uv
  "$python" -m uv venv --quiet --allow-existing --python "$python" "$venv"
  "$python" -m uv pip install --quiet --compile-bytecode --python "$venv/bin/python" \
    "dbt-core==1.11.16" "dbt-spark[session]==1.11.0" "pyspark==4.3.0" "duckdb==2.0.1"
  touch "$stamp"
}

case "${1:-}" in
  install) install ;;
  run)
    install
    # Spark's Derby metastore and warehouse go to WORK, not the checkout.
    mkdir -p "$3"
    cd "$3" && exec "$venv/bin/python" "$here/tools/spark_lane.py" --warehouse "$2" --work "$3"
    ;;
  *) echo "usage: $0 install | run WAREHOUSE.duckdb WORK" >&2; exit 2 ;;
esac
