"""FyersBroker: the one place that calls the fyers_apiv3 SDK.

Everything else sees the dataclasses and exceptions below. INTERFACE SKELETON: the
method bodies are implemented in the "Fyers sandbox and the broker adapter" work.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Sequence

from config import Config

logger = logging.getLogger(__name__)

# Orderbook status codes (Fyers v3)
STATUS_CANCELLED = 1
STATUS_TRADED = 2
STATUS_TRANSIT = 4
STATUS_REJECTED = 5
STATUS_PENDING = 6
STATUS_EXPIRED = 7
FINAL_STATUSES = frozenset({STATUS_CANCELLED, STATUS_TRADED, STATUS_REJECTED, STATUS_EXPIRED})
SIDE_BUY = 1
SIDE_SELL = -1


class BrokerError(RuntimeError):
    """Base of every broker failure."""


class TokenExpired(BrokerError):
    """The access token is expired or invalid (-8, -15, -16, -17): stop the run and ask the
    owner to log in (or refresh first)."""


class AuthFailed(BrokerError):
    """An auth code or refresh token was refused (-437, -501, daily login required): the
    owner must complete the Fyers login again."""


class RateLimited(BrokerError):
    """Fyers answered 429 / -429 even after retries: stop this run, try again later."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OrderRejected(BrokerError):
    """Fyers refused an order; the order is recorded as cancelled with this message."""


class InvalidRequest(BrokerError):
    """Bad parameters or symbol (-50, -300): a bug or bad config; the run fails."""


class BrokerUnavailable(BrokerError):
    """Network error or 5xx after retries: the run fails and can be retried."""


@dataclass(frozen=True)
class Quote:
    symbol: str
    ltp: float
    prev_close: float
    change_pct: float


@dataclass(frozen=True)
class Candle:
    date: str  # IST trading date 'YYYY-MM-DD'
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True)
class Holding:
    symbol: str
    qty: int
    avg_price: float
    ltp: float
    pnl: float
    holding_type: str  # HLD | T1


@dataclass(frozen=True)
class Position:
    symbol: str
    net_qty: int
    avg_price: float
    ltp: float
    pnl: float
    realized: float


@dataclass(frozen=True)
class Order:
    id: str
    symbol: str
    side: int  # 1 buy, -1 sell
    qty: int
    filled_qty: int
    traded_price: float
    status: int
    tag: str  # without the orderbook's "1:" prefix
    message: str
    placed_at: str

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class Fill:
    order_id: str
    symbol: str
    side: int
    qty: int
    price: float
    tag: str
    traded_at: str


@dataclass(frozen=True)
class PlaceResult:
    order_id: str | None
    acknowledged: bool  # False for code 201: look the tag up before doing anything else


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    access_expires_at: float  # epoch seconds, from the JWT exp or ACCESS_TOKEN_VALIDITY


class FyersBroker:
    """Wraps `fyersModel.FyersModel`; rate-limited, retrying idempotent calls, typed results."""

    def __init__(self, config: Config, access_token: str | None = None) -> None:
        raise NotImplementedError

    # authenticated calls
    def profile(self) -> dict: ...
    def funds(self) -> dict: ...
    def holdings(self) -> list[Holding]: ...
    def positions(self) -> list[Position]: ...
    def orders(self, *, tag: str | None = None, order_id: str | None = None) -> list[Order]: ...
    def tradebook(self) -> list[Fill]: ...
    def place_market_order(self, symbol: str, qty: int, side: int, tag: str) -> PlaceResult: ...
    def cancel_order(self, order_id: str) -> None: ...
    def history(self, symbol: str, start: date, end: date) -> list[Candle]: ...
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]: ...

    # login (no access token needed)
    def login_url(self, state: str) -> str: ...
    def exchange_auth_code(self, auth_code: str) -> Tokens: ...
    def refresh_access_token(self, refresh_token: str, pin: str) -> Tokens: ...

    @property
    def call_count(self) -> int: ...
