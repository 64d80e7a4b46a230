"""Charts as inline SVG text, drawn on the server: a sweep's heat map (the Backtests page and the
CLI's sweep.html) and a run's equity and drawdown lines (the CLI's report.html).

Stdlib only and no script: the pages' CSP allows none inline, and a file opened from disk needs
none. Every heat-map cell says its value as text and in its aria-label, not by colour alone; a
failed combination's cell is crossed out and says so.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from backtesting.metrics import FIGURE_LABELS
from backtesting.sweep_keys import sweep_key

# Line charts are drawn this tall (CSS px) at any width, with at most one point per pixel of the
# widest report (60rem).
HEIGHT, MAX_POINTS = 240, 960
# Heat-map cells and text, in CSS px: the map never shrinks, so its text stays readable on a
# phone; a map wider than the screen scrolls in its own box.
CELL_WIDTH, CELL_HEIGHT, FONT_PX = 72, 36, 13
# What a heat map can be coloured by: figure → (label, whether higher is better). A figure
# where higher is better is a return, coloured from zero (see _cell_colours).
HEATMAP_METRICS = {"total_return_pct": (FIGURE_LABELS["total_return_pct"], True),
                   "max_drawdown_pct": (FIGURE_LABELS["max_drawdown_pct"], False)}
# Dark green (best) through pale yellow (a return of zero) to dark red (worst); the text on each
# is black or white, whichever contrasts more (at least 4.5:1 on any colour). A grid of one
# value is grey: any colour of the scale would rank its cells.
GOOD, MID, BAD = (0, 104, 55), (255, 255, 191), (165, 0, 38)
NEUTRAL = "#e9ecef"
# A cell without a result (its combination failed, or a stopped sweep never ran it): white,
# crossed out in grey (4.7:1 on white); the legend's words, short enough for a phone (the
# failures, with why, and the combinations not run are listed under the map).
CROSS = "#6c757d"


def missing_legend(missing: str) -> str:
    """The legend line under a map with a cell that has no result, `missing` saying why."""
    return f"Crossed out: {missing}, no result"


def missing_word(document: dict) -> str:
    """Why a saved sweep's cell has no result: its combination failed, was not run (the sweep
    was stopped first), or either, as far as the sweep's document tells."""
    if not document.get("not_run"):
        return "failed"
    return "failed or not run" if document.get("failed") else "not run"


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], share: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * share) for x, y in zip(a, b, strict=True))


def cell_colour(share: float) -> tuple[str, str]:
    """(fill, text colour) for a value at `share` of the way from best (0) to worst (1)."""
    rgb = _mix(GOOD, MID, share * 2) if share <= 0.5 else _mix(MID, BAD, share * 2 - 1)
    linear = [(c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4) for c in rgb]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    black_on = (luminance + 0.05) / 0.05  # WCAG contrast of black text, and of white below
    return "#{:02x}{:02x}{:02x}".format(*rgb), "#000" if black_on >= 1.05 / (
        luminance + 0.05) else "#fff"


def _text_width(text: str) -> float:
    """A generous width of `text` in heat-map px: each character as wide as a digit of DejaVu
    Sans (0.64 em), Debian's sans-serif."""
    return len(text) * FONT_PX * 0.65


def _cell_colours(value: float, low: float, high: float,
                  higher_is_better: bool) -> tuple[str, str]:
    """(fill, text colour) of a cell. A return (`higher_is_better`) is coloured from zero, the
    scale's pale middle: a gain green, the deeper the nearer the best gain shown, a loss red,
    the deeper the nearer the worst, so a gain is never red nor a loss green. Any other figure
    (a drawdown) by its place between the best and worst value shown."""
    if high == low:
        return NEUTRAL, "#000"
    if not higher_is_better:
        return cell_colour((value - low) / (high - low))
    if value >= 0:
        return cell_colour(0.5 - 0.5 * value / high if high > 0 else 0.5)
    return cell_colour(0.5 + 0.5 * value / low)


def _column_labels(xs: Sequence[object], left: float, top: float, slant: float) -> list[str]:
    """The x values over their columns: level, or turned 45° up (`slant` > 0), so that labels
    longer than a cell run parallel instead of into each other."""
    parts = []
    for i, x in enumerate(xs):
        centre, base = left + CELL_WIDTH * i + CELL_WIDTH / 2, top - 8
        turn = (f' text-anchor="start" transform="rotate(-45 {centre} {base})"' if slant
                else ' text-anchor="middle"')
        parts.append(f'<text x="{centre}" y="{base}"{turn}>{escape(str(x))}</text>')
    return parts


