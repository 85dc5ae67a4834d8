"""``gpuledger report``: one self-contained HTML file with the numbers that matter, as SVG charts.

No JavaScript and nothing fetched: the file opens offline in any browser and can be mailed.
Charts: cost per million useful tokens by workload and day; where the money went (attributed,
held idle, unallocated, unused commitment) per day; a GPU x hour utilization heatmap;
commitment utilization; GPU cost against the API price of the same tokens; useful against goodput
tokens (those served within their workload's objectives) per workload; GPU energy per million
useful tokens per workload, with its cost where the power price is known. Every figure comes
from the marts of the given DuckDB file (the serving snapshot by default).
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.lib.summary import MISSING_SOURCE_EFFECTS, UNMETERED_REASONS

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
WASTE_COLORS = {
    "attributed": "#2ca02c",
    "held idle": "#ff7f0e",
    "unallocated": "#7f7f7f",
    "unused commitment": "#d62728",
}


@dataclass
class Chart:
    title: str
    svg: str
    note: str = ""
    has_data: bool = True


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _axis_max(values: list[float]) -> float:
    """The axis' top: four equal steps of 1, 2, 2.5 or 5 times a power of ten, so that every tick
    is a round number (0, 50, 100, 150, 200 rather than 0, 52.2, 104 ...)."""
    top = max([v for v in values if v is not None] or [1.0])
    if top <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(top / 4))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude * 4 >= top)
    return step * 4


def line_chart(series: dict[str, list[tuple[str, float]]], y_label: str) -> str:
    width, height, left, bottom, top = 760, 300, 70, 40, 20
    xs = sorted({x for points in series.values() for x, _ in points})
    ymax = _axis_max([y for points in series.values() for _, y in points])
    plot_w, plot_h = width - left - 160, height - bottom - top

    def px(x: str) -> float:
        return left + (xs.index(x) / max(1, len(xs) - 1)) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y / ymax) * plot_h

    parts = [_frame(width, height, left, top, plot_w, plot_h, ymax, y_label)]
    for i, x in enumerate(xs):
        parts.append(
            f'<text x="{px(x):.1f}" y="{height - 15}" font-size="11" '
            f'text-anchor="middle">{_esc(x)}</text>'
            if len(xs) <= 12 or i % max(1, len(xs) // 12) == 0
            else ""
        )
    for i, (name, points) in enumerate(sorted(series.items())):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points if y is not None)
        parts.append(
            f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2.5" '
            f'points="{path}"/>'
        )
        for x, y in points:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        parts.append(_legend(left + plot_w + 15, top + 18 * i, color, name))
    return _svg(width, height, parts)


def stacked_bars(rows: list[tuple[str, dict[str, float]]], colors: dict[str, str]) -> str:
    width, height, left, bottom, top = 760, 300, 70, 40, 20
    plot_w, plot_h = width - left - 170, height - bottom - top
    ymax = _axis_max([sum(v.values()) for _, v in rows])
    parts = [_frame(width, height, left, top, plot_w, plot_h, ymax, "US dollars")]
    slot = plot_w / max(1, len(rows))
    for i, (label, values) in enumerate(rows):
        x = left + i * slot + slot * 0.15
        base: float = top + plot_h
        for name, color in colors.items():
            h = values.get(name, 0.0) / ymax * plot_h
            if h > 0:
                parts.append(
                    f'<rect class="bar" x="{x:.1f}" y="{base - h:.1f}" width="{slot * 0.7:.1f}" '
                    f'height="{h:.1f}" fill="{color}"><title>{_esc(label)} {_esc(name)}: '
                    f"{_money(values.get(name, 0.0))}</title></rect>"
                )
                base -= h
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{height - 15}" font-size="11" '
            f'text-anchor="middle">{_esc(label)}</text>'
        )
    for i, (name, color) in enumerate(colors.items()):
        parts.append(_legend(left + plot_w + 15, top + 18 * i, color, name))
    return _svg(width, height, parts)


def heatmap(cells: dict[tuple[str, str], float | None], rows: list[str], cols: list[str]) -> str:
    left, top, cell_h = 230, 20, 14
    cell_w = max(2.0, 520 / max(1, len(cols)))
    width = int(left + cell_w * len(cols) + 20)
    height = int(top + cell_h * len(rows) + 40)
    parts = []
    for r, row in enumerate(rows):
        parts.append(
            f'<text x="{left - 6}" y="{top + r * cell_h + 11}" font-size="10" '
            f'text-anchor="end">{_esc(row)}</text>'
        )
        for c, col in enumerate(cols):
            value = cells.get((row, col))
            color = "#eeeeee" if value is None else _heat(value)
            parts.append(
                f'<rect class="cell" x="{left + c * cell_w:.1f}" y="{top + r * cell_h}" '
                f'width="{cell_w + 0.2:.1f}" height="{cell_h - 1}" fill="{color}">'
                f"<title>{_esc(row)} {_esc(col)}: "
                f"{'no data' if value is None else f'{value:.0%}'}</title></rect>"
            )
    parts.append(
        f'<text x="{left}" y="{height - 12}" font-size="11">{_esc(cols[0] if cols else "")} '
        f"to {_esc(cols[-1] if cols else '')} (UTC hours)</text>"
    )
    # The legend: the scale from idle to busy, and the colour of hours without telemetry.
    legend_x = max(left + 260, width - 300)
    for i in range(11):
        parts.append(
            f'<rect x="{legend_x + i * 14}" y="{height - 24}" width="14" height="12" '
            f'fill="{_heat(i / 10)}" stroke="#cccccc" stroke-width="0.3"/>'
        )
    parts.append(
        f'<text x="{legend_x - 4}" y="{height - 14}" font-size="11" text-anchor="end">0%</text>'
        f'<text x="{legend_x + 158}" y="{height - 14}" font-size="11">100% busy</text>'
        f'<rect x="{legend_x + 225}" y="{height - 24}" width="14" height="12" fill="#eeeeee"/>'
        f'<text x="{legend_x + 243}" y="{height - 14}" font-size="11">no data</text>'
    )
    return _svg(max(width, legend_x + 300), height, parts)


def bars(
    rows: list[tuple[str, list[tuple[str, float, str]]]],
    y_label: str,
    value_format: Callable[[float], str] = lambda v: f"${v:,.2f}",
) -> str:
    """Grouped bars: (group, [(series, value, color)]), each bar's value written above it."""
    width, height, left, bottom, top = 760, 300, 70, 60, 20
    plot_w, plot_h = width - left - 170, height - bottom - top
    ymax = _axis_max([v for _, group in rows for _, v, _ in group])
    parts = [_frame(width, height, left, top, plot_w, plot_h, ymax, y_label)]
    slot = plot_w / max(1, len(rows))
    legend: dict[str, str] = {}
    for i, (label, group) in enumerate(rows):
        bar_w = slot * 0.8 / max(1, len(group))
        for j, (name, value, color) in enumerate(group):
            legend[name] = color
            h = value / ymax * plot_h
            x = left + i * slot + slot * 0.1 + j * bar_w
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{_esc(label)} {_esc(name)}: '
                f"{value:,.4g}</title></rect>"
                # The value above each bar: a bar too small to see still says what it is.
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 3:.1f}" font-size="10" '
                f'text-anchor="middle">{_esc(value_format(value))}</text>'
            )
        parts.append(
            f'<text x="{left + i * slot + slot / 2:.1f}" y="{top + plot_h + 16}" font-size="11" '
            f'text-anchor="middle">{_esc(label)}</text>'
        )
    for i, (name, color) in enumerate(legend.items()):
        parts.append(_legend(left + plot_w + 15, top + 18 * i, color, name))
    return _svg(width, height, parts)


