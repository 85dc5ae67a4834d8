"""The Parquet exports of pipelines/lib/serving.py on a small warehouse written here: a fact (a
mart with a day column) is a file per month, written again only when a day of that month
changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.serving import publish

OLD = 10**18  # a time set on the files before a publish: one written again has a newer one


def _warehouse(path: Path) -> None:
    """A fact over three days in two months, and a dim."""
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.fct as select"
            " timestamp '2026-10-31 00:00' + to_hours(i % 72) as hour_start_at,"
            " i as value from range(144) as t(i)"
        )
        conn.execute("create table marts.dim as select 1 as id")


def _publish(warehouse: Path) -> tuple[Path, dict[str, int]]:
    """Publish, after setting an old time on every export: the files written, by path."""
    exports = warehouse.parent / "exports"
    for path in exports.rglob("*.parquet"):
        os.utime(path, ns=(OLD, OLD))
    publish(warehouse, warehouse.parent / "serving", exports)
    written = {
        str(p.relative_to(exports)): int(p.stat().st_mtime_ns != OLD)
        for p in exports.rglob("*.parquet")
    }
    return exports, written


def _rows(exports: Path, files: list[str]) -> list[tuple[object, ...]]:
    paths = [str(exports / f) for f in files]
    return duckdb.sql(f"select * from read_parquet({paths!r}) order by all").fetchall()


def test_months_are_written_again_only_when_one_of_their_days_changed(tmp_path: Path) -> None:
    warehouse = tmp_path / "gpuledger.duckdb"
    _warehouse(warehouse)
    exports, written = _publish(warehouse)
    assert written == {"fct/2026-10.parquet": 1, "fct/2026-11.parquet": 1, "dim.parquet": 1}
    manifest = json.loads((exports / "_manifest.json").read_text())
    assert manifest["rows"] == {"fct": 144, "dim": 1}
    assert manifest["files"]["fct"] == ["fct/2026-10.parquet", "fct/2026-11.parquet"]
    assert {m: v["rows"] for m, v in manifest["months"]["fct"].items()} == {
        "2026-10": 48,
        "2026-11": 96,
    }
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert (
            _rows(exports, manifest["files"]["fct"])
            == conn.execute("select * from marts.fct order by all").fetchall()
        )

    # Nothing changed: no month is written (the dims always are).
    assert _publish(warehouse)[1] == {
        "fct/2026-10.parquet": 0,
        "fct/2026-11.parquet": 0,
        "dim.parquet": 1,
    }
    # A day of November changed: November only, with the new rows.
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("update marts.fct set value = -value where hour_start_at >= '2026-11-02'")
    exports, written = _publish(warehouse)
    assert written["fct/2026-10.parquet"] == 0 and written["fct/2026-11.parquet"] == 1
    assert min(v for (_, v) in _rows(exports, ["fct/2026-11.parquet"])) == -143
    # A month file gone is written again; so is every month when the columns change.
    (exports / "fct" / "2026-10.parquet").unlink()
    assert _publish(warehouse)[1]["fct/2026-10.parquet"] == 1
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("alter table marts.fct add column note varchar")
    written = _publish(warehouse)[1]
    assert written["fct/2026-10.parquet"] == written["fct/2026-11.parquet"] == 1
    # October's days went: its file goes with them.
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("delete from marts.fct where hour_start_at < '2026-11-01'")
    exports, written = _publish(warehouse)
    assert written == {"fct/2026-11.parquet": 0, "dim.parquet": 1}
    manifest = json.loads((exports / "_manifest.json").read_text())
    assert manifest["rows"]["fct"] == 96


def test_rows_without_a_day_fail_the_publish(tmp_path: Path) -> None:
    """A fact's rows without a day would be left out of its monthly exports, so the publish
    fails; the last snapshot, manifest and exports all stay, although the dim (before the fact,
    alphabetically) and a month of the fact were written first."""
    warehouse = tmp_path / "gpuledger.duckdb"
    _warehouse(warehouse)
    exports = _publish(warehouse)[0]
    snapshot = (tmp_path / "serving" / "gpuledger.duckdb").read_bytes()
    manifest = (exports / "_manifest.json").read_text()
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("update marts.dim set id = 2")
        conn.execute("update marts.fct set value = -value where hour_start_at >= '2026-11-02'")
        conn.execute("insert into marts.fct values (null, 7)")
        # A new fact, exported (alphabetically) before the fact fails: no folder for it.
        conn.execute("create table marts.dfct as select * from marts.fct limit 3")
    for path in exports.rglob("*.parquet"):
        os.utime(path, ns=(OLD, OLD))
    with pytest.raises(RuntimeError, match=r"marts\.fct holds 145 rows but its months hold 144"):
        publish(warehouse, tmp_path / "serving", exports)
    assert (tmp_path / "serving" / "gpuledger.duckdb").read_bytes() == snapshot
    assert (exports / "_manifest.json").read_text() == manifest
    assert {
        str(p.relative_to(exports)): p.stat().st_mtime_ns for p in exports.rglob("*.parquet")
    } == {"fct/2026-10.parquet": OLD, "fct/2026-11.parquet": OLD, "dim.parquet": OLD}
    assert _rows(exports, ["dim.parquet"]) == [(1,)]
    assert not (exports / "dfct").exists()
    assert not list(exports.rglob(".*.tmp"))