def _crossed_box(x: float, y: float, width: float, height: float) -> str:
    """A white box crossed out corner to corner: a failed cell, and its sample in the legend."""
    return (f'<rect x="{x}" y="{y}" width="{width}" height="{height}" fill="#fff" '
            f'stroke="{CROSS}"/><path d="M{x} {y}l{width} {height}M{x} {y + height}'
            f'l{width} {-height}" stroke="{CROSS}" stroke-width="1.5"/>')


def heatmap_svg(xs: Sequence[object], ys: Sequence[object], cells: dict[tuple, dict],
                *, x_label: str, y_label: str, value_label: str, higher_is_better: bool,
                link: Callable[[dict], str], missing: str = "failed") -> str:
    """A grid of links, one per (x, y) in `cells` (each a dict with `value` and what `link`
    needs); coloured as _cell_colours says (a return from zero, else best to worst value), the
    value written in the cell. An (x, y) without a
    cell has no result (`missing` says why: "failed" by default): crossed out, its title saying
    so, and a legend line under the grid. When every cell shows the same value, a note saying so comes before the
    grid, which is all grey."""
    shown = {key: round(cell["value"], 2) for key, cell in cells.items()}  # as written
    low, high = (min(shown.values()), max(shown.values())) if shown else (0.0, 0.0)
    cw, ch = CELL_WIDTH, CELL_HEIGHT
    left = 16 + max((_text_width(str(y)) for y in ys), default=0.0)
    widest = max((_text_width(str(x)) for x in xs), default=0.0)
    slant = 0.0 if widest <= cw - 8 else widest * math.sqrt(0.5)  # how far turned labels reach
    top = 24 + slant
    titles = [f"Across: {x_label}", *([f"Down: {y_label}"] if y_label else [])]
    any_missing = len(cells) < len(xs) * len(ys)
    legend = missing_legend(missing)
    width = round(max(left + cw * len(xs) + 8, left + cw * (len(xs) - 0.5) + slant + 16,
                      *(_text_width(title) + 8 for title in titles),
                      _text_width(legend) + 30 if any_missing else 0))
    bottom = top + ch * len(ys)  # of the grid; a line of text below it every 18 px
    height = round(bottom + 18 * (len(titles) + any_missing) + 8)
    parts = [f'<p>Every combination shown gave the same {escape(value_label)}: {low:.2f}.</p>'
             if shown and low == high else "",
             f'<svg class="heatmap" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="group" aria-label="{escape(value_label)} by '
             f'{escape(x_label)}{" and " + escape(y_label) if y_label else ""}" '
             'xmlns="http://www.w3.org/2000/svg" '
             f'font-family="system-ui, sans-serif" font-size="{FONT_PX}">',
             *_column_labels(xs, left, top, slant)]
    for j, y in enumerate(ys):
        parts.append(f'<text x="{left - 8}" y="{top + ch * j + ch / 2 + 4}" text-anchor="end">'
                     f'{escape(str(y))}</text>')
        for i, x in enumerate(xs):
            cell = cells.get((x, y))
            where = f"{x_label} {x}, {y_label} {y}" if y_label else f"{x_label} {x}"
            if cell is None:
                said = f"{where}: {missing}, no result"
                parts.append(f'<g role="img" aria-label="{escape(said)}" class="failed">'
                             f'<title>{escape(said)}</title>'
                             + _crossed_box(left + cw * i + 1, top + ch * j + 1, cw - 2, ch - 2)
                             + "</g>")
                continue
            fill, ink = _cell_colours(shown[x, y], low, high, higher_is_better)
            label = f"{where}: {value_label} {cell['value']:.2f}; open this run"
            parts.append(
                f'<a href="{escape(link(cell))}" aria-label="{escape(label)}">'
                f'<rect x="{left + cw * i + 1}" y="{top + ch * j + 1}" width="{cw - 2}" '
                f'height="{ch - 2}" fill="{fill}"/><text x="{left + cw * i + cw / 2}" '
                f'y="{top + ch * j + ch / 2 + 4}" text-anchor="middle" fill="{ink}">'
                f'{cell["value"]:.2f}</text></a>')
    for k, title in enumerate(titles, start=1):
        parts.append(f'<text x="4" y="{bottom + 18 * k}">{escape(title)}</text>')
    if any_missing:
        baseline = bottom + 18 * (len(titles) + 1)
        parts.append(_crossed_box(4, baseline - 11, 12, 12)
                     + f'<text x="22" y="{baseline}">{escape(legend)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def too_few_days(days: int) -> str | None:
    """Why a run of `days` trading days gets no line charts, or None when it can have them:
    the same words in report.html and on the Backtests page."""
    if days >= 2:
        return None
    return (f"Not enough days to draw: a chart needs at least two trading days, and this run "
            f"has {days}.")


def line_svg(dates: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]],
             *, label: str, unit: Callable[[float], str]) -> str:
    """Lines over the days: `series` as (name, values, colour) under their legend, the y range
    labelled at its two ends and the first and last date below; a note instead when there are
    too few days for a line. Only the plot stretches to the page's width: the words are in
    CSS px, so a phone draws them at full size."""
    if note := too_few_days(len(dates)):
        return f'<p class="chart-empty">{escape(note)}</p>'
    values = [v for _, line, _ in series for v in line]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = max(1, len(dates) // MAX_POINTS)
    plot_top, plot_height = 42, HEIGHT - 90

    def point(t: int, value: float) -> str:
        # x in days, y in thousandths of the range from the top (the plot's own viewBox).
        return f"{t},{1000 - 1000 * (value - low) / span:.1f}"

    legend = "".join(f'<tspan fill="{colour}" dx="{16 if k else 0}">— {escape(name)}</tspan>'
                     for k, (name, _, colour) in enumerate(series))
    parts = [f'<svg width="100%" height="{HEIGHT}" role="img" aria-label="{escape(label)}" '
             'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" '
             'font-size="12">',
             f'<text x="0" y="14">{legend}</text>',
             f'<text x="0" y="{plot_top - 8}">{escape(unit(high))}</text>',
             f'<text x="0" y="{plot_top + plot_height + 18}">{escape(unit(low))}</text>',
             f'<text x="0" y="{HEIGHT - 6}">{escape(dates[0])}</text>',
             f'<text x="100%" y="{HEIGHT - 6}" text-anchor="end">{escape(dates[-1])}</text>',
             f'<svg y="{plot_top}" width="100%" height="{plot_height}" overflow="visible" '
             f'viewBox="0 0 {len(dates) - 1} 1000" preserveAspectRatio="none">']
    for _, line, colour in series:
        points = " ".join(point(t, line[t]) for t in [*range(0, len(line), step), len(line) - 1])
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                     f'vector-effect="non-scaling-stroke" points="{points}"/>')
    parts.append("</svg></svg>")
    return "".join(parts)


