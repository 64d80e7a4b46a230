"""Self-contained HTML beside the CSVs, for people who never open the web app: a run's
report.html (figures, equity against buy-and-hold, drawdown, the trades) and a sweep's
sweep.html (heat maps over every pair of swept parameters whose cells open each combination's
report.html)."""
from __future__ import annotations

from collections.abc import Sequence
from html import escape
from itertools import combinations
from pathlib import Path
from typing import Any

from backtesting.charts import HEATMAP_METRICS, best_slice, line_svg, sweep_heatmap
from backtesting.metrics import (
    FIGURE_LABELS,
    Figure,
    drawdown_pct,
    figure,
    figure_rows,
    figure_text,
)
from backtesting.results import DECIMALS
from backtesting.sweep_keys import sweep_key, swept_settings
from indian_digits import grouped

# .wrap: a table whose text wraps (its last column, an error, anywhere) rather than scroll.
# .wide: a box as wide as its table needs, past the body's 60rem up to the screen's width,
# centred on the body; on a phone that is the body's width, and its table scrolls inside it.
# .named: named values (figures, parameters) that fit a phone: the cells wrap, a name with no
# space (max_trade_value) anywhere; a figure's note ("no losing trade") goes under its value.
STYLE = ("body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:60rem;padding:0 1rem;"
         "color:#212529}"
         "table{border-collapse:collapse;font-size:.9rem}"
         "td,th{padding:.2rem .6rem;border-bottom:1px solid #dee2e6;text-align:right;"
         "white-space:nowrap}"
         "th:first-child,td:first-child{text-align:left}"
         ".scroll{overflow-x:auto}"
         ".wrap td,.wrap th{text-align:left;vertical-align:top;white-space:normal}"
         ".wrap td:last-child{overflow-wrap:anywhere}"
         ".wide{width:max-content;min-width:100%;max-width:calc(100vw - 2rem);margin-left:50%;"
         "transform:translateX(-50%)}"
         "small{color:#6c757d}"
         ".named td{white-space:normal}.named td:first-child{overflow-wrap:anywhere}"
         "td small{display:block;white-space:normal}")
TRADES_SHOWN = 500  # as the web app's report; trades.csv has every one
# The figures of "Every combination", on sweep.html and the Backtests page's sweep.
SWEEP_FIGURES = [*HEATMAP_METRICS, "cagr_pct", "trades"]
COSTS_CHARGED = "Indian delivery charges"


class Html(str):
    """Text already written as HTML, which a table puts in as it is."""


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>")


def _cell(value: Any) -> str:
    return value if isinstance(value, Html) else escape(str(value))


def _table(header: Sequence[Any], rows: Sequence[Sequence[Any]], box: str = "scroll") -> str:
    """A table in a box of class `box`; cells are text, or Html put in as it is."""
    head = "".join(f"<th>{_cell(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(cell)}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return (f'<div class="{box}"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")


def _titled(text: str, title: str) -> Html:
    return Html(f'<span title="{escape(title)}">{escape(text)}</span>')


def _noted(shown: Figure) -> Html:
    """A figure's text with, when it is "—", why in small print."""
    note = f" <small>({escape(shown.note)})</small>" if shown.note else ""
    return Html(escape(shown.text) + note)


def _parameter_text(value: Any) -> str:
    """A number as the figures read; the costs (their rates) as whether any was charged."""
    if isinstance(value, dict):
        return COSTS_CHARGED if any(value.values()) else "none"
    return figure_text(value)


def parameter_rows(params: dict[str, Any], settings: dict[str, Any] | None
                   ) -> list[tuple[str, str]]:
    """(name, value) of a run's strategy parameters and then its money settings (capital,
    slippage, costs; None for a run saved without them), as report.html and the Backtests page
    list them."""
    return [(name, _parameter_text(value))
            for name, value in {**params, **(settings or {})}.items()]