def _heat(value: float) -> str:
    v = max(0.0, min(1.0, value))
    r, g, b = (int(255 - (255 - t) * v) for t in (8, 48, 107))
    return f"#{r:02x}{g:02x}{b:02x}"


def _frame(
    width: int,
    height: int,
    left: int,
    top: int,
    plot_w: float,
    plot_h: float,
    ymax: float,
    label: str,
) -> str:
    ticks = []
    for i in range(5):
        value = ymax * i / 4
        y = top + plot_h - plot_h * i / 4
        ticks.append(
            f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#dddddd"/><text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
            f'text-anchor="end">{_tick(value)}</text>'
        )
    return (
        "".join(ticks)
        + f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h:.1f}" stroke="#333"/>'
        + f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="11" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})" text-anchor="middle">'
        f"{_esc(label)}</text>"
    )


def _tick(value: float) -> str:
    if value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.10g}"


def _legend(x: float, y: float, color: str, name: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" fill="{color}"/>'
        f'<text x="{x + 18:.1f}" y="{y + 10:.1f}" font-size="12">{_esc(name)}</text>'
    )


def _svg(width: int, height: int, parts: list[str]) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">'
        + "".join(parts)
        + "</svg>"
    )


def build_report(warehouse: Path) -> str:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return _render(conn)
    finally:
        conn.close()


