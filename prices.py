"""One price for every page and alert: open positions valued at Fyers' live quotes, else at the
latest cached daily close, labelled with its date (portfolio.Mark); and the available funds.

Quotes (one batched call) and funds are fetched on a background thread: a page waits for them
at most PAGE_WAIT_S and otherwise shows the closes with a note, while the fetch finishes for
the next page. What Fyers answered is kept in the store (`fyers_market`): quotes for
QUOTES_FRESH_S, funds for FUNDS_FRESH_S, and a failure for FAILURE_PAUSE_S, during which no
page asks Fyers again. A run keeps the quotes it read there too, so the pages right after it
and its alert value the holdings at the same prices, and the funds after its orders, so the
pages never show the money from before them next to holdings from after.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

import token_refresh
from broker import BrokerError, FyersBroker, Quote, TokenExpired
from config import Config
from market_hours import FyersClock, quotes_time, session_state
from portfolio import Mark, ist
from store.base import Store
from universe import nifty50_symbols

logger = logging.getLogger(__name__)

MARKET_KEY = "fyers_market"
QUOTES_FRESH_S = 15.0
FUNDS_FRESH_S = 60.0
FAILURE_PAUSE_S = 30.0
PAGE_WAIT_S = 1.5  # with the page's own work, well within the 2 s a page may take
BUDGET_WAIT_S = 1.0  # how long a fetch may wait for room in the app's shared rate budget
FUNDS_ROW = "Available Balance"
LOGIN_NEEDED = "Fyers needs a new login, so prices are not live."


@dataclass(frozen=True)
class Market:
    """What the pages show of the market: a mark per symbol asked for (none when neither a
    quote nor a close is known), the available funds, and why prices are not live ('' when
    nothing went wrong)."""

    marks: dict[str, Mark]
    funds: float | None
    funds_at: float | None
    trouble: str


class _Fetcher:
    """One fetch from Fyers at a time, on a daemon thread, so that pages wait for it briefly,
    never start a second one meanwhile, and never hold up an exit."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._running: Future | None = None
        self._started = 0.0

    def run(self, job: Callable[[], None], wait_s: float) -> bool:
        """Start `job` unless a fetch is under way, then wait for the one under way until
        `wait_s` after it started; True when it has finished."""
        with self._guard:
            if self._running is None or self._running.done():
                self._running, self._started = Future(), time.monotonic()
                threading.Thread(target=_settle, args=(self._running, job),
                                 name="fyers-prices", daemon=True).start()
            running, started = self._running, self._started
        try:
            running.result(timeout=max(0.0, started + wait_s - time.monotonic()))
        except TimeoutError:
            return False
        return True


def _settle(future: Future, job: Callable[[], None]) -> None:
    """Run `job`, then mark `future` done whatever happened (the job logs its own failures)."""
    try:
        job()
    finally:
        future.set_result(None)


_fetchers: weakref.WeakKeyDictionary[Store, _Fetcher] = weakref.WeakKeyDictionary()
_fetchers_guard = threading.Lock()


def _fetcher(store: Store) -> _Fetcher:
    """The fetcher of the app that opened `store` (one per app, so one per process in use)."""
    with _fetchers_guard:
        return _fetchers.setdefault(store, _Fetcher())


def market_view(config: Config, store: Store, symbols: Sequence[str], *,
                wait_s: float = PAGE_WAIT_S) -> Market:
    """Marks for `symbols` and the available funds, fresh from Fyers when it answers within
    `wait_s`, else the closes (and the last funds known) with the reason."""
    wanted = list(dict.fromkeys(symbols))
    now = time.time()
    market = store.get_setting(MARKET_KEY) or {}
    trouble = ""
    if _missing_quotes(market, wanted, now) or _fresh(market, _funds(store), FUNDS_FRESH_S,
                                                      now) is None:
        trouble = _ask_fyers(config, store, market, wanted, now, wait_s)
        market = store.get_setting(MARKET_KEY) or {}
    quotes = _fresh(market, "quotes", QUOTES_FRESH_S, now) or {"at": None, "prices": {}}
    # Read while NSE was closed by Fyers' clock, a quote is the last session's price, not live.
    nse_closed = bool(quotes.get("fyers_at")) and not session_state(quotes["fyers_at"]).is_open
    marks = {symbol: Mark(quotes["prices"][symbol], at=quotes["at"], nse_closed=nse_closed)
             for symbol in wanted if symbol in quotes["prices"]}
    unquoted = [symbol for symbol in wanted if symbol not in marks]
    closes = store.latest_candles(unquoted)
    marks.update({symbol: Mark(float(candle["close"]), day=candle["date"])
                  for symbol, candle in closes.items()})
    funds = market.get(_funds(store)) or {}  # the last known, shown with its time
    return Market(marks, funds.get("available"), funds.get("at"), trouble if unquoted else "")


def fyers_clock(config: Config, store: Store, *, wait_s: float = PAGE_WAIT_S
                ) -> tuple[FyersClock, str]:
    """Fyers' clock as a run reads it: the time Fyers served the NIFTY 50's quotes at (the
    run's own quotes call, kept for the pages as any quotes are), moved on by the time since
    they were read; with why this machine's clock stands in instead ('' when it does not)."""
    wanted, asked = nifty50_symbols(), time.time()
    market = store.get_setting(MARKET_KEY) or {}
    trouble = ""
    if _missing_quotes(market, wanted, asked):
        trouble = _ask_fyers(config, store, market, wanted, asked, wait_s)
        market = store.get_setting(MARKET_KEY) or {}
    now = time.time()
    quotes = _fresh(market, "quotes", QUOTES_FRESH_S, now) or {}
    if not quotes.get("fyers_at"):
        return FyersClock(None), trouble or "Fyers' quotes reply carried no time (no Date header)."
    return FyersClock(quotes["fyers_at"] + (now - quotes["at"])), ""


