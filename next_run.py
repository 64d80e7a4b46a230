"""When the next run starts by itself: this app's scheduler, or the GitHub workflow when it has
recorded a scheduled run lately, or nothing (what the pages and `token_refresh.py status` judge
the token against)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
