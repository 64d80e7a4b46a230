"""Strategy: "Run now", live status while a run runs, run history, each run's logs,
and the strategy settings the next run uses."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

import executor
import prices
import run_steps
import strategy_settings
from auth import login_required
from config import Config
from store.base import LogPage
from trading_calendar import holidays_notice
from views import get_config, get_store, is_paper, paper
from views.logs import fetch_page, parse_query

bp = Blueprint("strategy", __name__)
HISTORY_ROWS = 50
STATUS_LOG_ROWS = 5  # the newest lines of a followed run on the Strategy page


def run_config() -> Config:
    """The Config the next run uses (saved strategy settings applied), read once per request."""
    if "run_config" not in g:
        g.run_config = strategy_settings.for_runs(get_config(), get_store())
    return g.run_config


def render_index(errors: Mapping[str, str] | None = None,
                 submitted: Mapping[str, str] | None = None, status: int = 200
                 ) -> tuple[str, int]:
    """The Strategy page; `errors` and `submitted` re-show a rejected settings form."""
    return render_template("strategy.html", **run_area(None), **paper.mode_card(),
                           holidays_notice=holidays_notice(executor.ist_today()),
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


@bp.route("/strategy/run")
@login_required
def confirm_run() -> str:
    """The "Run now" confirmation: the most the run can spend, what already ran today and
    whether NSE is open by Fyers' clock, as the run will read it; as a fragment for htmx, else
    as a page (without JavaScript)."""
    config, store = get_config(), get_store()
    stakes = executor.run_now_stakes(config, store)
    clock, clock_trouble = prices.fyers_clock(config, store)
    market = clock.session()
    template = "_run_confirm.html" if request.headers.get("HX-Request") else "run_confirm.html"
    return render_template(
        template, stakes=stakes, sandbox=config.is_sandbox, market=market,
        clock_trouble=clock_trouble,
        skipped_day=executor.skipped_day(executor.manual_runs_forced(config)),
        places_nothing=executor.run_now_places_nothing(config, market, is_paper(),
                                                       by_fyers_clock=not clock_trouble),
        after_market=config.after_market_orders)


@bp.route("/strategy/run", methods=("POST",))
@login_required
def run_now() -> Response:
    """Start a manual run in the background, only from a confirmation that is still current:
    a second tap, a form shown before another run started, or one shown in the other book
    (paper trading switched since), starts nothing; the run trades the confirmed book."""
    if request.form.get("confirm") != "yes":
        flash("Confirm the run first: the page says what it can spend.", "warning")
        return redirect(url_for("strategy.confirm_run"))
    book, confirmed = get_store().book, request.form.get("book")
    if confirmed != book:  # the confirmation said paper, or real money, or nothing
        flash(f"Paper trading was turned {'on' if book == 'paper' else 'off'} after that "
              f"confirmation was shown: no run was started. Confirm again." if confirmed else
              "That confirmation is out of date: no run was started. Confirm again.", "warning")
        return redirect(url_for("strategy.confirm_run"))
    newest = executor.run_now_stakes(get_config(), get_store()).newest_run_id
    if newest and request.form.get("last_run") != newest:
        flash("Another run started after that confirmation was shown: no run was started. "
              "Here it is.", "info")
        return redirect(url_for("strategy.run_detail", run_id=newest))
    run_id, started = executor.start_background_run(get_config(), "manual", book=book)
    if started:  # its page says so itself while it runs (_run_live.html)
        return redirect(url_for("strategy.run_detail", run_id=run_id))
    if not run_id:  # the running run let go of its lock just now
        flash("A run was ending as you tapped, so this tap started none: the history shows "
              "how it ended.", "info")
        return redirect(url_for("strategy.index"))
    # in the past tense: the page may still show it after that run ended
    flash("A run was already running, so this tap started no second run: here is that run.",
          "info")
    return redirect(url_for("strategy.run_detail", run_id=run_id))


@bp.route("/strategy/status")
@login_required
def status() -> str:
    """The Strategy page's run area htmx polls while a run runs: the watched run (`run`, or the
    running one) as it goes or as it ended, the run button and the history."""
    return render_template("_run_status.html", **run_area(request.args.get("run")))


def run_area(watched: str | None) -> dict[str, Any]:
    """What _run_status.html shows: the run to follow (`watched`, else the running one) with its
    steps and newest log lines (the run page has the older ones), whether a run runs, and the
    run history."""
    store = get_store()
    running = executor.running_run(store)
    # A run of the other book (started before the mode was switched) has no page in this one.
    elsewhere = running is not None and store.get_run(running["run_id"]) is None
    run = store.get_run(watched) if watched else (None if elsewhere else running)
    shown = executor.as_shown(store, [run])[0] if run else None
    rows = store.search_logs(run_id=shown["run_id"], limit=STATUS_LOG_ROWS).rows if shown else []
    return {"run": shown, "steps": run_steps.shown_steps(shown) if shown else [],
            "page": LogPage(rows, None), "running": running is not None,
            "running_elsewhere": running["run_id"] if elsewhere else None,
            "runs": executor.as_shown(store, store.list_runs(limit=HISTORY_ROWS))}


@bp.route("/strategy/runs/<run_id>")
@login_required
def run_detail(run_id: str) -> str:
    """One run: its status, steps, outcome and log lines, following it while it runs."""
    return render_template("run.html", **run_view(run_id))


@bp.route("/strategy/runs/<run_id>/live")
@login_required
def run_progress(run_id: str) -> str:
    """The run page's live part, which htmx polls while the run runs."""
    return render_template("_run_live.html", **run_view(run_id))


def run_view(run_id: str) -> dict[str, Any]:
    """One run as its page shows it, from the book it traded in (the logs, shared by the books,
    link runs of both) and marked Paper or not by that book, or a 404 page."""
    found = get_store().find_run(run_id)
    if found is None:
        abort(404, description=f"No run with id {run_id}: pick one from the run history.")
    store, run = found
    [run] = executor.as_shown(store, [run])
    query = parse_query({"run": run_id})
    return {"run": run, "steps": run_steps.shown_steps(run), "query": query,
            "page": fetch_page(query, None), "orders": store.list_orders(run_id=run_id),
            "running_run": run_id if run["status"] == "running" else None,
            "other_book": store.book if store.book != get_store().book else None,
            "page_book": store.book}
