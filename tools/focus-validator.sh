#!/usr/bin/env bash
# The FinOps Foundation's focus-validator in an environment of its own (.venv-focus-validator).
#
# Why apart: it pins numpy<2 and an old sqlglot that break dagster-dbt and pyarrow 26, and it
# declares Python >= 3.12. On 3.11 it runs once one PEP 701 f-string is rewritten, beside
# pyarrow < 20. It opens rules/currency_codes.csv relative to the working directory, so it runs
# from the folder that holds the package. --block-download keeps it on its bundled rules (offline).
#
#   tools/focus-validator.sh install            # idempotent
#   tools/focus-validator.sh run FILE.csv       # prints its report; the caller reads the summary
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="$here/.venv-focus-validator"
version="2.2.1"
src="$venv/src/focus_validator-$version"
python="${PYTHON:-python3}"

install() {
  [ -f "$venv/.installed-$version" ] && return 0
  "$python" -m uv --version >/dev/null 2>&1 || "$python" -m pip install --quiet uv
  "$python" -m uv venv --quiet --allow-existing --python "$python" "$venv"
  # Its own pins (pyproject of 2.2.1), with pyarrow < 20 for numpy 1.x.
  "$python" -m uv pip install --quiet --compile-bytecode --python "$venv/bin/python" \
    "pandas>=2,<3" tabulate "pyarrow<20" "pydantic>=2.12,<3" "pyyaml>=6.0.3" requests \
    "pandera>=0.26.1,<0.27" "multimethod>=2.0,<2.1" "sqlglot>=27.28.1,<28" "jsonschema>=4.25.1" \
    "numpy>=1.26,<2" "pytz>=2025.2" "pandasql>=0.7.3" "polars>=1.34,<2" "ddt>=1.7.1" \
    "duckdb>=1.4.1,<2" "graphviz>=0.21"
  mkdir -p "$venv/src"
  "$venv/bin/python" -m ensurepip --upgrade >/dev/null 2>&1 || true
  "$python" -m pip download --quiet --no-deps --no-binary=:all: --ignore-requires-python \
    "focus-validator==$version" -d "$venv/src"
  tar -xzf "$venv/src/focus_validator-$version.tar.gz" -C "$venv/src"
  # PEP 701 (3.12) f-string -> 3.11: a quote-escaping replace() inside an f-string expression.
  "$venv/bin/python" - "$src/focus_validator/config_objects/focus_to_duckdb_converter.py" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
old = """", ".join(f"'{k.replace('\\"', '\\"\\"')}'" for k in ignore_keys)"""
new = """", ".join("'" + k.replace('"', '""') + "'" for k in ignore_keys)"""
if old not in text and new not in text:
    sys.exit("focus-validator: the f-string to patch was not found; check the version")
open(path, "w").write(text.replace(old, new))
PY
  compile_source
  touch "$venv/.installed-$version"
}

# Its own source runs from src/ (not site-packages), so no installer compiled it, and with
# PYTHONDONTWRITEBYTECODE set each run compiled its 0.7 MB again: 0.2-0.3 s of a 4 s run.
compile_source() {
  [ -d "$src/focus_validator/__pycache__" ] ||
    "$venv/bin/python" -m compileall -q "$src/focus_validator" >/dev/null
}

run() {
  install
  compile_source  # an environment installed before the step above
  data="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  cd "$src"
  PYTHONPATH="$src" "$venv/bin/python" -m focus_validator.main --data-file "$data" \
    --validate-version 1.2 --block-download "${@:2}"
}

case "${1:-}" in
  install) install ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 install | run FILE [validator options]" >&2; exit 2 ;;
esac
