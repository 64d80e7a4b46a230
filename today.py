"""The dashboard's Today card: the last run and the sales by hand it found, the trading days
on which no run started, the next automatic run (or that nothing runs by itself, and how to
turn that on), and the Fyers login state."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import executor
import token_refresh
from config import Config
from next_run import RECENT_RUNS, NextRun, automatic_runs, missed_days, missed_run_message
from store.base import Store


@dataclass(frozen=True)
class Today:
    """What the Today card shows."""

    last_run: dict[str, Any] | None
    # The run's summary names its own fills and only counts the sales made by hand it recorded:
    # those are listed one by one.
    hand_sales: list[dict[str, Any]]
    missed_run: str | None  # what to say of the trading days on which no run started
    next_run: NextRun
    token: token_refresh.TokenStatus


def today(config: Config, store: Store, now: float | None = None) -> Today:
    """The last run with the sales by hand it recorded, the missed trading days, the next
    automatic run and the login state, as of `now`."""
    now = time.time() if now is None else now
    runs = executor.as_shown(store, store.list_runs(limit=RECENT_RUNS))
    next_run = automatic_runs(config, store, now, runs)
    # a run that stood aside for another says less than that other run
    last = next((run for run in runs if not executor.stood_aside(run)), runs[0] if runs else None)
    hand_sales = [] if last is None else [
        trade for trade in reversed(store.list_trades(since=last["started_at"]))
        if trade["run_id"] == last["run_id"] and trade["source"] == "manual"]
    token = token_refresh.token_status(config, store, now,
                                       runs_automatically=next_run.at is not None)
    missed = missed_days(store, now, next_run)
    missed_run = missed_run_message(config, missed, next_run) if missed else None
    return Today(last, hand_sales, missed_run, next_run, token)
