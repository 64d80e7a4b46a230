"""FyersBroker: the one place that calls the fyers_apiv3 SDK.

Everything else sees the dataclasses and exceptions below. The SDK builds its URLs from the
class attributes `fyersModel.Config.API` / `.DATA_API`, so they are process-wide: the broker
constructor points them at the sandbox or at Fyers, and one process talks to one Fyers
endpoint. Calls pass a client-side limiter shared by every broker in the process; reads are
retried with backoff on 429 / 5xx / no response, orders never are.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import requests
from fyers_apiv3 import fyersModel
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from config import IST, PROJECT_DIR, Config

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
    traded_at: float = 0.0  # epoch s of the last trade (Fyers `tt`), 0 when absent


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


LIVE_API_URL = "https://api-t1.fyers.in/api/v3"
LIVE_DATA_URL = "https://api-t1.fyers.in/data"
LOG_DIR = PROJECT_DIR / "fyers_logs"
# Fyers allows 10 req/s and 200 req/min; keep a margin so network jitter never crosses them
# (three minute-limit breaches block the API for the day).
CLIENT_RATE_LIMITS = ((9, 1), (190, 60))
QUOTES_PER_CALL = 50
HISTORY_DAYS_PER_CALL = 366
TOKEN_CODES = frozenset({-8, -15, -16, -17})
AUTH_CODES = frozenset({-437, -501})
INVALID_CODES = frozenset({-50, -300})
NO_ACK_CODE = 201
TOKEN_LIKE = re.compile(r"[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")  # a JWT echoed in a message


class CallLimiter:
    """A blocking moving-window limiter (the `limits` library) over several windows."""

    def __init__(self, limits: tuple[tuple[int, int], ...]) -> None:
        self._items = [RateLimitItemPerSecond(count, seconds) for count, seconds in limits]
        self._windows = MovingWindowRateLimiter(MemoryStorage())
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until every window has room, then count one call."""
        while True:
            with self._lock:
                full = [item for item in self._items if not self._windows.test(item, "fyers")]
                if not full:
                    for item in self._items:
                        self._windows.hit(item, "fyers")
                    return
                free_at = max(self._windows.get_window_stats(item, "fyers").reset_time
                              for item in full)
            time.sleep(min(max(free_at - time.time(), 0.005), 1.0))


