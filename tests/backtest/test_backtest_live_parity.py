"""The backtest against the sandbox: it decides what run_live decides on the same candles, and
its CLI fills an empty candle cache through the broker.

run_live trades the sandbox for a few consecutive sessions (clock after the close, so its quotes
are the day's closes; its orders are after-market orders, which the demo sandbox fills at once,
at those closes); then the backtest replays the same sessions
from the same store's candle cache, filled through the broker by the backtest's own loader.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pytest

import backtest
import token_refresh
from backtest import run_backtest, warmup_start
from backtesting.costs import NO_COSTS
from backtesting.data import fetch_into_store, load_store
from backtesting.engine import Settings
from broker import FyersBroker, Tokens
from fyers_sandbox.market import trading_days
from fyers_sandbox.testing import SandboxHandle, start_sandbox
from live_strategy import run_live
from universe import nifty50_symbols

FIRST_DAY = date(2026, 10, 1)
SESSIONS = 6
LOOSE_LIMITS = ((1000, 1),)  # a cold run fetches 50 histories: no need to wait on Fyers' pace


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """The shared sandbox with relaxed rate limits, its clock after FIRST_DAY's close, in
    demo mode: the backtest fills every order at the close, so live orders must too for the
    books to be comparable (an MPP order that waits is not what parity is about)."""
    with start_sandbox(rate_limits=LOOSE_LIMITS, start=f"{FIRST_DAY}T15:45:00",
                       demo=True) as handle:
        yield handle


def sessions() -> list[date]:
    """SESSIONS consecutive NSE sessions from FIRST_DAY."""
    days = trading_days()
    first = days.index(FIRST_DAY)
    return list(days[first:first + SESSIONS])


def test_backtest_decides_what_run_live_decides(sandbox_config, store, sandbox):
    # After the close the run places nothing unless it may place after-market orders.
    config = sandbox_config.with_overrides(order_fill_timeout_s=2.0, after_market_orders=True)
    broker = FyersBroker(config, sandbox.login()[0], rate_limits=LOOSE_LIMITS)
    days = sessions()
    live = []
    for number, day in enumerate(days):
        sandbox.admin("clock", now=f"{day}T15:45:00")
        result = run_live(config, store, broker, run_id=f"parity{number}")
        live += [(day.isoformat(), i.symbol, i.side, i.qty, i.reason) for i in result.intents]

    since = warmup_start(days[0], config.ma_period)
    fetch_into_store(broker, store, nifty50_symbols(), since, days[-1])
    result, _ = run_backtest(load_store(store, nifty50_symbols(), since),
                             config.strategy_params(),
                             Settings(capital=10_000_000.0, slippage_pct=0.0, costs=NO_COSTS),
                             days[0], days[-1])
    backtested = [(t.date, t.symbol, t.side, t.qty, t.reason)
                  for t in result.trades]

    assert len(live) >= SESSIONS  # an entry (or exit / average) every session
    assert backtested == live


def test_cli_fills_a_cache_without_the_period_from_the_sandbox(sandbox_config, store, sandbox,
                                                               caplog):
    """An empty cache; then one holding only later candles (as when the runs cached the last
    weeks); then one holding the warm-up and later candles but not the period between; then
    only later ones again: each time the backtest fetches the period first, counting symbols
    as it goes."""
    access, refresh = sandbox.login()
    token_refresh.save_tokens(sandbox_config, store, Tokens(access, refresh, time.time() + 3600),
                              time.time() + 86400)
    out = sandbox_config.data_dir / "run"
    fetched = []
    periods = (("2026-09-01", "2026-09-30"), ("2026-05-04", "2026-05-15"),
               ("2026-06-15", "2026-06-24"), ("2026-02-02", "2026-02-13"))
    for start, end in periods:
        caplog.clear()
        assert backtest.main(["--from", start, "--to", end, "--out", str(out)],
                             sandbox_config) == 0
        assert "50/50 symbols' daily candles done" in caplog.text
        fetched += [r.getMessage() for r in caplog.records if "no candle from" in r.getMessage()]
        equity = (out / "equity.csv").read_text().splitlines()
        assert equity[1].startswith(f"{start},") and equity[-1].startswith(f"{end},")
    assert fetched == [f"the candle cache has no candle from {start} to {end}: fetching them "
                       f"from Fyers first" for start, end in periods[1:]]
    assert set(store.last_candle_dates()) == set(nifty50_symbols())


def test_cli_without_a_token_says_how_to_log_in(config, capsys):
    assert backtest.main(["--from", "2026-09-01", "--to", "2026-09-30"], config) == 1
    assert "no Fyers access token: log in" in capsys.readouterr().err
