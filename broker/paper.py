"""PaperBroker: FyersBroker's interface with orders filled locally (docs/paper.md).

Reads that show the market (profile, quotes, history) and the login calls go to the real
FyersBroker; everything that is the account (orders, orderbook, tradebook, holdings, positions,
funds, cancel) is answered by a simulated account kept in the store under one setting, changed
atomically. No order, modify or cancel call ever reaches Fyers. Orders fill against the last
quotes this broker read (the run reads them before deciding), so paper trading costs no data
call more than real trading; whether the market is open is read from the time Fyers served
those quotes at.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol

import india_time
from broker import paper_fills
from broker.client import FyersBroker
from broker.errors import InvalidRequest, OrderRejected
from broker.records import (
    Candle,
    Fill,
    Holding,
    Order,
    PlaceResult,
    Position,
    Quote,
    Tokens,
)
from config import IST
from market_hours import FyersClock

logger = logging.getLogger(__name__)

ACCOUNT_KEY = "paper_account"


class AccountHolder(Protocol):
    """Where the paper account lives: the store's settings."""

    def get_setting(self, key: str, default: Any = None) -> Any: ...

    def modify_setting(self, key: str, change: Any) -> Any: ...


def _shown_time(moment: float) -> str:
    """Fyers' orderDateTime form, e.g. '23-Nov-2026 15:10:04'."""
    return datetime.fromtimestamp(moment, IST).strftime("%d-%b-%Y %H:%M:%S")