_limiters: dict[tuple[str, str, tuple[tuple[int, int], ...]], CallLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(api_url: str, client_id: str,
                   limits: tuple[tuple[int, int], ...]) -> CallLimiter:
    """The process-wide limiter of one Fyers endpoint and app, so every FyersBroker talking
    to it shares one budget (each test sandbox, on its own port, gets its own)."""
    key = (api_url, client_id, limits)
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = CallLimiter(limits)
        return _limiters[key]


def reply_body(reply: Any) -> dict[str, Any]:
    """The SDK's answer as a dict: it returns the JSON body, its own (shared, mutable) error
    dict, or occasionally a requests Response."""
    if isinstance(reply, requests.Response):
        try:
            reply = reply.json()
        except ValueError:
            return {"s": "error", "code": reply.status_code, "message": f"HTTP {reply.status_code}"}
    if isinstance(reply, dict):
        return dict(reply)
    return {"s": "error", "code": -99, "message": "unexpected reply from the Fyers SDK"}


def error_for(call: str, body: dict[str, Any]) -> BrokerError | None:
    """The exception a Fyers reply stands for, or None when it succeeded."""
    if body.get("s") in ("ok", "no_data"):
        return None
    try:
        code = int(body.get("code", 0))
    except (TypeError, ValueError):
        code = 0
    text = TOKEN_LIKE.sub("<token>", str(body.get("message") or "error"))
    message = f"Fyers {call}: {text} (code {code})"
    if code in TOKEN_CODES:
        return TokenExpired(message)
    if code in (-429, 429):
        return RateLimited(message)
    if code in AUTH_CODES:
        return AuthFailed(message)
    if code in INVALID_CODES:
        return InvalidRequest(message)
    if code == -99 or code >= 500:
        return BrokerUnavailable(message)
    return BrokerError(message)


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (only Fyers can), or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _tag(raw: object) -> str:
    """The order tag without the orderbook's '1:' prefix."""
    return str(raw or "").split(":", 1)[-1]


def _order(row: dict[str, Any]) -> Order:
    return Order(id=str(row["id"]), symbol=row["symbol"], side=int(row["side"]),
                 qty=int(row["qty"]), filled_qty=int(row.get("filledQty") or 0),
                 traded_price=float(row.get("tradedPrice") or 0.0), status=int(row["status"]),
                 tag=_tag(row.get("orderTag")), message=str(row.get("message") or ""),
                 placed_at=str(row.get("orderDateTime") or ""))


def _fill(row: dict[str, Any]) -> Fill:
    return Fill(order_id=str(row["orderNumber"]), symbol=row["symbol"], side=int(row["side"]),
                qty=int(row["tradedQty"]), price=float(row["tradePrice"]),
                tag=_tag(row.get("orderTag")), traded_at=str(row.get("orderDateTime") or ""))


def _chunks(start: date, end: date) -> list[tuple[date, date]]:
    """[start, end] cut into ranges Fyers accepts in one daily-history call."""
    spans = []
    while start <= end:
        stop = min(start + timedelta(days=HISTORY_DAYS_PER_CALL - 1), end)
        spans.append((start, stop))
        start = stop + timedelta(days=1)
    return spans


class FyersBroker:
    """Wraps `fyersModel.FyersModel`; rate-limited, retrying idempotent calls, typed results.

    `rate_limits`, `attempts` and `backoff_s` exist for tests and benchmarks that scale
    time down; production uses the defaults."""

    def __init__(self, config: Config, access_token: str | None = None, *,
                 rate_limits: tuple[tuple[int, int], ...] = CLIENT_RATE_LIMITS,
                 attempts: int = 4, backoff_s: float = 0.5) -> None:
        self._config = config
        base = config.fyers_sandbox_url.rstrip("/")
        live = not config.is_sandbox
        fyersModel.Config.API = LIVE_API_URL if live else f"{base}/api/v3"
        fyersModel.Config.DATA_API = LIVE_DATA_URL if live else f"{base}/data"
        LOG_DIR.mkdir(exist_ok=True)
        self._fyers = fyersModel.FyersModel(client_id=config.client_id, token=access_token or "",
                                            is_async=False, log_path=str(LOG_DIR))
        for name in ("FyersAPI", "FyersAPIRequest"):  # the SDK's logs stay in fyers_logs/
            logging.getLogger(name).propagate = False
        self._limiter = shared_limiter(fyersModel.Config.API, config.client_id, rate_limits)
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._calls = 0

    @property
    def call_count(self) -> int:
        """HTTP calls made to Fyers by this broker, retries included."""
        return self._calls

    # --- plumbing -----------------------------------------------------------------------
    def _send(self, request: Callable[[], Any]) -> dict[str, Any]:
        """One rate-limited call; a call that got no answer becomes a -99 reply."""
        self._limiter.acquire()
        self._calls += 1
        try:
            return reply_body(request())
        except (requests.RequestException, ValueError) as exc:
            return {"s": "error", "code": -99, "message": f"no response ({type(exc).__name__})"}

    def _read(self, call: str, request: Callable[[], Any]) -> dict[str, Any]:
        """An idempotent call, retried with exponential backoff on 429 / 5xx / no answer."""
        attempt = 1
        while True:
            body = self._send(request)
            error = error_for(call, body)
            if error is None:
                return body
            if attempt >= self._attempts or not isinstance(error, (RateLimited, BrokerUnavailable)):
                raise error
            delay = self._backoff_s * 2 ** (attempt - 1)
            logger.warning("%s; retry %d of %d in %.2fs", error, attempt, self._attempts - 1, delay)
            time.sleep(delay)
            attempt += 1

    # --- account ------------------------------------------------------------------------
    def profile(self) -> dict:
        """The account profile (`data` of the reply: fy_id, name, ...)."""
        return self._read("profile", self._fyers.get_profile).get("data") or {}

    def funds(self) -> dict:
        """Fund rows by title, e.g. {'Available Balance': 99000.0, 'Total Balance': ...}."""
        rows = self._read("funds", self._fyers.funds).get("fund_limit") or []
        return {row["title"]: float(row.get("equityAmount") or 0.0) for row in rows}

    def holdings(self) -> list[Holding]:
        """Holdings, one per symbol and type (T1 bought recently, HLD settled)."""
        rows = self._read("holdings", self._fyers.holdings).get("holdings") or []
        return [Holding(symbol=row["symbol"], qty=int(row["quantity"]),
                        avg_price=float(row["costPrice"]), ltp=float(row.get("ltp") or 0.0),
                        pnl=float(row.get("pl") or 0.0), holding_type=str(row["holdingType"]))
                for row in rows]

    def positions(self) -> list[Position]:
        """Today's net positions."""
        rows = self._read("positions", self._fyers.positions).get("netPositions") or []
        return [Position(symbol=row["symbol"], net_qty=int(row["netQty"]),
                         avg_price=float(row.get("netAvg") or 0.0),
                         ltp=float(row.get("ltp") or 0.0), pnl=float(row.get("pl") or 0.0),
                         realized=float(row.get("realized_profit") or 0.0)) for row in rows]

    def orders(self, *, tag: str | None = None, order_id: str | None = None) -> list[Order]:
        """The orderbook, optionally only the orders with this tag or id."""
        query = {key: value for key, value in (("id", order_id), ("order_tag", tag)) if value}
        body = self._read("orderbook", lambda: self._fyers.orderbook(query or None))
        found = [_order(row) for row in body.get("orderBook") or []]
        return [order for order in found
                if (not tag or order.tag == tag) and (not order_id or order.id == order_id)]

    def tradebook(self) -> list[Fill]:
        """Today's fills, including the owner's own trades (without our tag)."""
        rows = self._read("tradebook", self._fyers.tradebook).get("tradeBook") or []
        return [_fill(row) for row in rows]

    # --- orders -------------------------------------------------------------------------
    def place_market_order(self, symbol: str, qty: int, side: int, tag: str) -> PlaceResult:
        """Place a CNC market order once. Never retried: when the answer is lost the tag is
        looked up; acknowledged=False means the outcome is unknown yet (look the tag up)."""
        order = {"symbol": symbol, "qty": int(qty), "type": 2, "side": int(side),
                 "productType": "CNC", "limitPrice": 0, "stopPrice": 0, "validity": "DAY",
                 "disclosedQty": 0, "offlineOrder": False, "orderTag": tag}
        body = self._send(lambda: self._fyers.place_order(order))
        if body.get("code") == NO_ACK_CODE:
            logger.warning("Fyers place_order %s: no acknowledgement yet for tag %s", symbol, tag)
            return PlaceResult(order_id=str(body.get("id") or "") or None, acknowledged=False)
        if body.get("s") == "ok" and body.get("id"):
            return PlaceResult(order_id=str(body["id"]), acknowledged=True)
        error = error_for("place_order", body)
        if error is not None and body.get("id"):
            raise OrderRejected(str(error))
        if error is None or isinstance(error, BrokerUnavailable):
            logger.warning("Fyers place_order %s: answer lost (%s); looking up tag %s",
                           symbol, error or "no order id", tag)
            return self._adopt(tag)
        raise error

    def _adopt(self, tag: str) -> PlaceResult:
        """After a lost answer: the order with `tag` if Fyers has it, else unknown."""
        try:
            found = self.orders(tag=tag)
        except BrokerError as exc:
            logger.warning("Fyers order lookup for tag %s failed: %s", tag, exc)
            return PlaceResult(order_id=None, acknowledged=False)
        if found:
            return PlaceResult(order_id=found[-1].id, acknowledged=True)
        return PlaceResult(order_id=None, acknowledged=False)

    def cancel_order(self, order_id: str) -> None:
        """Cancel what remains of a pending order; InvalidRequest when it is no longer pending."""
        body = self._send(lambda: self._fyers.cancel_order({"id": order_id}))
        error = error_for("cancel_order", body)
        if error is not None:
            raise error

    # --- market data --------------------------------------------------------------------
    def history(self, symbol: str, start: date, end: date) -> list[Candle]:
        """Daily candles in [start, end], fetched in ≤366-day calls, ascending by date."""
        candles: dict[str, Candle] = {}
        for first, last in _chunks(start, end):
            query = {"symbol": symbol, "resolution": "D", "date_format": "1",
                     "range_from": first.isoformat(), "range_to": last.isoformat(),
                     "cont_flag": "1"}
            body = self._read("history", lambda q=query: self._fyers.history(q))
            for epoch, opening, high, low, close, volume in body.get("candles") or []:
                day = datetime.fromtimestamp(epoch, IST).date().isoformat()
                candles[day] = Candle(day, float(opening), float(high), float(low),
                                      float(close), int(volume))
        return [candles[day] for day in sorted(candles)]

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Quotes by symbol, ≤50 symbols a call; symbols Fyers does not know are left out."""
        quotes: dict[str, Quote] = {}
        unique = list(dict.fromkeys(symbols))
        for i in range(0, len(unique), QUOTES_PER_CALL):
            query = {"symbols": ",".join(unique[i:i + QUOTES_PER_CALL])}
            body = self._read("quotes", lambda q=query: self._fyers.quotes(q))
            for entry in body.get("d") or []:
                values = entry.get("v") or {}
                if entry.get("s") != "ok":
                    logger.warning("Fyers quotes: no quote for %s (%s)", entry.get("n"), values)
                    continue
                quotes[entry["n"]] = Quote(symbol=entry["n"], ltp=float(values["lp"]),
                                           prev_close=float(values["prev_close_price"]),
                                           change_pct=float(values.get("chp") or 0.0),
                                           traded_at=float(values.get("tt") or 0.0))
        return quotes

    # --- login (no access token needed) -------------------------------------------------
    def _session(self, state: str = "") -> fyersModel.SessionModel:
        config = self._config
        return fyersModel.SessionModel(client_id=config.client_id, secret_key=config.client_secret,
                                       redirect_uri=config.fyers_redirect_uri,
                                       response_type="code", state=state,
                                       grant_type="authorization_code")

    def login_url(self, state: str) -> str:
        """The Fyers page where the owner approves the app; it redirects back with a code."""
        return self._session(state).generate_authcode()

    def _tokens(self, call: str, body: dict[str, Any], refresh_token: str) -> Tokens:
        """Tokens from a login reply; any refusal becomes AuthFailed."""
        error = error_for(call, body)
        if isinstance(error, (RateLimited, BrokerUnavailable)):
            raise error
        if error is not None or not body.get("access_token"):
            raise AuthFailed(str(error or f"Fyers {call}: no access token in the reply"))
        access = str(body["access_token"])
        expires = jwt_expiry(access) or time.time() + self._config.access_token_validity
        return Tokens(access, str(body.get("refresh_token") or refresh_token), expires)

    def exchange_auth_code(self, auth_code: str) -> Tokens:
        """Trade the auth code from the login redirect for access and refresh tokens."""
        session = self._session()
        session.set_token(auth_code)
        return self._tokens("validate-authcode", self._send(session.generate_token), "")

    def refresh_access_token(self, refresh_token: str, pin: str) -> Tokens:
        """A new access token from the refresh token and PIN (refused in daily-login mode)."""
        payload = {"grant_type": "refresh_token", "refresh_token": refresh_token, "pin": pin,
                   "appIdHash": self._session().get_hash().hexdigest()}
        url = f"{fyersModel.Config.API}/validate-refresh-token"
        body = self._send(lambda: requests.post(url, json=payload, timeout=20))
        return self._tokens("validate-refresh-token", body, refresh_token)
