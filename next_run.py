"""When the next run starts by itself: this app's scheduler, or the GitHub workflow when it has
recorded a scheduled run lately, or nothing (what the pages and `token_refresh.py status` judge
the token against); and the trading days on which no run started."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import india_time
from config import Config
from store.base import BOOKS, Store
from trading_calendar import next_run_at, previous_trading_day

RECENT_RUNS = 20
# The workflow's run job records a run every weekday (a holiday's is recorded as skipped), so a
# scheduled run this recent, while this app's scheduler is off, means the workflow is on.
WORKFLOW_SEEN_S = 4 * 86400
LOOKBACK_DAYS = 10  # trading days looked back on for days without a run


@dataclass(frozen=True)
class NextRun:
    """When the next run starts by itself and what starts it; `at` is None when nothing does.
    `seen_at` is the last scheduled run recorded, which tells that the workflow is on."""

    at: float | None
    by: str = ""  # "scheduler" | "workflow"
    seen_at: float | None = None


def next_automatic_run(config: Config, runs: list[dict[str, Any]], now: float) -> NextRun:
    """This app's scheduler when SCHEDULER_ENABLED; else the GitHub workflow when it recorded
    a scheduled run lately (this app cannot read GitHub's settings); else none."""
    if config.scheduler_enabled:
        return NextRun(next_run_at(config, now), "scheduler")
    seen = max((run["started_at"] for run in runs if run["trigger"] == "scheduled"), default=None)
    if seen is not None and now - seen < WORKFLOW_SEEN_S:
        return NextRun(next_run_at(config, now), "workflow", seen)
    return NextRun(None)


def automatic_runs(config: Config, store: Store, now: float,
                   runs: list[dict[str, Any]] | None = None) -> NextRun:
    """The next automatic run, from the settings and the recent runs of both books (`runs`,
    this book's when already read): the workflow runs whichever book is on, so a switch of
    books does not turn it off."""
    both = list(store.list_runs(limit=RECENT_RUNS) if runs is None else runs)
    for book in BOOKS:
        if book != store.book:
            both += store.for_book(book).list_runs(limit=RECENT_RUNS)
    return next_automatic_run(config, both, now)


def missed_days(store: Store, now: float, next_run: NextRun) -> list[date]:
    """The NSE trading days among the last LOOKBACK_DAYS before `now`'s day on which no run of
    either book was recorded (not even a skipped one), while runs start by themselves
    (`next_run`): those since a scheduled run was first recorded, so that a deployment set up
    since then, or one whose only runs were Run now, has missed nothing. Every run that starts
    is recorded (unless the store could not be used, which has an alert of its own), so none
    means nothing started one."""
    if next_run.at is None:
        return []
    window = _trading_days_before(india_time.day_of(now), LOOKBACK_DAYS)
    since, until = india_time.day_start(window[0]), india_time.midnight(now)
    views = [store.for_book(book) for book in BOOKS]
    runs = [run for view in views for run in view.runs_since(since) if run["started_at"] < until]
    if any(run["trigger"] == "scheduled" for view in views
           for run in view.list_runs(limit=RECENT_RUNS, before=since)):
        on_since = window[0]
    else:
        on_since = min((india_time.day_of(run["started_at"]) for run in runs
                        if run["trigger"] == "scheduled"), default=None)
    if on_since is None:
        return []
    ran = {india_time.day_of(run["started_at"]) for run in runs}
    return [day for day in window if day >= on_since and day not in ran]


def _trading_days_before(today: date, count: int) -> list[date]:
    """The `count` NSE trading days before `today`, oldest first."""
    days = [previous_trading_day(today)]
    while len(days) < count:
        days.append(previous_trading_day(days[-1]))
    return days[::-1]


def missed_run_message(config: Config, days: list[date], next_run: NextRun) -> str:
    """What the dashboard and the alert say of the trading days without a run (missed_days)."""
    names = [f"{day:%a %d %b}" for day in days]
    if len(names) == 1:
        when = f"on {names[0]}, an NSE trading day"
    elif len(names) <= 3:  # named one by one: a day between them may have had its run
        when = f"on {', '.join(names[:-1])} and {names[-1]}, NSE trading days"
    else:
        when = f"on {len(names)} NSE trading days from {names[0]} to {names[-1]}"
    if next_run.by == "scheduler":
        where = (f"This app's scheduler starts the runs at {config.run_time_ist} IST: check "
                 f"that run_prod.py was running then.")
    else:
        where = ("The GitHub workflow starts them: check its Actions tab (GitHub may drop a "
                 "scheduled run).")
    return f"No run was recorded {when}. {where}"
