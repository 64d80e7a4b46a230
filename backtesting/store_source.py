"""The backtest's default source: the store's candle cache, its gaps filled through the broker.

Kept apart from backtest.py so that a CSV backtest never imports the store's drivers, the broker
SDK or the trading calendar (tests/backtest/test_backtest_imports.py).
"""
from __future__ import annotations

import logging
import sys
from datetime import date, timedelta

from backtesting.data import DataError, SymbolHistory, fetch_into_store, load_store
from broker import BrokerError, FyersBroker
from config import Config
from store import Store, StoreError, configured_store
from token_refresh import stored_broker
from universe import nifty50_symbols

logger = logging.getLogger(__name__)


def open_broker(config: Config, store: Store) -> FyersBroker:
    """The configured broker (sandbox or live) with the stored access token."""
    broker = stored_broker(config, store)
    if broker is None:
        raise DataError("no Fyers access token: log in on the Tokens page or run "
                        "`python token_refresh.py login-url`, then try again")
    return broker


def _progress(number: int, total: int, symbol: str) -> None:
    """One progress line on stderr, rewritten per symbol."""
    print(f"\rfetching daily candles {number}/{total} {symbol:<24}", end="", file=sys.stderr,
          flush=True)
    if number == total:
        print(file=sys.stderr)


def load_cached(config: Config, *, fetch: bool, since: date, until: date
                ) -> dict[str, SymbolHistory]:
    """The NIFTY 50's cached closes from `since` on, fetched through the broker first when
    `fetch` is set or the cache has none; a broker or store failure is a DataError."""
    try:
        store = configured_store(config)
        try:
            symbols = nifty50_symbols()
            histories = {} if fetch else load_store(store, symbols, since)
            if not histories:
                fetch_into_store(open_broker(config, store), store, symbols, since, until,
                                 _progress)
                histories = load_store(store, symbols, since)
        finally:
            store.close()
    except (BrokerError, StoreError) as exc:
        raise DataError(str(exc)) from exc
    if not histories:
        raise DataError(f"no candles from {since} to {until} in the store or from the broker")
    _warn_if_short(histories, since)
    return histories


def _warn_if_short(histories: dict[str, SymbolHistory], since: date) -> None:
    """Say so when the cache starts well after the period asked for."""
    first = date.fromisoformat(min(history.dates[0] for history in histories.values()))
    if first > since + timedelta(days=7):
        logger.warning("the candle cache starts on %s: run with --fyers to fetch earlier candles",
                       first)