def _funds(store: Store) -> str:
    """The part holding the funds of the store's book: the paper account's are its own."""
    return "funds" if store.book == "real" else f"{store.book}_funds"


def remember_quotes(store: Store, quotes: Mapping[str, Quote], at: float | None = None) -> None:
    """Keep quotes a run read, so pages (and the run's alert) value holdings at them."""
    _keep(store, quotes=_quotes_part(quotes, list(quotes), time.time() if at is None else at),
          failure=None)


def remember_funds(store: Store, broker: FyersBroker) -> None:
    """Keep the funds as they are after a run's orders (one Fyers call), so pages show them at
    once rather than the ones kept from before the orders; when Fyers does not answer, forget
    those, so the next page asks."""
    asked = time.time()
    try:
        funds = {"at": asked, "available": broker.funds().get(FUNDS_ROW)}
    except BrokerError as exc:
        logger.warning("the funds after the run's orders: %s; the next page asks Fyers", exc)
        funds = None
    _keep(store, **{_funds(store): funds})


def _quotes_part(quotes: Mapping[str, Quote], asked: list[str], at: float) -> dict[str, Any]:
    """Quotes as the store keeps them; a symbol asked for but not quoted (Fyers has no quote
    for it) is not asked for again until they are stale."""
    return {"at": at, "asked": asked,
            "prices": {symbol: quote.ltp for symbol, quote in quotes.items()},
            "fyers_at": quotes_time(quotes)}


def _fresh(market: Mapping[str, Any], part: str, fresh_s: float, now: float
           ) -> dict[str, Any] | None:
    """The stored part ('quotes' or 'funds') when younger than `fresh_s`, else None."""
    value = market.get(part)
    return value if value and now - value["at"] < fresh_s else None


def _missing_quotes(market: Mapping[str, Any], wanted: Sequence[str], now: float) -> bool:
    quotes = _fresh(market, "quotes", QUOTES_FRESH_S, now)
    return bool(wanted) and (quotes is None or not set(wanted) <= set(quotes.get("asked", ())))


def _ask_fyers(config: Config, store: Store, market: Mapping[str, Any], wanted: list[str],
               now: float, wait_s: float) -> str:
    """Fetch what is stale unless Fyers needs a login or failed a moment ago; '' when the
    answer came within `wait_s`, else why the prices are not live."""
    if token_refresh.token_status(config, store, now).login_needed:
        return LOGIN_NEEDED
    if not _recent_failure(market, now):
        want_quotes = _missing_quotes(market, wanted, now)
        want_funds = _fresh(market, _funds(store), FUNDS_FRESH_S, now) is None
        job = partial(_fetch, config, store, wanted if want_quotes else [], want_funds)
        if not _fetcher(store).run(job, wait_s):
            return (f"Fyers has not answered within {wait_s:g} s; live prices show on a "
                    "reload once it does.")
        market = store.get_setting(MARKET_KEY) or {}
    failure = _recent_failure(market, now)
    return _failed(failure) if failure else ""


def _recent_failure(market: Mapping[str, Any], now: float) -> dict[str, Any] | None:
    """The last failure to get prices when it is recent enough to pause asking again."""
    failure = market.get("failure")
    return failure if failure and now - failure["at"] < FAILURE_PAUSE_S else None


def _failed(failure: Mapping[str, Any]) -> str:
    if failure.get("login"):
        return LOGIN_NEEDED
    return f"Fyers gave no prices at {ist(failure['at'], '%H:%M')} IST ({failure['message']})."


def _fetch(config: Config, store: Store, symbols: list[str], want_funds: bool) -> None:
    """The background job: quotes of `symbols` (one batched call) and the funds, kept in the
    store with the time asked; a failure is kept instead, and pauses the pages' asking."""
    asked = time.time()
    try:
        broker = token_refresh.stored_broker(config, store, attempts=2, backoff_s=0.2,
                                             max_wait_s=BUDGET_WAIT_S)
        if broker is None:  # logged out between the page's check and this job
            return
        parts: dict[str, Any] = {"failure": None}
        with token_refresh.fyers_verdict(config, store, broker.access_token,
                                         "the pages' price check"):
            if symbols:
                parts["quotes"] = _quotes_part(broker.quotes(symbols), symbols, asked)
            if want_funds:
                parts[_funds(store)] = {"at": asked,
                                        "available": broker.funds().get(FUNDS_ROW)}
        _keep(store, **parts)
    except BrokerError as exc:
        logger.warning("Fyers prices for the pages: %s", exc)
        _keep(store, failure={"at": asked, "message": str(exc),
                              "login": isinstance(exc, TokenExpired)})
    except Exception:  # a daemon thread: its failure must reach the logs, not vanish
        logger.exception("fetching Fyers prices for the pages failed")


def _keep(store: Store, **parts: Any) -> None:
    """Replace some parts of the stored market answer, atomically across processes; an answer
    asked before the one kept (a page's fetch under way while a run kept its own) is dropped."""
    def newer(market: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
        kept = market or {}
        return {**kept, **{name: part for name, part in parts.items()
                           if not (part and kept.get(name) and part["at"] < kept[name]["at"])}}, None

    store.modify_setting(MARKET_KEY, newer)