def run_html(summary: dict[str, Any], params: dict[str, Any], equity: dict[str, list],
             trades: Sequence[Sequence], settings: dict[str, Any] | None = None) -> str:
    """A run's report: its figures, its parameters (with `settings`, summary.json's, its
    capital, slippage and costs), equity against the equal-weight buy-and-hold, drawdown and
    its first TRADES_SHOWN fills."""
    dates = equity["date"]
    lines = [("Strategy", equity["equity"], "#0d6efd")]
    if equity.get("buy_and_hold"):
        lines.append(("Buy and hold, equal weight", equity["buy_and_hold"], "#6c757d"))
    figures = _table(["Figure", "Value"], [(shown.label, _noted(shown))
                                           for shown in figure_rows(summary)], box="scroll named")
    return _page(f"Backtest {summary['start']} → {summary['end']}", "".join([
        figures, "<h2>Parameters</h2>",
        _table(["Parameter", "Value"], parameter_rows(params, settings), box="scroll named"),
        "<h2>Equity against buy and hold</h2>",
        line_svg(dates, lines, label="Equity against buy and hold",
                 unit=lambda v: f"₹{grouped(v, 0)}"),
        "<h2>Drawdown</h2>", line_svg(dates, [("Drawdown", drawdown_pct(
            equity["equity"], summary["initial_capital"]), "#dc3545")],
                                      label="Drawdown from the running peak",
                                      unit=lambda v: f"{v:.1f}%"),
        f"<h2>Fills ({len(trades)})</h2>",
        f"<p>The first {TRADES_SHOWN}; every one is in trades.csv.</p>"
        if len(trades) > TRADES_SHOWN else "",
        _table(["Date", "Symbol", "Side", "Qty", "Price", "Costs", "P&L", "Reason"],
               # The price as trades.csv keeps it (to 1/100 paisa), so that its paise read as
               # on the web report, which reads that file: 3,751.89 on both, not 3,751.90.
               [(t[0], t[1], t[2], t[3], grouped(round(t[4], DECIMALS["price"])), grouped(t[5]),
                 "" if t[6] is None else grouped(t[6]), t[7]) for t in trades[:TRADES_SHOWN]])]))


def sweep_figures(document: dict[str, Any], row: dict[str, Any]) -> list[Figure]:
    """The SWEEP_FIGURES of one row of a sweep as "Every combination" shows them, on sweep.html
    and the Backtests page (a CAGR "—" for a sweep under a year)."""
    period = {"start": document["start"], "end": document["end"]}
    return [figure({**row, **period}, key) for key in SWEEP_FIGURES]


def _ranked_table(document: dict[str, Any]) -> str:
    """Every combination, best total return first: the swept values as given, the figures as
    the summary's, and the link to its report.html."""
    axes = list(document["axes"])
    header = [*(_titled(sweep_key(name), name) for name in axes),  # entry, its setting's name
              *(FIGURE_LABELS[key] for key in SWEEP_FIGURES), "Run"]
    rows = [[*(row[name] for name in axes),
             *(_titled(shown.text, shown.note) if shown.note else shown.text
               for shown in sweep_figures(document, row)),
             Html(f'<a href="{escape(row["run"])}/report.html">{escape(row["run"])}</a>')]
            for row in sorted(document["rows"], key=lambda row: -row["total_return_pct"])]
    return _table(header, rows, box="scroll wide")


def not_run_sentence(document: dict[str, Any]) -> str:
    """Why a stopped sweep's `not_run` combinations have no result, as sweep.html and the web
    page say it above their list."""
    count = len(document["not_run"])
    why = f" ({document['stopped']})" if document.get("stopped") else ""
    return f"The sweep was stopped{why} before {count} combination{'s' if count != 1 else ''} ran:"


def sweep_html(document: dict[str, Any]) -> str:
    """A sweep's page: which setting each swept key is; for each pair of swept parameters a heat
    map per figure (any others at the best combination's values), since a static file cannot
    switch axes as the web page does; the failed combinations with why; then every combination
    ranked."""
    axes = list(document["axes"])
    parts = [f"<p>{escape(swept_settings(axes))}</p>"]
    for x, y in list(combinations(axes, 2)) or [(axes[0], axes[0])]:
        fixed = best_slice(document, x, y)
        pair = sweep_key(x) if x == y else f"{sweep_key(x)} × {sweep_key(y)}"
        parts.append(f"<h2>{escape(pair)}</h2>")
        if fixed:
            parts.append("<p>Other parameters at the best combination's (by total return): "
                         + ", ".join(f"{escape(sweep_key(k))} = {escape(str(v))}"
                                     for k, v in fixed.items()) + ".</p>")
        for metric, (label, _) in HEATMAP_METRICS.items():
            # The map keeps its size, so its words stay readable, and scrolls on a phone.
            parts.append(f'<h3>{escape(label)}</h3><div class="scroll">' + sweep_heatmap(
                document, x, y, metric, fixed, link=lambda cell: f"{cell['run']}/report.html")
                + "</div>")
    if document.get("failed"):
        parts.append("<h2>Failed combinations</h2>" + _table(["Combination", "Error"], [
            (failed["combination"], failed["error"]) for failed in document["failed"]],
            box="scroll wrap"))
    if document.get("not_run"):
        parts.append(f"<h2>Not run</h2><p>{escape(not_run_sentence(document))}</p><ul>"
                     + "".join(f"<li>{escape(item)}</li>" for item in document["not_run"])
                     + "</ul>")
    parts.append("<h2>Every combination</h2>" + _ranked_table(document))
    return _page(f"Sweep {document['start']} → {document['end']}", "".join(parts))


def write(path: Path, text: str) -> None:
    """Write one report file."""
    path.write_text(text, encoding="utf-8")