def _query(conn: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql).fetchall()


def _render(conn: duckdb.DuckDBPyConnection) -> str:
    charts: list[Chart] = []
    # Over the metered useful tokens: tokens with no measured GPU cost behind them are counted,
    # never priced (fct_workload_unit_cost_daily.unmetered_useful_tokens).
    unit = _query(
        conn,
        "select usage_date, workload, sum(cost_usd) * 1e6 / nullif(sum(metered_useful_tokens), 0)"
        " from marts.fct_workload_unit_cost_daily where workload not like '(%'"
        " group by 1, 2 order by 1, 2",
    )
    series: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for day, workload, value in unit:
        if value is not None:
            series[workload].append((day.isoformat(), float(value)))
    tokenless = _query(
        conn,
        "select workload, sum(cost_usd) from marts.fct_workload_unit_cost_daily"
        " where workload not like '(%' group by 1"
        " having sum(useful_tokens) = 0 and sum(cost_usd) > 0 order by 1",
    )
    unmetered = _query(
        conn,
        "select workload, sum(unmetered_useful_tokens), sum(useful_tokens),"
        " string_agg(distinct unmetered_reason, ', ' order by unmetered_reason)"
        " from marts.fct_workload_unit_cost_daily"
        " group by 1 having sum(unmetered_useful_tokens) > 0 order by 1",
    )
    charts.append(
        Chart(
            "Cost per million useful tokens, by workload",
            line_chart(series, "US dollars per million useful tokens"),
            "; ".join(
                [
                    f"{workload}: no useful tokens, at a cost of {_money(float(cost))}"
                    for workload, cost in tokenless
                ]
                + [
                    f"unmetered: {int(dark):,} of {workload}'s {int(useful):,} useful tokens"
                    f" ({UNMETERED_REASONS.get(reasons, reasons)}), counted but not priced"
                    for workload, dark, useful, reasons in unmetered
                ]
            ),
            has_data=bool(series),
        )
    )

    waste = _query(
        conn,
        "select cast(hour_start_at as date), sum(case when workload not like '(%'"
        " then attributed_cost_usd else 0 end), sum(case when workload not like '(%'"
        " then idle_cost_usd else 0 end), sum(case when workload = '(unallocated)'"
        " then cost_usd else 0 end), sum(case when workload = '(unused commitment)'"
        " then cost_usd else 0 end) from marts.fct_cost_per_useful_token group by 1 order by 1",
    )
    waste_rows = [
        (
            day.isoformat(),
            dict(zip(WASTE_COLORS, (float(v or 0) for v in values), strict=True)),
        )
        for day, *values in waste
    ]
    totals = {k: sum(v[k] for _, v in waste_rows) for k in WASTE_COLORS}
    grand = sum(totals.values()) or 1.0
    charts.append(
        Chart(
            "Where the GPU money went",
            stacked_bars(waste_rows, WASTE_COLORS),
            "; ".join(f"{k} {_money(v)} ({v / grand:.1%})" for k, v in totals.items()),
            has_data=any(totals.values()),
        )
    )

    util = _query(
        conn,
        "select coalesce(host, '?') || ' ' || right(gpu_uuid, 8),"
        " strftime(hour_start_at, '%m-%d %H'), util_mean"
        " from marts.fct_gpu_utilization_hourly order by 1, 2",
    )
    rows = sorted({r[0] for r in util})
    cols = sorted({r[1] for r in util})
    cells = {(r[0], r[1]): (float(r[2]) if r[2] is not None else None) for r in util}
    charts.append(
        Chart("GPU utilization by hour", heatmap(cells, rows, cols), has_data=bool(cells))
    )

    commitments = _query(
        conn,
        "select commitment_id, sum(used_cost_usd), sum(unused_cost_usd)"
        " from marts.fct_commitment_utilization_daily group by 1 order by 1",
    )
    # Commitment ids (ARNs, UUIDs) are long: the bars are labelled C1, C2 ... and the note
    # names each in full.
    charts.append(
        Chart(
            "Commitments: used and unused",
            bars(
                [
                    (
                        f"C{number}",
                        [
                            ("used", float(used or 0), "#2ca02c"),
                            ("unused", float(unused or 0), "#d62728"),
                        ],
                    )
                    for number, (_, used, unused) in enumerate(commitments, start=1)
                ],
                "US dollars",
            ),
            "; ".join(
                f"C{number} = {cid}: used {_money(float(used or 0))},"
                f" unused {_money(float(unused or 0))}"
                for number, (cid, used, unused) in enumerate(commitments, start=1)
            ),
            has_data=bool(commitments),
        )
    )

    producer = _query(
        conn,
        "select workload, sum(cost_usd) * 1e6 / nullif(sum(metered_useful_tokens), 0),"
        " sum(api_equivalent_cost_usd) * 1e6 / nullif(sum(useful_tokens), 0)"
        " from marts.fct_workload_unit_cost_daily where workload not like '(%'"
        " group by 1 order by 1",
    )
    # Only workloads with both prices are compared: a missing price is never drawn as $0.
    compared = [(w, float(own), float(api)) for w, own, api in producer if own and api]
    charts.append(
        Chart(
            "Producer vs consumer: own GPUs against the API price of the same tokens",
            bars(
                [
                    (
                        workload,
                        [("own GPUs, $/M", own, "#1f77b4"), ("API, $/M", api, "#ff7f0e")],
                    )
                    for workload, own, api in compared
                ],
                "US dollars per million useful tokens",
            ),
            "; ".join(
                [
                    f"{w}: own {_money(own)}/M vs API {_money(api)}/M ({own / api:,.0f}x)"
                    for w, own, api in compared
                ]
                + [
                    f"{w}: not compared ("
                    + ("no priced tokens" if not own else "no API equivalent")
                    + ")"
                    for w, own, api in producer
                    if not (own and api)
                ]
            ),
            has_data=bool(compared),
        )
    )
    charts.append(_goodput_chart(conn))
    charts.append(_energy_chart(conn))
    period = _query(
        conn, "select min(hour_start_at), max(hour_start_at) from marts.fct_cost_per_useful_token"
    )[0]
    return _page(charts, period, grand, _missing_sources(conn))


