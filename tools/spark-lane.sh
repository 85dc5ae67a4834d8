#!/usr/bin/env bash
# The dbt project on Spark (dbt-spark session mode, a local Spark on this machine's Java 17), in
# an environment of its own (.venv-spark): pyspark is 300 MB the pipeline itself never needs.
#
#   tools/spark-lane.sh install                     # idempotent, about 80 s the first time
#   tools/spark-lane.sh run WAREHOUSE.duckdb WORK   # build on Spark, compare marts with DuckDB's
#   tools/spark-lane.sh thrift WAREHOUSE.duckdb WORK  # the same through a local Thrift server
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="$here/.venv-spark"
stamp="$venv/.installed-2"
python="${PYTHON:-python3}"

install() {
  [ -f "$stamp" ] && return 0
  "$python" -m uv --version >/dev/null 2>&1 || "$python" -m pip install --quiet uv
  "$python" -m uv venv --quiet --allow-existing --python "$python" "$venv"
  "$python" -m uv pip install --quiet --compile-bytecode --python "$venv/bin/python" \
    "dbt-core==1.11.16" "dbt-spark[session,PyHive]==1.11.0" "pyspark==4.3.0" "duckdb==2.0.1"
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
  thrift)
    install
    mkdir -p "$3"
    cd "$3"
    port="${GPULEDGER_SPARK_THRIFT_PORT:-10000}"
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port on 127.0.0.1 is taken: set GPULEDGER_SPARK_THRIFT_PORT to a free one" >&2
      exit 1
    fi
    spark_home="$("$venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
    # Spark's Thrift server (HiveServer2 protocol) on loopback only, its metastore in WORK.
    SPARK_HOME="$spark_home" "$spark_home/bin/spark-submit" \
      --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 --master "local[2]" \
      --conf spark.driver.memory=2g --conf spark.ui.enabled=false \
      --conf spark.driver.bindAddress=127.0.0.1 --conf spark.driver.host=127.0.0.1 \
      --conf spark.sql.warehouse.dir="$3/spark-warehouse" \
      --conf spark.sql.hive.manageFilesourcePartitions=false \
      --hiveconf hive.server2.thrift.bind.host=127.0.0.1 \
      --hiveconf hive.server2.thrift.port="$port" \
      spark-internal >"$3/thrift-server.log" 2>&1 &
    server=$!
    trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
    listening=""
    for _ in $(seq 1 120); do
      (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { listening=1; break; }
      kill -0 "$server" 2>/dev/null || { cat "$3/thrift-server.log" >&2; exit 1; }
      sleep 1
    done
    [ -n "$listening" ] || { echo "the Thrift server did not listen within 120 s ($3/thrift-server.log)" >&2; exit 1; }
    "$venv/bin/python" "$here/tools/spark_lane.py" --warehouse "$2" --work "$3" \
      --thrift "127.0.0.1:$port"
    ;;
  *) echo "usage: $0 install | run WAREHOUSE.duckdb WORK | thrift WAREHOUSE.duckdb WORK" >&2; exit 2 ;;
esac
