"""The next trading day's run, as the schedule meets it: the candle cache one session behind.

The quotes' previous close completes the cache without a history call when the quotes come
from today's session; before the open, on a holiday or after a missed day, history fills the
gap. Every case decides exactly as a run on an empty cache does at the same moment.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date

import pytest

from live_strategy import run_live
from store import open_store
from tests.batch.helpers import calls_to
from trading_calendar import previous_trading_day
from universe import nifty50_symbols

# The batch sandbox starts on Thu 1 Oct 2026 at 15:45 IST; Fri 2 Oct is a holiday (Gandhi
# Jayanti), so the next session is Mon 5 Oct.
NEXT_SESSION = "2026-10-05"


@pytest.fixture
def cold_store(tmp_path) -> Iterator:
    """A second store with an empty candle cache, for the run to compare with."""
    opened = open_store(f"sqlite:///{tmp_path}/cold.db")
    yield opened
    opened.close()


def closes_in(store, since: str) -> dict[str, list[tuple[str, float]]]:
    """(date, close) of every cached candle from `since` on, per symbol."""
    cached = store.candles_of(nifty50_symbols(), since)
    return {symbol: [(c["date"], c["close"]) for c in rows] for symbol, rows in cached.items()}


def next_day_run(run_config, store, broker, sandbox, clock: str) -> tuple[int, int, list]:
    """A run on the first day, the clock moved to `clock`, and the run there:
    (history calls, quotes calls, intents) of that second run."""
    run_live(run_config, store, broker, run_id="day1", dry_run=True)
    assert set(store.last_candle_dates().values()) == {"2026-09-30"}
    sandbox.admin("clock", now=clock)
    history, quotes = calls_to(sandbox, "/history"), calls_to(sandbox, "/quotes")
    result = run_live(run_config, store, broker, run_id="day2", dry_run=True)
    return (calls_to(sandbox, "/history") - history, calls_to(sandbox, "/quotes") - quotes,
            result.intents)


def candle_line(caplog, day: str) -> str:
    """What the run logged of where its candles up to `day` came from."""
    [line] = [record.getMessage() for record in caplog.records
              if record.getMessage().startswith(f"candles up to {day}: ")]
    return line.split(": ", 1)[1]


def assert_decides_as_a_cold_cache(run_config, store, cold_store, broker, intents,
                                   quotes_stand_still: bool = True) -> None:
    """A run at the same moment on an empty cache reads the same closes and, when prices do
    not move in between, wants the same orders."""
    cold = run_live(run_config, cold_store, broker, run_id="cold", dry_run=True)
    since = cold_store.get_candles("NSE:SBIN-EQ")[0]["date"]
    assert closes_in(store, since) == closes_in(cold_store, since)
    if quotes_stand_still:
        assert intents, "the sandbox market should offer an order to compare"
        assert intents == cold.intents


@pytest.mark.parametrize("clock", [f"{NEXT_SESSION}T15:10:00", f"{NEXT_SESSION}T15:45:00"])
def test_next_day_run_takes_yesterdays_close_from_one_quotes_call(
        run_config, store, cold_store, broker, sandbox, clock, caplog):
    caplog.set_level(logging.INFO, logger="live_strategy")
    history, quotes, intents = next_day_run(run_config, store, broker, sandbox, clock)
    assert (history, quotes) == (0, 1)
    assert candle_line(caplog, "2026-10-01") == "50 completed with the quotes' previous close"
    caplog.clear()
    run_live(run_config, store, broker, run_id="again", dry_run=True)
    assert candle_line(caplog, "2026-10-01") == "all 50 from the cache"
    assert set(store.last_candle_dates().values()) == {"2026-10-01"}
    # during the session prices move between two runs; after the close they stand still
    assert_decides_as_a_cold_cache(run_config, store, cold_store, broker, intents,
                                   quotes_stand_still=clock.endswith("15:45:00"))
    [candle] = store.get_candles("NSE:SBIN-EQ", since="2026-10-01")
    assert candle["volume"] is None  # known from the quote: its close only


@pytest.mark.parametrize("clock", [f"{NEXT_SESSION}T08:30:00",  # before Monday's open
                                   "2026-10-02T15:10:00",  # Gandhi Jayanti, NSE closed
                                   "2026-10-06T15:45:00"])  # the Monday run was missed
def test_without_todays_session_or_after_a_missed_day_history_fills_the_gap(
        run_config, store, cold_store, broker, sandbox, clock, caplog):
    caplog.set_level(logging.INFO, logger="live_strategy")
    history, quotes, intents = next_day_run(run_config, store, broker, sandbox, clock)
    assert (history, quotes) == (50, 1)
    latest = previous_trading_day(date.fromisoformat(clock[:10])).isoformat()
    assert candle_line(caplog, latest) == "50 fetched from Fyers' history"
    assert set(store.last_candle_dates().values()) == {latest}
    assert all(c["volume"] for c in store.get_candles("NSE:SBIN-EQ", since="2026-10-01"))
    assert_decides_as_a_cold_cache(run_config, store, cold_store, broker, intents)
