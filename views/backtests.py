"""Backtests: the runs `python backtest.py` saved, and one run's report with its charts."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, jsonify, render_template, send_from_directory
from werkzeug.wrappers import Response

from auth import login_required
from backtesting import results
from views import get_config

bp = Blueprint("backtests", __name__)


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
    """Every saved backtest with its headline figures, newest first (unreadable ones say so)."""
    return render_template("backtests.html", runs=results.list_saved(saved_root()))


@bp.route("/backtests/<run_id>")
@login_required
def report(run_id: str) -> str:
    """One backtest: its parameters, summary, and equity and drawdown charts."""
    return render_template("backtests_report.html", run=saved_run(run_id))


@bp.route("/backtests/<run_id>/series.json")
@login_required
def series(run_id: str) -> Response:
    """Daily dates, equity and drawdown for static/backtest.js to chart."""
    return jsonify(saved_run(run_id)["series"])


@bp.route("/backtests/<run_id>/<any('trades.csv', 'equity.csv'):name>")
@login_required
def download(run_id: str, name: str) -> Response:
    """The run's trades or equity CSV as a download."""
    saved_run(run_id)
    return send_from_directory(saved_root() / run_id, name, as_attachment=True)
