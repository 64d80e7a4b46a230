"""The backtest's default source: the store's candle cache, its gaps filled through the broker.

Kept apart from backtest.py so that a CSV backtest never imports the store's drivers, the broker
SDK or the trading calendar (tests/backtest/test_backtest_imports.py).
"""
from __future__ import annotations

import logging
from bisect import bisect_left
from datetime import date, timedelta

from backtesting.data import DataError, SymbolHistory, fetch_into_store, load_store
from backtesting.progress import Progress
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


def _fetch(config: Config, store: Store, symbols: list[str], since: date, until: date) -> None:
    """Fill the cache's gaps in [since, until] through the broker, with a progress bar and ETA
    (Fyers' rate limits make 10 years of the NIFTY 50 take minutes)."""
    progress = Progress(len(symbols), "symbols' daily candles")
    progress.show()
    try:
        fetch_into_store(open_broker(config, store), store, symbols, since, until, progress.step)
    finally:
        progress.end()


def load_cached(config: Config, *, fetch: bool, since: date, start: date, until: date
                ) -> dict[str, SymbolHistory]:
    """The NIFTY 50's cached closes from `since` (the warm-up's start) on, fetched through the
    broker first when `fetch` is set or the cache has none in the period (`start` to `until`);
    a broker or store failure is a DataError."""
    try:
        store = configured_store(config)
        try:
            symbols = nifty50_symbols()
            histories = {} if fetch else load_store(store, symbols, since)
            if not _any_within(histories, start, until):
                if histories:
                    logger.warning("the candle cache has no candle from %s to %s: fetching them "
                                   "from Fyers first", start, until)
                _fetch(config, store, symbols, since, until)
                histories = load_store(store, symbols, since)
                if not _any_within(histories, start, until):
                    raise DataError(f"no candles from {start} to {until} in the store or from "
                                    f"the broker")
        finally:
            store.close()
    except (BrokerError, StoreError) as exc:
        raise DataError(str(exc)) from exc
    if not histories:
        raise DataError(f"no candles from {since} to {until} in the store or from the broker")
    _warn_if_short(histories, since)
    return histories


def _any_within(histories: dict[str, SymbolHistory], start: date, until: date) -> bool:
    """Whether any history holds a candle from `start` to `until` (dates are ISO and sorted)."""
    first, last = start.isoformat(), until.isoformat()
    return any((at := bisect_left(history.dates, first)) < len(history.dates)
               and history.dates[at] <= last for history in histories.values())


def _warn_if_short(histories: dict[str, SymbolHistory], since: date) -> None:
    """Say so when the cache starts well after the period asked for."""
    first = date.fromisoformat(min(history.dates[0] for history in histories.values()))
    if first > since + timedelta(days=7):
        logger.warning("the candle cache starts on %s: run with --fyers to fetch earlier candles",
                       first)
