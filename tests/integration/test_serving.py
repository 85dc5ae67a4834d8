"""Serving: the BI snapshot and Parquet exports, a reader held open across a run, SQLAlchemy
(duckdb-engine, as Superset connects), and the HTML report rendered by a real browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from tests.conftest import Pipeline

pytestmark = pytest.mark.integration

TOKENS = "select sum(useful_prompt_tokens) from marts.fct_cost_per_useful_token"


def test_each_run_publishes_a_snapshot_and_exports_that_match_the_warehouse(
    demo_pipeline: Pipeline,
) -> None:
    folder = demo_pipeline.warehouse.parent
    snapshot = folder / "serving" / "gpuledger.duckdb"
    conn = duckdb.connect(str(snapshot), read_only=True)
    try:
        assert conn.execute(TOKENS).fetchall() == demo_pipeline.query(TOKENS)
        totals = conn.execute(
            "select sum(cost_usd) from marts.fct_cost_per_useful_token"
        ).fetchall()
    finally:
        conn.close()
    manifest = json.loads((folder / "exports" / "_manifest.json").read_text())
    marts = [
        r[0]
        for r in demo_pipeline.query(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        )
    ]
    assert sorted(manifest["rows"]) == sorted(marts)
    # The demo's three days span two months: the usage-day marts are a file per month.
    assert manifest["files"]["fct_cost_per_useful_token"] == [
        "fct_cost_per_useful_token/2026-10.parquet",
        "fct_cost_per_useful_token/2026-11.parquet",
    ]
    assert manifest["files"]["dim_gpu"] == ["dim_gpu.parquet"]
    months = folder / "exports" / "fct_cost_per_useful_token" / "*.parquet"
    exported = duckdb.sql(f"select sum(cost_usd) from '{months}'").fetchall()
    assert exported == totals
    assert _exports(folder / "exports") == _tables(demo_pipeline.warehouse, "marts")
    assert not list((folder / "serving").glob(".*.tmp"))
    # dbt's target folder is the warehouse's own (one, reused: partial parsing across runs).
    assert (folder / "dbt-target" / "run_results.json").is_file()
    assert (folder / "dbt-target" / "partial_parse.msgpack").is_file()
    # dbt's debug log file is off unless DBT_LOG_LEVEL_FILE asks for it (pipelines/lib/dbt.py).
    assert not (folder / "dbt-target" / "dbt.log").exists()


def test_the_duckdb_cli_of_an_older_release_reads_every_mart_of_the_snapshot(
    demo_pipeline: Pipeline,
) -> None:
    """The recipe `duckdb -readonly warehouse/serving/gpuledger.duckdb`, with the 1.5 CLI: BI
    drivers bundle older DuckDB releases than the pipeline's, which cannot read its own file."""
    cli = Path(sys.executable).parent / "duckdb"
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("v1.5."), version.stdout
    snapshot = demo_pipeline.warehouse.parent / "serving" / "gpuledger.duckdb"
    marts = [
        r[0]
        for r in demo_pipeline.query(
            "select table_name from information_schema.tables where table_schema = 'marts'"
            " order by 1"
        )
    ]
    counts = " union all ".join(f"select '{m}', count(*) from marts.{m}" for m in marts)
    sql = f"{counts}; select sum(cost_usd)::varchar from marts.fct_cost_per_useful_token;"
    result = subprocess.run(
        [cli, "-readonly", "-csv", "-noheader", str(snapshot), "-c", sql],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    expected = demo_pipeline.query(
        " union all ".join(f"select '{m}', count(*) from marts.{m}" for m in marts)
    )
    assert sorted(lines[:-1]) == sorted(f"{m},{n}" for m, n in expected)
    total = demo_pipeline.query(
        "select sum(cost_usd)::varchar from marts.fct_cost_per_useful_token"
    )
    assert lines[-1] == total[0][0]


def test_a_reader_held_open_neither_blocks_a_run_nor_sees_it_half_done(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    from pipelines.lib.serving import publish

    pipeline = demo_pipeline.copy_to(tmp_path)
    publish(pipeline.warehouse, tmp_path / "serving", tmp_path / "exports")  # as a run ends
    snapshot = tmp_path / "serving" / "gpuledger.duckdb"
    before = pipeline.query(TOKENS)
    # The next run copies into the snapshot only the days of the facts whose rows changed: a
    # row copied again comes after every row the snapshot holds now (DuckDB's rowid).
    marts = ("fct_gpu_utilization_hourly", "fct_cost_per_useful_token")
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        held = {m: conn.execute(f"select max(rowid) from marts.{m}").fetchone()[0] for m in marts}
    fingerprints_before = _day_contents(pipeline, marts)
    exports = tmp_path / "exports"
    by_day = tuple(sorted(json.loads((exports / "_manifest.json").read_text())["months"]))
    assert set(marts) < set(by_day)
    all_before = _day_contents(pipeline, by_day)
    # Month files carry an old time: one written again has the time it was written.
    months_before = {p.relative_to(exports) for p in exports.glob("*/*.parquet")}
    for path in months_before:
        os.utime(exports / path, ns=(10**18, 10**18))
    (exports / "fct_cost_per_useful_token.parquet").write_bytes(b"an earlier version's export")
    # A BI tool in another process: opens the snapshot, answers, keeps the connection, answers
    # again when asked.
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys
                conn = duckdb.connect({str(snapshot)!r}, read_only=True)
                print(conn.execute({TOKENS!r}).fetchall()[0][0], flush=True)
                sys.stdin.readline()
                print(conn.execute({TOKENS!r}).fetchall()[0][0], flush=True)
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdin is not None
    first = reader.stdout.readline().strip()
    # New data: a day's request log loses its second half, so fewer useful tokens.
    logs = (pipeline.landing / "inference" / "requests").rglob("*.jsonl")
    log = max(logs, key=lambda p: p.stat().st_size)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[: len(lines) // 2]))
    pipeline.run()  # not blocked by the open reader
    after = pipeline.query(TOKENS)
    assert after != before
    reader.stdin.write("\n")
    reader.stdin.flush()
    second = reader.stdout.readline().strip()
    assert reader.wait(timeout=30) == 0
    # The open connection still reads the snapshot it opened, whole; a new one reads the new.
    assert first == second == str(before[0][0])
    conn = duckdb.connect(str(snapshot), read_only=True)
    try:
        assert conn.execute(TOKENS).fetchall() == after
    finally:
        conn.close()
    # Copied again: the days whose rows changed (the telemetry did not change: none of the
    # utilization mart's). The rest is as the snapshot held it.
    changed = {
        mart: {
            day
            for day, fingerprint in _day_contents(pipeline, marts)[mart].items()
            if fingerprints_before[mart].get(day) != fingerprint
        }
        for mart in marts
    }
    assert not changed["fct_gpu_utilization_hourly"] and changed["fct_cost_per_useful_token"]
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        for mart in marts:
            copied = {
                str(day)
                for day, first in conn.execute(
                    f"select cast(hour_start_at as date), min(rowid) from marts.{mart} group by 1"
                ).fetchall()
                if first > held[mart]
            }
            assert copied == changed[mart], mart
    # Then every table of the snapshot equals the warehouse's.
    assert _tables(snapshot, "marts", "reference") == _tables(
        pipeline.warehouse, "marts", "reference"
    )
    # The exports by month: written again are the months of the changed days, and only those.
    months_after = {
        p.relative_to(exports): p.stat().st_mtime_ns for p in exports.glob("*/*.parquet")
    }
    assert months_after.keys() == months_before
    rewritten = {path for path, written in months_after.items() if written != 10**18}
    all_after = _day_contents(pipeline, by_day)
    assert rewritten == {
        Path(mart) / f"{day[:7]}.parquet"
        for mart in by_day
        for day in all_after[mart].keys() | all_before[mart].keys()
        if all_after[mart].get(day) != all_before[mart].get(day)
    }
    assert rewritten and len(rewritten) < len(months_after)
    assert not (exports / "fct_cost_per_useful_token.parquet").exists()
    assert _exports(exports) == _tables(pipeline.warehouse, "marts")


def _day_contents(pipeline: Pipeline, marts: tuple[str, ...]) -> dict[str, dict]:
    """Per fact, day -> a digest of its rows as text, sorted (any order gives the same)."""
    out = {}
    for mart in marts:
        [(day,)] = pipeline.query(
            "select column_name from information_schema.columns where table_schema = 'marts'"
            " and table_name = ? and column_name in ('hour_start_at', 'usage_date')",
            [mart],
        )
        out[mart] = {
            str(usage_day): digest
            for usage_day, digest in pipeline.query(
                f"select cast({day} as date), md5(string_agg(rows::varchar, '|'"
                f" order by rows::varchar)) from marts.{mart} as rows group by 1"
            )
        }
    return out


def _exports(exports: Path) -> dict[str, list[str]]:
    """Every mart of the manifest, as the rows of its export files in order (as _tables)."""
    manifest = json.loads((exports / "_manifest.json").read_text())
    tables = {}
    for mart, files in manifest["files"].items():
        paths = [str(exports / f) for f in files]
        rows = (
            duckdb.sql(f"select * from read_parquet({paths!r}) order by all").fetchall()
            if paths
            else []  # a fact without rows: no month
        )
        assert len(rows) == manifest["rows"][mart], mart
        tables[f"marts.{mart}"] = sorted(map(repr, rows))
    return tables


def _tables(database: Path, *schemas: str) -> dict[str, list[str]]:
    """Every table of the schemas, as its rows in order."""
    with duckdb.connect(str(database), read_only=True) as conn:
        names = conn.execute(
            "select schema_name || '.' || table_name from duckdb_tables()"
            " where list_contains(?, schema_name) order by 1",
            [list(schemas)],
        ).fetchall()
        return {
            name: sorted(map(repr, conn.execute(f"select * from {name}").fetchall()))
            for (name,) in names
        }


def test_sqlalchemy_duckdb_engine_reads_the_snapshot_like_a_bi_tool(
    demo_pipeline: Pipeline,
) -> None:
    snapshot = demo_pipeline.warehouse.parent / "serving" / "gpuledger.duckdb"
    engine = sa.create_engine(f"duckdb:///{snapshot}", connect_args={"read_only": True})
    try:
        inspector = sa.inspect(engine)
        assert "fct_workload_unit_cost_daily" in inspector.get_table_names(schema="marts")
        columns = {c["name"] for c in inspector.get_columns("fct_cost_per_useful_token", "marts")}
        assert {"hour_start_at", "workload", "cost_usd"} <= columns
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "select workload, sum(cost_usd) as cost from marts.fct_cost_per_useful_token"
                    " group by workload order by cost desc"
                )
            ).all()
    finally:
        engine.dispose()
    assert rows[0][0] == "chat-assistant"
    assert (
        sum(r[1] for r in rows)
        == demo_pipeline.query("select sum(cost_usd) from marts.fct_cost_per_useful_token")[0][0]
    )


def test_report_renders_its_charts_in_headless_chromium(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:
    from PIL import Image

    from report import write_report

    report = write_report(demo_pipeline.warehouse, tmp_path / "report.html")
    text = report.read_text()
    assert text.count('<svg class="chart"') == 7
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org", "")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*base, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    # The browser parsed every chart: its DOM holds the SVG elements drawn.
    assert dom.count("<svg") == 7
    assert dom.count('class="cell"') == 18 * 72  # 18 GPUs x 72 hours
    shot = tmp_path / "report.png"
    subprocess.run(
        [*base, "--window-size=1000,2400", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    image = Image.open(shot).convert("RGB")
    colors = image.getcolors(maxcolors=1_000_000) or []
    by_color = {rgb: n for n, rgb in colors}
    # The waste chart's bars painted: attributed green, held-idle orange, unused red.
    for rgb in ((0x2C, 0xA0, 0x2C), (0xFF, 0x7F, 0x0E), (0xD6, 0x27, 0x28)):
        assert by_color.get(rgb, 0) > 2000, rgb
    # The heatmap drew shades of blue for busy hours.
    blues = sum(n for rgb, n in by_color.items() if rgb[2] > rgb[0] + 40)
    assert blues > 10_000
    keep = os.environ.get("GPULEDGER_SCREENSHOTS")  # .ci/run keeps the PNGs it renders
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, Path(keep) / shot.name)


def test_dbt_docs_generate_documents_every_mart_column(
    demo_pipeline: Pipeline, tmp_path: Path
) -> None:

    from pipelines.lib.paths import DBT_PROJECT_DIR, dbt_executable

    target = tmp_path / "target"
    env = {
        **os.environ,
        "GPULEDGER_WAREHOUSE": str(demo_pipeline.warehouse),
        "GPULEDGER_LANDING": str(demo_pipeline.landing),
    }
    subprocess.run(
        [dbt_executable(), "docs", "generate", "--target-path", str(target), "--quiet"],
        cwd=DBT_PROJECT_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    marts = {
        k: v
        for k, v in manifest["nodes"].items()
        if v["resource_type"] == "model" and v["fqn"][1] == "marts"
    }
    assert len(marts) == 10
    for key, node in marts.items():
        assert node["description"], key
        undocumented = [c for c, col in node["columns"].items() if not col["description"]]
        assert undocumented == [], key
        # The catalog read the built table: every documented column exists in the warehouse.
        built = {c.lower() for c in catalog["nodes"][key]["columns"]}
        assert {c.lower() for c in node["columns"]} <= built, key
    assert (target / "index.html").is_file()


def test_the_snapshot_carries_every_mart_and_column_description(demo_pipeline: Pipeline) -> None:
    """dbt's descriptions persist as DuckDB comments (persist_docs), copied into the snapshot,
    so `duckdb_columns()` and BI tools show them."""
    import yaml

    from pipelines.lib.paths import DBT_PROJECT_DIR

    declared = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "_marts.yml").read_text())
    expected = {
        (model["name"], column["name"]): " ".join(column["description"].split())
        for model in declared["models"]
        for column in model["columns"]
    }
    snapshot = demo_pipeline.warehouse.parent / "serving" / "gpuledger.duckdb"
    conn = duckdb.connect(str(snapshot), read_only=True)
    try:
        comments = {
            (table, column): " ".join((comment or "").split())
            for table, column, comment in conn.execute(
                "select table_name, column_name, comment from duckdb_columns()"
                " where schema_name = 'marts'"
            ).fetchall()
        }
        tables = dict(
            conn.execute(
                "select table_name, comment from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        )
    finally:
        conn.close()
    assert len(expected) > 150
    assert {k: comments.get(k) for k in expected} == expected
    assert len(tables) == 10 and all(tables.values())


def test_overhead_buckets_are_apart_from_workloads_and_commitments_named(
    demo_pipeline: Pipeline,
) -> None:
    rows = demo_pipeline.query(
        "select cost_bucket, count(*), count(gpu_uuid), count(commitment_id),"
        " bool_and(workload like '(%')"
        " from marts.fct_cost_per_useful_token group by 1 order by 1"
    )
    assert [r[0] for r in rows] == ["unallocated", "unused_commitment", "workload"]
    by_bucket = {r[0]: r[1:] for r in rows}
    count, gpus, commitments, overhead = by_bucket["unused_commitment"]
    assert (gpus, commitments, overhead) == (0, count, True)
    assert by_bucket["workload"][2:] == (0, False)
    # The share of cost held idle by workloads, as a person would sum it, apart from the idle
    # cost of the overhead buckets (unused commitment, unallocated) a naive sum would add.
    [(share, naive)] = demo_pipeline.query(
        "select sum(idle_cost_usd) filter (where cost_bucket = 'workload') / sum(cost_usd),"
        " sum(idle_cost_usd) / sum(cost_usd) from marts.fct_workload_unit_cost_daily"
    )
    assert 0.65 < share < 0.75 and naive > 0.9
    assert demo_pipeline.query(
        "select distinct commitment_id from marts.fct_cost_per_useful_token"
        " where commitment_id is not null order by 1"
    ) == [
        (c,)
        for c in sorted(
            r[0]
            for r in demo_pipeline.query(
                "select distinct commitment_id from marts.fct_commitment_utilization_daily"
                " where unused_cost_usd > 0"
            )
        )
    ]


def test_the_report_reads_at_a_glance(demo_pipeline: Pipeline) -> None:
    """Round axis ticks, whole commitment ids, every bar's value written, a heatmap legend, and a
    note for what is not drawn."""
    import re

    from report import build_report

    page = build_report(demo_pipeline.warehouse)
    ticks = [
        float(t.replace(",", "")) for t in re.findall(r'text-anchor="end">([0-9.,]+)</text>', page)
    ]
    assert ticks and all(t * 4 == round(t * 4) for t in ticks)  # 0, 2, 4 ... never 96.1
    assert {4.0, 2000.0} <= set(ticks)
    ids = [
        r[0]
        for r in demo_pipeline.query(
            "select distinct commitment_id from marts.fct_commitment_utilization_daily order by 1"
        )
    ]
    note = " ".join(page.split())
    for number, commitment in enumerate(ids, start=1):
        assert f"C{number} = {commitment}:" in note
    assert "…" not in page
    # The API's price is a sliver beside the GPUs' cost: its value is written above it.
    assert ">$0.88</text>" in page and ">$5.27</text>" in page
    assert "100% busy</text>" in page and "no data</text>" in page
    assert "translate-canary: no useful tokens, at a cost of $56.05" in note
    assert "translate-canary: not compared (no priced tokens)" in note
    assert ">$0.00</text>" not in page.split("Producer vs consumer")[1]
    # Useful against goodput tokens: each workload's share within its objectives (the demo's
    # objectives, docs/calibration.md), computed here from the fact.
    shares = demo_pipeline.query(
        "select workload, sum(goodput_tokens) / sum(useful_tokens)"
        " from marts.fct_workload_unit_cost_daily where workload not like '(%'"
        " group by 1 having sum(useful_tokens) > 0 order by 1"
    )
    assert len(shares) == 4
    for workload, share in shares:
        assert f"{workload}: {share:.1%} of useful tokens within objectives" in note
    # Energy per million useful tokens, and what the power cost or why it is not shown.
    energy = demo_pipeline.query(
        "select workload, sum(energy_kwh) * 1e9 / sum(metered_useful_tokens),"
        " max(energy_cost_unknown_reason) from marts.fct_workload_unit_cost_daily"
        " where workload not like '(%' group by 1"
        " having sum(energy_kwh) > 0 and sum(metered_useful_tokens) > 0 order by 1"
    )
    assert energy
    for workload, wh, reason in energy:
        assert f"{workload}: {wh:,.1f} Wh/M, " in note
        if reason == "power_in_cloud_bill":
            assert f"{workload}: {wh:,.1f} Wh/M, cloud GPUs: the power is in" in note
