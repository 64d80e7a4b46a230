"""Backtests: the runs and sweeps `python backtest.py` saved, a run's report with its charts and
trades, and a sweep's heat map whose cells open each combination's run."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request, send_from_directory
from markupsafe import Markup
from werkzeug.wrappers import Response

import strategy_settings
from auth import login_required
from backtesting import charts, html_report, metrics, results
from backtesting.sweep_keys import sweep_key, swept_settings
from views import get_config, get_store

bp = Blueprint("backtests", __name__)


@bp.context_processor
def report_words() -> dict[str, Any]:
    """The words and figures of report.html and sweep.html, for these pages to say the same:
    the figures' labels and texts, the swept settings by their --sweep keys."""
    return {"figure_labels": metrics.FIGURE_LABELS, "figure": metrics.figure,
            "annualised": metrics.annualised,
            "under_a_year": metrics.UNDER_A_YEAR, "sweep_key": sweep_key,
            "swept_settings": swept_settings, "sweep_figures": html_report.sweep_figures,
            "sweep_columns": html_report.SWEEP_FIGURES}


def saved_root() -> Path:
    """The folder the CLI saves runs into by default."""
    return results.backtests_root(get_config().data_dir)


def saved_run(run_id: str) -> dict:
    """One saved run, or a 404 page saying there is none or why it cannot be shown."""
    try:
        run = results.load_saved(saved_root(), run_id)
    except results.UnreadableRun as exc:
        abort(404, description=f"Saved backtest {run_id!r} cannot be shown: {exc}.")
    if run is None:
        abort(404, description=f"No saved backtest {run_id!r}.")
    return run


@bp.route("/backtests")
@login_required
def index() -> str:
    """Every saved backtest and sweep with its headline figures, newest first."""
    assignments, options = strategy_settings.backtest_arguments(get_config(), get_store())
    return render_template("backtests.html", runs=results.list_saved(saved_root()),
                           assignments=assignments, options=options)


def heatmap(sweep: dict) -> dict:
    """The heat map the query asks for (?x=&y=&metric=&<other parameter>=): its choices and SVG."""
    axes = sweep["axes"]
    names = list(axes)
    x = request.args.get("x") if request.args.get("x") in axes else names[0]
    y = request.args.get("y") if request.args.get("y") in axes else names[min(1, len(names) - 1)]
    if y == x and len(names) > 1:  # the same setting both ways would draw one row of a grid
        y = next(name for name in names if name != x)
    metric = request.args.get("metric")
    metric = metric if metric in charts.HEATMAP_METRICS else "total_return_pct"
    fixed = {name: next((v for v in axes[name] if str(v) == request.args.get(name)), best)
             for name, best in charts.best_slice(sweep, x, y).items()}
    svg = charts.sweep_heatmap(sweep, x, y, metric, fixed,
                               link=lambda cell: f"{request.path}/{cell['run']}")
    return {"x": x, "y": y, "metric": metric, "fixed": fixed, "svg": Markup(svg),
            "metrics": charts.HEATMAP_METRICS}


@bp.route("/backtests/<path:run_id>")
@login_required
def report(run_id: str) -> str:
    """One backtest (figures, equity against buy-and-hold, drawdown, trades), or one sweep's
    heat map."""
    try:
        sweep = results.load_sweep(saved_root(), run_id)
    except results.UnreadableRun as exc:
        abort(404, description=f"Saved sweep {run_id!r} cannot be shown: {exc}.")
    if sweep is not None:
        return render_template("backtests_sweep.html", sweep=sweep, map=heatmap(sweep),
                               not_run=html_report.not_run_sentence(sweep)
                               if sweep.get("not_run") else "")
    run = saved_run(run_id)
    try:
        trades, count = results.read_trades(saved_root() / run_id, html_report.TRADES_SHOWN)
    except results.UnreadableRun as exc:
        abort(404, description=f"Saved backtest {run_id!r} cannot be shown: {exc}.")
    return render_template(
        "backtests_report.html", run=run, trades=trades, trade_count=count,
        no_charts=charts.too_few_days(len(run["series"]["dates"])),
        figures=metrics.figure_rows(run["summary"]),
        parameters=html_report.parameter_rows(run.get("params") or {}, run.get("settings")))


@bp.route("/backtests/<path:run_id>/series.json")
@login_required
def series(run_id: str) -> Response:
    """Daily dates, equity, buy-and-hold and drawdown for static/backtest.js to chart."""
    return jsonify(saved_run(run_id)["series"])


@bp.route("/backtests/<path:run_id>/<any('trades.csv', 'equity.csv'):name>")
@login_required
def download(run_id: str, name: str) -> Response:
    """The run's trades or equity CSV as a download."""
    saved_run(run_id)
    return send_from_directory(saved_root() / run_id, name, as_attachment=True)
