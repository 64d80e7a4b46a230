"""Strategy: "Run strategy now", live status while a run runs, run history, each run's logs,
and the strategy settings the next run uses."""
from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

import executor
import strategy_settings
from auth import login_required
from config import Config
from views import get_config, get_store
from views.logs import fetch_page, parse_query

bp = Blueprint("strategy", __name__)
HISTORY_ROWS = 50


def run_config() -> Config:
    """The Config the next run uses (saved strategy settings applied), read once per request."""
    if "run_config" not in g:
        g.run_config = strategy_settings.for_runs(get_config(), get_store())
    return g.run_config


def render_index(errors: Mapping[str, str] | None = None,
                 submitted: Mapping[str, str] | None = None, status: int = 200
                 ) -> tuple[str, int]:
    """The Strategy page; `errors` and `submitted` re-show a rejected settings form."""
    store = get_store()
    return render_template("strategy.html", running=executor.running_run(store),
                           runs=executor.as_shown(store, store.list_runs(limit=HISTORY_ROWS)),
                           settings=strategy_settings.describe(run_config()),
                           settings_locked=get_config().strategy_from_env,
                           errors=errors or {}, submitted=submitted or {}), status


@bp.route("/strategy")
@login_required
def index() -> tuple[str, int]:
    """The run button (disabled while a run runs), its live status, the run history and the
    settings the next run uses."""
    return render_index()


@bp.route("/strategy/settings", methods=("POST",))
@login_required
def save_settings() -> Response | tuple[str, int]:
    """Save the strategy settings (all valid, or none), logged with who changed them."""
    try:
        changes = strategy_settings.save(get_config(), get_store(), request.form,
                                         who=g.user["username"])
    except strategy_settings.SettingsRejected as rejected:
        flash(f"Nothing saved: {rejected}", "danger")
        return render_index(rejected.errors, request.form, status=400)
    flash(f"Saved: {', '.join(changes)}. The next run uses them." if changes
          else "No setting changed.", "success" if changes else "info")
    return redirect(url_for("strategy.index", _anchor="settings"))


@bp.route("/strategy/run", methods=("POST",))
@login_required
def run_now() -> Response:
    """Start a manual run in the background; a second click while it runs starts nothing."""
    run_id, started = executor.start_background_run(get_config(), "manual")
    if started:
        flash(f"Run {run_id} started: its status updates below.", "success")
    else:
        flash(f"Run {run_id} is already running; no second run was started.", "info")
    return redirect(url_for("strategy.index"))


@bp.route("/strategy/status")
@login_required
def status() -> Response | str:
    """The live status fragment htmx polls; reloads the page once the watched run ends (or
    was killed: its lock is gone)."""
    running = executor.running_run(get_store())
    watched = request.args.get("run")
    if watched and (running is None or running["run_id"] != watched):
        response = Response("")
        response.headers["HX-Refresh"] = "true"
        return response
    return render_template("_run_status.html", running=running)


@bp.route("/strategy/runs/<run_id>")
@login_required
def run_detail(run_id: str) -> str:
    """One run: its record and its log lines."""
    run = get_store().get_run(run_id)
    if run is None:
        abort(404, description=f"No run with id {run_id}: pick one from the run history.")
    [run] = executor.as_shown(get_store(), [run])
    query = parse_query({"run": run_id})
    return render_template("run.html", run=run, query=query, page=fetch_page(query, None))
