"""When the next run starts by itself: this app's scheduler, or the GitHub workflow when it has
recorded a scheduled run lately, or nothing (what the pages and `token_refresh.py status` judge
the token against); and the trading day whose run never started."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import india_time
from config import Config
from store.base import BOOKS, Store
from trading_calendar import next_run_at, previous_trading_day

RECENT_RUNS = 20
# The workflow's run job records a run every weekday (a holiday's is recorded as skipped), so a
# scheduled run this recent, while this app's scheduler is off, means the workflow is on.
WORKFLOW_SEEN_S = 4 * 86400


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


def missed_day(store: Store, now: float, next_run: NextRun) -> date | None:
    """The last NSE trading day before `now`'s day when runs start by themselves (`next_run`)
    and no run of either book, not even a skipped one, was recorded on it though one was
    before it (a deployment set up since then has missed nothing); else None. Every run that
    starts is recorded, so none means nothing started one: the host was down, or GitHub
    stopped the workflow."""
    if next_run.at is None:
        return None
    day = previous_trading_day(india_time.day_of(now))
    day_end = india_time.day_start(day + timedelta(days=1))
    latest = [run["started_at"] for book in BOOKS
              for run in store.for_book(book).list_runs(limit=1, before=day_end)]
    if not latest or max(latest) >= india_time.day_start(day):
        return None
    return day


def missed_run_message(config: Config, day: date, next_run: NextRun) -> str:
    """What the dashboard and the alert say of a trading day whose run never started."""
    if next_run.by == "scheduler":
        where = (f"This app's scheduler starts it at {config.run_time_ist} IST: check that "
                 f"run_prod.py was running then.")
    else:
        where = ("The GitHub workflow starts it: check its Actions tab (GitHub may drop a "
                 "scheduled run, and stops a public repository's schedules after 60 days "
                 "without a commit).")
    return f"No run on {day:%a %d %b}, an NSE trading day: nothing started one. {where}"