def _goodput_chart(conn: duckdb.DuckDBPyConnection) -> Chart:
    """Useful and goodput tokens of the period per workload. A workload whose goodput is unknown
    on any day (no objective, a latency not logged) is named, never drawn as 0."""
    rows = _query(
        conn,
        "select workload, sum(useful_tokens),"
        " case when bool_or(goodput_tokens is null) then null else sum(goodput_tokens) end,"
        " max(goodput_unknown_reason)"
        " from marts.fct_workload_unit_cost_daily where workload not like '(%'"
        " group by 1 having sum(useful_tokens) > 0 order by 1",
    )
    known = [(w, float(useful), float(good)) for w, useful, good, _ in rows if good is not None]
    reasons = {"no_objective": "no objective set", "latency_unknown": "latency not logged"}
    return Chart(
        "Useful and goodput tokens, by workload",
        bars(
            [
                (
                    workload,
                    [("useful", useful / 1e6, "#1f77b4"), ("goodput", good / 1e6, "#2ca02c")],
                )
                for workload, useful, good in known
            ],
            "million tokens",
            value_format=lambda v: f"{v:,.1f}",
        ),
        "; ".join(
            [
                f"{w}: {good / useful:.1%} of useful tokens within objectives"
                for w, useful, good in known
            ]
            + [
                f"{w}: goodput unknown ({reasons.get(reason, reason)})"
                for w, _, good, reason in rows
                if good is None
            ]
        ),
        has_data=bool(known),
    )


