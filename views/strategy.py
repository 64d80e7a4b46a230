"""Strategy: "Run strategy now", live status while a run runs, run history and each run's logs."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

import executor
from auth import login_required
from views import get_config, get_store
from views.logs import fetch_page, parse_query

bp = Blueprint("strategy", __name__)
HISTORY_ROWS = 50


@bp.route("/strategy")
@login_required
def index() -> str:
    """The run button (disabled while a run runs), its live status and the run history."""
    store = get_store()
    return render_template("strategy.html", running=executor.running_run(store),
                           runs=executor.as_shown(store, store.list_runs(limit=HISTORY_ROWS)))


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
