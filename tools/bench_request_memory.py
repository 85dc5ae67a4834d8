"""Peak memory and time of landing one day of request logs held in one large file.

For each size (millions of requests), a day is written as one JSONL file of realistic records,
then landed by ``land_day`` in a process of its own (its peak RSS is its own). A second variant
puts one invalid line first, so the whole file goes through the line reader. Medians of
``--repeat`` tries; writes bench/results/request-log-memory.json and .md.

    .venv/bin/python tools/bench_request_memory.py [--millions 1 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAY = "2026-10-30"

LAND = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
from pipelines.defs.sources.inference import load
from pipelines.lib.warehouse import connect
root, day = Path(sys.argv[1]), date.fromisoformat(sys.argv[2])
files = load.request_files(root / "landing" / "inference", day)
started = time.perf_counter()
with connect(root / "w.duckdb") as conn:
    landed, quarantined = load.land_day(conn, day, files, root / "landing")
print(json.dumps({"seconds": time.perf_counter() - started, "landed": landed,
                  "quarantined": quarantined,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_day(root: Path, requests: int, invalid_first: bool) -> Path:
    folder = root / "landing" / "inference" / "requests" / f"date={DAY}"
    folder.mkdir(parents=True)
    path = folder / "gateway.jsonl"
    with path.open("w") as out:
        if invalid_first:
            out.write("not json\n")
        for i in range(requests):
            record = {
                "time": f"{DAY}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}Z",
                "request_id": f"req-{i:012d}",
                "host": f"host-{i % 50}",
                "endpoint": "/v1/chat/completions",
                "workload": f"workload-{i % 7}",
                "model": "meta-llama/Llama-3.1-70B-Instruct",
                "status": 200,
                "finish_reason": "stop",
                "usage": {
                    "prompt_tokens": 512 + i % 100,
                    "completion_tokens": 128 + i % 50,
                    "prompt_tokens_details": {"cached_tokens": 0},
                },
            }
            out.write(json.dumps(record) + "\n")
    return path


def land(root: Path) -> dict[str, float]:
    shutil.rmtree(root / "w_raw", ignore_errors=True)
    (root / "w.duckdb").unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", LAND, str(root), DAY],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--millions", type=float, nargs="+", default=[1, 4])
    parser.add_argument(
        "--line-reader-millions", type=float, nargs="+", default=[1], help="sizes read line by line"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpuledger-bench-request-memory"))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    rows = []
    for millions in args.millions:
        for invalid_first in (False, True)[: 2 if millions in args.line_reader_millions else 1]:
            root = args.work / f"{millions}m-{'line-reader' if invalid_first else 'clean'}"
            shutil.rmtree(root, ignore_errors=True)
            size = write_day(root, int(millions * 1e6), invalid_first).stat().st_size
            tries = [land(root) for _ in range(args.repeat)]
            rows.append(
                {
                    "requests": int(millions * 1e6),
                    "file_mib": round(size / 2**20),
                    "reader": "line by line (one invalid line)" if invalid_first else "Arrow",
                    "landed": tries[0]["landed"],
                    "quarantined": tries[0]["quarantined"],
                    "median_seconds": round(statistics.median(t["seconds"] for t in tries), 1),
                    "median_peak_mib": round(statistics.median(t["peak_mib"] for t in tries)),
                }
            )
            shutil.rmtree(root, ignore_errors=True)
    result = {
        "benchmark": "request-log-memory",
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "repeat": args.repeat,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "request-log-memory.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Landing one day of request logs held in one file",
        "",
        f"Measured with `tools/bench_request_memory.py` on {result['machine']}: medians of "
        f"{args.repeat} tries, each `land_day` in a process of its own (peak RSS is its own).",
        "",
        "| requests | file | reader | landed | quarantined | seconds | peak RSS |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['requests']:,} | {r['file_mib']:,} MiB | {r['reader']} | {r['landed']:,} "
            f"| {r['quarantined']} | {r['median_seconds']} | {r['median_peak_mib']:,} MiB |"
            for r in rows
        ),
        "",
    ]
    (args.out / "request-log-memory.md").write_text("\n".join(lines))
    sys.stdout.write("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