def _energy_chart(conn: duckdb.DuckDBPyConnection) -> Chart:
    """GPU energy (watt-hours) per million useful tokens, by workload, over the period; its
    cost where the power price is known (owned GPUs), else why not (a cloud GPU's power is in
    its bill)."""
    rows = _query(
        conn,
        "select workload, sum(energy_kwh) * 1e9 / nullif(sum(metered_useful_tokens), 0),"
        " case when bool_or(energy_cost_usd is null and energy_kwh > 0) then null"
        " else sum(energy_cost_usd) * 1e6 / nullif(sum(metered_useful_tokens), 0) end,"
        " max(energy_cost_unknown_reason)"
        " from marts.fct_workload_unit_cost_daily where workload not like '(%'"
        " group by 1 having sum(energy_kwh) is not null order by 1",
    )
    known = [(w, float(wh), cost, reason) for w, wh, cost, reason in rows if wh is not None]
    reasons = {
        "power_in_cloud_bill": "cloud GPUs: the power is in the bill's price",
        "no_energy_reading": "no energy counter read",
    }
    return Chart(
        "Energy per million useful tokens, by workload",
        bars(
            [(w, [("Wh per million tokens", wh, "#9467bd")]) for w, wh, _, _ in known],
            "watt-hours per million useful tokens",
            value_format=lambda v: f"{v:,.1f}",
        ),
        "; ".join(
            f"{w}: {wh:,.1f} Wh/M, "
            + (
                f"{_money(float(cost))}/M of power"
                if cost is not None
                else reasons.get(reason, reason or "no power price")
            )
            for w, wh, cost, reason in known
        ),
        has_data=bool(known),
    )


def _missing_sources(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """What the marts show no trace of, as the run's summary says it (no bill or contract, no
    GPU telemetry, no request logs)."""
    [(costed, measured, requests)] = _query(
        conn,
        "select (select count(cost_usd) from marts.fct_cost_per_useful_token),"
        " (select count(*) from marts.fct_gpu_utilization_hourly),"
        " (select coalesce(sum(useful_requests + wasted_requests"
        " + token_counts_missing_requests), 0) from marts.fct_workload_unit_cost_daily)",
    )
    present = {"bills": costed > 0, "telemetry": measured > 0, "requests": requests > 0}
    return [effect for kind, effect in MISSING_SOURCE_EFFECTS.items() if not present[kind]]


def _page(charts: list[Chart], period: tuple[Any, Any], total: float, missing: list[str]) -> str:
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    # A chart with nothing to draw says so instead of drawing empty axes.
    sections = "".join(
        f"<section><h2>{_esc(c.title)}</h2>"
        + (c.svg if c.has_data else '<p class="empty">No data to show.</p>')
        + f'<p class="note">{_esc(c.note)}</p></section>'
        for c in charts
    )
    warnings = "".join(f'<p class="missing">{_esc(m[0].upper() + m[1:])}.</p>' for m in missing)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gpuledger report</title>
<style>body{{font-family:sans-serif;margin:24px;color:#222}}section{{margin-bottom:32px}}
h1{{font-size:22px}}h2{{font-size:16px;margin-bottom:6px}}.note{{color:#555;font-size:13px}}
svg.chart{{width:100%;max-width:1400px;height:auto}}
.missing{{color:#a0522d;font-weight:bold}}.empty{{color:#777;font-style:italic}}
</style></head><body>
<h1>gpuledger: what the GPUs cost per useful token</h1>
<p>{_esc(period[0])} to {_esc(period[1])} (UTC). GPU cost in the period: {_money(total)}.
Generated {generated} from the warehouse marts.</p>
{warnings}
{sections}
</body></html>
"""


def write_report(warehouse: Path, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(build_report(warehouse))
    tmp.replace(out)
    return out
