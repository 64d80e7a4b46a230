"""The dashboard's Today card: the last run and the sales by hand it found, the next automatic run (or that
nothing runs by itself, and how to turn that on), and the Fyers login state."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import executor
import token_refresh
from config import Config
from store.base import BOOKS, Store
from trading_calendar import next_run_at

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


@dataclass(frozen=True)
class Today:
    """What the Today card shows."""

    last_run: dict[str, Any] | None
    # The run's summary names its own fills and only counts the sales made by hand it recorded:
    # those are listed one by one.
    hand_sales: list[dict[str, Any]]
    next_run: NextRun
    token: token_refresh.TokenStatus


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


def today(config: Config, store: Store, now: float | None = None) -> Today:
    """The last run with the sales by hand it recorded, the next automatic run and the login
    state, as of `now`."""
    now = time.time() if now is None else now
    runs = executor.as_shown(store, store.list_runs(limit=RECENT_RUNS))
    next_run = automatic_runs(config, store, now, runs)
    last = runs[0] if runs else None
    hand_sales = [] if last is None else [
        trade for trade in reversed(store.list_trades(since=last["started_at"]))
        if trade["run_id"] == last["run_id"] and trade["source"] == "manual"]
    token = token_refresh.token_status(config, store, now,
                                       runs_automatically=next_run.at is not None)
    return Today(last, hand_sales, next_run, token)