def best_slice(document: dict, x: str, y: str) -> dict[str, object]:
    """The swept parameters other than x and y at their values in the combination with the best
    total return (at their first values when none finished): the heat map's default slice,
    so it runs through the best result rather than wherever the grid starts."""
    others = [name for name in document["axes"] if name not in (x, y)]
    if not document["rows"]:
        return {name: document["axes"][name][0] for name in others}
    best = max(document["rows"], key=lambda row: row["total_return_pct"])
    return {name: best[name] for name in others}


def sweep_heatmap(document: dict, x: str, y: str, metric: str, fixed: dict[str, object],
                  link: Callable[[dict], str]) -> str:
    """A saved sweep's heat map of `metric` (a key of HEATMAP_METRICS) over parameters x and y
    (one row when they are the same), for the rows whose other parameters equal `fixed`."""
    label, higher_is_better = HEATMAP_METRICS[metric]
    one_row = x == y
    # The grid is every combination of the axes, so one without a row failed or was not run.
    cells = {(row[x], "" if one_row else row[y]): {"value": row[metric], "run": row["run"]}
             for row in document["rows"]
             if all(row.get(name) == value for name, value in fixed.items())}
    return heatmap_svg(document["axes"][x], [""] if one_row else document["axes"][y], cells,
                       x_label=sweep_key(x), y_label="" if one_row else sweep_key(y),
                       value_label=label, higher_is_better=higher_is_better, link=link,
                       missing=missing_word(document))
