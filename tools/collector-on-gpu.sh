#!/usr/bin/env bash
# The device check for the NVML collector (docs/collector.md), for a lent GPU machine. The
# machine has no network: run `tools/collector-on-gpu.sh vendor` here first, which copies
# nvidia-ml-py's single-file pynvml into tools/vendor/ (git-ignored, carried with the run), then
# on the device: `bash tools/collector-on-gpu.sh` (writes $OUT/gpu_check.json and the unit tests'
# output).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${1:-}" = vendor ]; then
  mkdir -p "$here/tools/vendor"
  cp "$here/.venv/lib/python3.11/site-packages/pynvml.py" "$here/tools/vendor/"
  exit 0
fi
export PYTHONPATH="$here/tools/vendor:$here"
nvidia-smi -L || true
python3 "$here/tools/gpu_check.py" --ticks 30 --interval 1