class PaperBroker:
    """Paper trading behind FyersBroker's interface: real quotes, history and login through
    `real`; orders, fills, holdings and funds simulated in `holder` (the store), starting
    with `capital` rupees."""

    is_paper = True  # what a run's words check ("simulated", not "sent to Fyers")

    def __init__(self, real: FyersBroker, holder: AccountHolder, capital: float) -> None:
        self._real = real
        self._holder = holder
        self._capital = capital
        self._quotes: dict[str, Quote] = {}  # the last quotes read: the fills' prices
        self._clock: FyersClock | None = None  # Fyers' time, from those quotes

    @property
    def access_token(self) -> str:
        """The real broker's access token (the login is real)."""
        return self._real.access_token

    @property
    def call_count(self) -> int:
        """HTTP calls made to Fyers: the real broker's (orders make none)."""
        return self._real.call_count

    # --- what goes to Fyers ---------------------------------------------------------------
    def profile(self) -> dict:
        """The real account's profile."""
        return self._real.profile()

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Fyers' quotes, kept for the fills and the clock of this broker's later orders."""
        quotes = self._real.quotes(symbols)
        self._quotes.update(quotes)
        self._clock = FyersClock.from_quotes(self._quotes)
        return quotes

    def history(self, symbol: str, start: date, end: date) -> list[Candle]:
        """Fyers' daily candles."""
        return self._real.history(symbol, start, end)

    def login_url(self, state: str) -> str:
        """Fyers' login page (the login is real)."""
        return self._real.login_url(state)

    def exchange_auth_code(self, auth_code: str) -> Tokens:
        """Fyers' tokens for the login's auth code."""
        return self._real.exchange_auth_code(auth_code)

    def refresh_access_token(self, refresh_token: str, pin: str) -> Tokens:
        """A new access token from Fyers."""
        return self._real.refresh_access_token(refresh_token, pin)

    # --- the simulated account ------------------------------------------------------------
    def _today(self, account: dict[str, Any]) -> str:
        """Fyers' trading day: by the time Fyers served the quotes at, once read, else the
        account's own day."""
        return india_time.date_of(self._clock.now()) if self._clock is not None else account["day"]

    def account(self) -> dict[str, Any]:
        """The paper account as of Fyers' day (a new one holds PAPER_CAPITAL in cash)."""
        stored = self._holder.get_setting(ACCOUNT_KEY)
        if stored is None:
            now = self._clock.now() if self._clock is not None else time.time()
            return paper_fills.new_account(self._capital, india_time.date_of(now))
        return paper_fills.as_of(stored, self._today(stored))

    def funds(self) -> dict:
        """Fund rows as Fyers titles them: the paper cash; and, for paper only, the cash plus
        the holdings at cost (the day's fills included, so a buy lowers it by its charges
        alone), the capital it started with and the charges paid."""
        account = self.account()
        held = sum(h["qty"] * h["avg"] for h in paper_fills.held_now(account).values())
        return {"Available Balance": account["cash"], "Total Balance": round(
            account["cash"] + held, 2), "Paper capital": account["capital"],
            "Paper charges paid": account["charges"]}

    def holdings(self) -> list[Holding]:
        """What the paper account held when Fyers' day began, less the day's sales."""
        account = self.account()
        sold = {symbol: 0 for symbol in account["holdings"]}
        for order in account["orders"]:
            if order["side"] == -1 and order["symbol"] in sold:
                sold[order["symbol"]] += order["filled_qty"]
        return [Holding(symbol, held["qty"], max(held["qty"] - sold[symbol], 0), held["avg"],
                        self._ltp(symbol, held["avg"]),
                        round((self._ltp(symbol, held["avg"]) - held["avg"]) * held["qty"], 2),
                        "HLD") for symbol, held in sorted(account["holdings"].items())]

    def positions(self) -> list[Position]:
        """The day's net paper positions: its buys and its sales."""
        account = self.account()
        symbols = sorted({order["symbol"] for order in account["orders"] if order["filled_qty"]})
        return [self._position(account, symbol) for symbol in symbols]

    def _position(self, account: dict[str, Any], symbol: str) -> Position:
        fills = [o for o in account["orders"] if o["symbol"] == symbol and o["filled_qty"]]
        bought = [(o["filled_qty"], o["price"]) for o in fills if o["side"] == 1]
        qty_bought = sum(qty for qty, _ in bought)
        avg = sum(qty * price for qty, price in bought) / qty_bought if qty_bought else 0.0
        net = sum(o["side"] * o["filled_qty"] for o in fills)
        cost = account["holdings"].get(symbol, {}).get("avg", avg)
        realized = sum((o["price"] - cost) * o["filled_qty"] for o in fills if o["side"] == -1)
        ltp = self._ltp(symbol, avg)
        return Position(symbol, net, round(avg, 4), ltp, round((ltp - avg) * max(net, 0), 2),
                        round(realized, 2))

    def _ltp(self, symbol: str, fallback: float) -> float:
        quote = self._quotes.get(symbol)
        return quote.ltp if quote is not None else fallback

    def orders(self, *, tag: str | None = None, order_id: str | None = None) -> list[Order]:
        """The paper orderbook of Fyers' day, optionally only one tag's or one id's orders."""
        return [Order(o["id"], o["symbol"], o["side"], o["qty"], o["filled_qty"], o["price"],
                      o["status"], o["tag"], o["message"])
                for o in self.account()["orders"]
                if (not tag or o["tag"] == tag) and (not order_id or o["id"] == order_id)]

    def tradebook(self) -> list[Fill]:
        """The paper fills of Fyers' day."""
        return [Fill(o["id"], o["symbol"], o["side"], o["filled_qty"], o["price"], o["tag"],
                     _shown_time(o["at"]))
                for o in self.account()["orders"] if o["filled_qty"]]

    def place_market_order(self, symbol: str, qty: int, side: int, tag: str, *,
                           after_market: bool = False) -> PlaceResult:
        """Fill a CNC market order in the paper account at once, against the last quote read
        and Fyers' clock; OrderRejected as Fyers' RMS would refuse it. An order with the same
        tag today is that order, never a second one. After-market orders are not simulated
        (no quote exists yet for the open they would fill at): one outside the session is
        refused, saying so."""
        if symbol not in self._quotes:  # a run reads every quote first; this is a safety net
            self.quotes([symbol])
        clock = self._clock or FyersClock(None)
        session = clock.session()
        request = {"symbol": symbol, "qty": int(qty), "side": int(side), "tag": tag}
        quote = self._quotes.get(symbol)

        def change(stored: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
            today = india_time.date_of(clock.now())
            account = paper_fills.as_of(stored or paper_fills.new_account(self._capital, today),
                                        today)
            same = [o for o in account["orders"] if o["tag"] == tag]
            if same:
                return account, same[0]
            closed = "" if session.is_open else session.closed_sentence()
            if closed and after_market:
                closed += "; after-market orders are not simulated on paper"
            return paper_fills.place(account, request, quote.ltp if quote else None, closed,
                                     clock.now())

        order = self._holder.modify_setting(ACCOUNT_KEY, change)
        logger.info("paper order %s: %s %d %s: %d filled at %.2f (%s)", order["id"],
                    "BUY" if side == 1 else "SELL", qty, symbol, order["filled_qty"],
                    order["price"], order["message"])
        if order["status"] == paper_fills.STATUS_REJECTED:
            raise OrderRejected(order["message"])
        return PlaceResult(order_id=order["id"], acknowledged=True)

    def cancel_order(self, order_id: str) -> None:
        """Every paper order is final at once: nothing is left to cancel."""
        raise InvalidRequest(f"Fyers cancel_order (paper): order {order_id} is not pending")
