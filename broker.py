"""FyersBroker: the one place that calls the fyers_apiv3 SDK.

Everything else sees the dataclasses and exceptions below. The SDK builds its URLs from the
class attributes `fyersModel.Config.API` / `.DATA_API`, so they are process-wide: the broker
constructor points them at the sandbox or at Fyers, and one process talks to one Fyers
endpoint. Every HTTP call has connect/read timeouts (`Transport`, mounted on the SDK's own
requests session) and spends the app's rate budget shared through the store (rate_budget.py);
a 429 pauses every process for the window Fyers names. Reads are retried on 429 / 5xx / no
response, orders never are. Replies that are not what Fyers documents become UnexpectedReply.
See docs/fyers.md.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import requests
from fyers_apiv3 import fyersModel
from requests.adapters import HTTPAdapter

from config import IST, PROJECT_DIR, Config
from rate_budget import CLIENT_WINDOWS, Holder, RateBudget, memory_holder

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
    """Fyers answered 429 / -429 even after waiting for its window, or the shared budget
    has no room within the caller's patience: stop this call, try again after `retry_after`."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class DailyLimitBlocked(RateLimited):
    """Fyers blocked this app's API calls for the rest of the IST day (more than three
    per-minute breaches): every process stops calling until the next day; the run fails."""


class OrderRejected(BrokerError):
    """Fyers refused an order; the order is recorded as cancelled with this message."""


class IPNotAllowed(BrokerError):
    """Fyers refused an order because this machine's IP is not the static IP registered
    with the app: not an OrderRejected; the run fails loudly, nothing is recorded as traded."""


class UnexpectedReply(BrokerError):
    """Fyers answered with something it does not document (HTML instead of JSON, an unknown
    code, a missing field): nothing of it is used or recorded; the call fails."""


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
    """A holding as Fyers shows it since April 2026: `start_qty` (its `quantity`) is what was
    held when the day began, `remaining_qty` (`remainingQuantity`) that minus today's sales.
    Today's buys are not holdings: they are positions."""

    symbol: str
    start_qty: int
    remaining_qty: int
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
QUOTES_PER_CALL = 50
HISTORY_DAYS_PER_CALL = 366
TOKEN_CODES = frozenset({-8, -15, -16, -17})
AUTH_CODES = frozenset({-437, -501})
INVALID_CODES = frozenset({-50, -51, -300})
IP_NOT_ALLOWED_CODE = -392  # the sandbox's choice; Fyers documents none (docs/fyers.md)
IP_REFUSAL = re.compile(r"static ip|whitelist|ip address|not allowed from", re.IGNORECASE)
REGISTER_IP = "register this machine's static IP with your Fyers app"
NO_ACK_CODE = 201
CONNECT_TIMEOUT_S = 5.0
DAY_BLOCK_HINT = re.compile(r"block", re.IGNORECASE)
DEFAULT_MAX_WAIT_S = 90.0  # a run waits out a minute window; pages pass far less
TOKEN_LIKE = re.compile(r"[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")  # a JWT echoed in a message


class Transport(HTTPAdapter):
    """The SDK session's HTTP adapter: connect/read timeouts on every call (the SDK sets
    none), and the Retry-After of the last reply in this thread (the SDK drops headers)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout = (min(CONNECT_TIMEOUT_S, timeout_s), timeout_s)
        self.seen = threading.local()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        self.seen.retry_after = None
        response = super().send(request, **kwargs)
        self.seen.retry_after = _seconds(response.headers.get("Retry-After"))
        return response

    @property
    def retry_after(self) -> float | None:
        """Retry-After (seconds) of this thread's last reply, when it had one."""
        return getattr(self.seen, "retry_after", None)


def _seconds(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


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
    if body.get("s") != "error":
        return UnexpectedReply(f"Fyers {call}: a reply with status {body.get('s')!r}")
    if code in TOKEN_CODES:
        return TokenExpired(message)
    if code in (-429, 429):
        return RateLimited(message)
    if code in AUTH_CODES:
        return AuthFailed(message)
    if code == IP_NOT_ALLOWED_CODE or IP_REFUSAL.search(text):
        return IPNotAllowed(f"Fyers refused the order because this machine's IP is not the "
                            f"static IP registered for the app: {REGISTER_IP} ({message})")
    if code in INVALID_CODES:
        return InvalidRequest(message)
    if code == -99 or code >= 500:
        return BrokerUnavailable(message)
    return UnexpectedReply(f"{message}: a code Fyers does not document")


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (only Fyers can), or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def plain_tag(raw: object) -> str:
    """An order tag as the bot wrote it, whichever form Fyers shows: `1:<tag>` or `<tag>`;
    `Untagged` (`2:Untagged` in the orderbook, `1:Untagged` in the tradebook) is no tag."""
    tag = re.sub(r"^\d+:", "", str(raw or ""))
    return "" if tag == "Untagged" else tag


def _order(row: dict[str, Any]) -> Order:
    return Order(id=str(row["id"]), symbol=str(row["symbol"]), side=int(row["side"]),
                 qty=int(row["qty"]), filled_qty=int(row.get("filledQty") or 0),
                 traded_price=float(row.get("tradedPrice") or 0.0), status=int(row["status"]),
                 tag=plain_tag(row.get("orderTag")), message=str(row.get("message") or ""),
                 placed_at=str(row.get("orderDateTime") or ""))


def _fill(row: dict[str, Any]) -> Fill:
    return Fill(order_id=str(row["orderNumber"]), symbol=str(row["symbol"]),
                side=int(row["side"]), qty=int(row["tradedQty"]), price=float(row["tradePrice"]),
                tag=plain_tag(row.get("orderTag")), traded_at=str(row.get("orderDateTime") or ""))


def _holding(row: dict[str, Any]) -> Holding:
    return Holding(symbol=str(row["symbol"]), start_qty=int(row["quantity"]),
                   remaining_qty=int(row["remainingQuantity"]),
                   avg_price=float(row["costPrice"]), ltp=float(row.get("ltp") or 0.0),
                   pnl=float(row.get("pl") or 0.0), holding_type=str(row["holdingType"]))


def _position(row: dict[str, Any]) -> Position:
    return Position(symbol=str(row["symbol"]), net_qty=int(row["netQty"]),
                    avg_price=float(row.get("netAvg") or 0.0), ltp=float(row.get("ltp") or 0.0),
                    pnl=float(row.get("pl") or 0.0),
                    realized=float(row.get("realized_profit") or 0.0))


def _candle(row: list[Any]) -> Candle:
    epoch, opening, high, low, close, volume = row
    day = datetime.fromtimestamp(epoch, IST).date().isoformat()
    return Candle(day, float(opening), float(high), float(low), float(close), int(volume))


def _quote(entry: dict[str, Any]) -> Quote | None:
    """A quote entry, or None (logged) for a symbol Fyers has no quote for."""
    values = entry.get("v") or {}
    if entry.get("s") != "ok":
        logger.warning("Fyers quotes: no quote for %s (%s)", entry.get("n"), values)
        return None
    return Quote(symbol=str(entry["n"]), ltp=float(values["lp"]),
                 prev_close=float(values["prev_close_price"]),
                 change_pct=float(values.get("chp") or 0.0),
                 traded_at=float(values.get("tt") or 0.0))


def _blocked_message(until: float) -> str:
    return ("Fyers has blocked this app's API calls for the rest of the day (the per-minute "
            "limit was exceeded more than 3 times); the bot makes no Fyers call until "
            f"{datetime.fromtimestamp(until, IST):%d %b %H:%M} IST")


def parsed(call: str, rows: Any, parse: Callable[[dict[str, Any]], Any]) -> list:
    """Rows of a reply through `parse`; UnexpectedReply naming what is missing or malformed."""
    if not isinstance(rows, list):
        raise UnexpectedReply(f"Fyers {call}: expected a list of rows, got {type(rows).__name__}")
    try:
        return [parse(row) for row in rows]
    except KeyError as exc:
        raise UnexpectedReply(f"Fyers {call}: a row lacks the field {exc}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise UnexpectedReply(f"Fyers {call}: a malformed row ({exc})") from exc


def _chunks(start: date, end: date) -> list[tuple[date, date]]:
    """[start, end] cut into ranges Fyers accepts in one daily-history call."""
    spans = []
    while start <= end:
        stop = min(start + timedelta(days=HISTORY_DAYS_PER_CALL - 1), end)
        spans.append((start, stop))
        start = stop + timedelta(days=1)
    return spans


class FyersBroker:
    """Wraps `fyersModel.FyersModel`: timeouts, the shared rate budget, retried reads, typed
    results.

    `store` holds the app's rate budget shared with every other process (without one, the
    budget is shared within this process only). `max_wait_s` is how long a call may wait for
    room in the budget: a run waits out a minute window, a page passes a second or two.
    `rate_limits`, `attempts`, `backoff_s` and `clock` exist for tests and benchmarks."""

    def __init__(self, config: Config, access_token: str | None = None, *,
                 store: Holder | None = None,
                 rate_limits: tuple[tuple[int, int], ...] = CLIENT_WINDOWS,
                 attempts: int = 4, backoff_s: float = 0.5,
                 max_wait_s: float = DEFAULT_MAX_WAIT_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._access_token = access_token or ""
        base = config.fyers_sandbox_url.rstrip("/")
        live = not config.is_sandbox
        fyersModel.Config.API = LIVE_API_URL if live else f"{base}/api/v3"
        fyersModel.Config.DATA_API = LIVE_DATA_URL if live else f"{base}/data"
        LOG_DIR.mkdir(exist_ok=True)
        self._fyers = fyersModel.FyersModel(client_id=config.client_id, token=access_token or "",
                                            is_async=False, log_path=str(LOG_DIR))
        for name in ("FyersAPI", "FyersAPIRequest"):  # the SDK's logs stay in fyers_logs/
            logging.getLogger(name).propagate = False
        self._transport = Transport(config.broker_timeout_s)
        self._http = self._fyers.service.session  # the SDK's own session: configure, not patch
        for prefix in ("http://", "https://"):
            self._http.mount(prefix, self._transport)
        holder = store if store is not None else memory_holder(fyersModel.Config.API)
        self._budget = RateBudget(holder, config.client_id, rate_limits)
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._max_wait_s = max_wait_s
        self._clock = clock
        self._calls = 0

    @property
    def access_token(self) -> str:
        """The access token this broker calls Fyers with ('' for the login calls)."""
        return self._access_token

    @property
    def call_count(self) -> int:
        """HTTP calls made to Fyers by this broker, retries included."""
        return self._calls

    # --- plumbing -----------------------------------------------------------------------
    def _wait_for_turn(self, call: str) -> None:
        """Spend one call of the shared budget, waiting for room up to max_wait_s; a blocked
        day raises DailyLimitBlocked without calling Fyers."""
        deadline = self._clock() + self._max_wait_s
        while True:
            now = self._clock()
            turn = self._budget.take(now)
            if turn.blocked_until is not None:
                raise DailyLimitBlocked(_blocked_message(turn.blocked_until), turn.blocked_until - now)
            if turn.wait_s <= 0:
                return
            if now + turn.wait_s > deadline:
                raise RateLimited(f"Fyers {call}: the app's shared rate budget has no room for "
                                  f"{turn.wait_s:.0f} s; try again then", turn.wait_s)
            time.sleep(min(turn.wait_s, 1.0))

    def _send(self, call: str, request: Callable[[], Any]) -> dict[str, Any]:
        """One budgeted call; a reply that is not JSON or never came becomes an error body, a
        429 pauses every process for the window Fyers names."""
        self._wait_for_turn(call)
        self._calls += 1
        try:
            reply = request()
        except (requests.RequestException, ValueError) as exc:
            return {"s": "error", "code": -99, "message": f"no response ({type(exc).__name__})"}
        body = self._body(reply)
        if str(body.get("code")) in ("-429", "429"):
            self._note_rate_limited(call, body)
        return body

    def _body(self, reply: Any) -> dict[str, Any]:
        """The reply as a dict. The SDK answers its own shared error dict when the HTTP reply
        was not JSON or never came: that becomes an error body saying so."""
        if reply is self._fyers.service.error_resp:
            code = reply.get("code")
            if code == -99:
                return {"s": "error", "code": -99, "message": "no response from Fyers (connection "
                        f"failed or no answer within {self._config.broker_timeout_s:g} s)"}
            return {"s": "error", "code": code if code in (429,) or (code or 0) >= 500 else 0,
                    "message": f"HTTP {code} with a reply that is not JSON"}
        if isinstance(reply, requests.Response):
            try:
                reply = reply.json()
            except ValueError:
                return {"s": "error", "code": 0,
                        "message": f"HTTP {reply.status_code} with a reply that is not JSON"}
        if isinstance(reply, dict):
            return dict(reply)
        return {"s": "error", "code": 0, "message": "a reply that is not a JSON object"}

    def _note_rate_limited(self, call: str, body: dict[str, Any]) -> None:
        """Tell every process to pause for the window Fyers named (or a whole window), or to
        stop for the day when Fyers says the app is blocked."""
        pause = self._transport.retry_after or self._budget.longest_window_s
        blocked = pause >= 3600 or bool(DAY_BLOCK_HINT.search(str(body.get("message"))))
        turn = self._budget.refused(self._clock(), pause, blocked)
        logger.warning("Fyers %s: rate limit hit (%d today; more than 3 per-minute breaches block "
                       "the app for the day): every process pauses %.0f s", call, turn.breaches,
                       pause)
        if turn.blocked_until is not None:
            raise DailyLimitBlocked(_blocked_message(turn.blocked_until), pause)

    def _read(self, call: str, request: Callable[[], Any]) -> dict[str, Any]:
        """An idempotent call, retried on 429 (after the pause it set) and with exponential
        backoff on 5xx / no answer."""
        attempt = 1
        while True:
            body = self._send(call, request)
            error = error_for(call, body)
            if error is None:
                return body
            if attempt >= self._attempts or not isinstance(error, (RateLimited, BrokerUnavailable)):
                raise error
            delay = 0.0 if isinstance(error, RateLimited) else self._backoff_s * 2 ** (attempt - 1)
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
        return dict(parsed("funds", rows, lambda row: (str(row["title"]),
                                                        float(row.get("equityAmount") or 0.0))))

    def holdings(self) -> list[Holding]:
        """Holdings bought before today, one per symbol and type (T1 not yet settled, HLD)."""
        rows = self._read("holdings", self._fyers.holdings).get("holdings") or []
        return parsed("holdings", rows, _holding)

    def positions(self) -> list[Position]:
        """Today's net positions: today's buys and today's sales, holdings sold included."""
        rows = self._read("positions", self._fyers.positions).get("netPositions") or []
        return parsed("positions", rows, _position)

    def orders(self, *, tag: str | None = None, order_id: str | None = None) -> list[Order]:
        """The day's orderbook, read whole and matched here (Fyers' own filters are not relied
        on): optionally only the orders with this tag (either form Fyers shows) or id."""
        body = self._read("orderbook", self._fyers.orderbook)
        found = parsed("orderbook", body.get("orderBook") or [], _order)
        return [order for order in found
                if (not tag or order.tag == tag) and (not order_id or order.id == order_id)]

    def tradebook(self) -> list[Fill]:
        """Today's fills, including the owner's own trades (untagged)."""
        rows = self._read("tradebook", self._fyers.tradebook).get("tradeBook") or []
        return parsed("tradebook", rows, _fill)

    # --- orders -------------------------------------------------------------------------
    def place_market_order(self, symbol: str, qty: int, side: int, tag: str) -> PlaceResult:
        """Place a CNC market order once. Never retried: when the answer is lost the tag is
        looked up; acknowledged=False means the outcome is unknown yet (look the tag up).
        IPNotAllowed when Fyers refuses this machine's IP; RateLimited after a 429."""
        order = {"symbol": symbol, "qty": int(qty), "type": 2, "side": int(side),
                 "productType": "CNC", "limitPrice": 0, "stopPrice": 0, "validity": "DAY",
                 "disclosedQty": 0, "offlineOrder": False, "orderTag": tag}
        body = self._send("place_order", lambda: self._fyers.place_order(order))
        if body.get("code") == NO_ACK_CODE:
            logger.warning("Fyers place_order %s: no acknowledgement yet for tag %s", symbol, tag)
            return PlaceResult(order_id=str(body.get("id") or "") or None, acknowledged=False)
        if body.get("s") == "ok" and body.get("id"):
            return PlaceResult(order_id=str(body["id"]), acknowledged=True)
        error = error_for("place_order", body)
        if isinstance(error, IPNotAllowed):
            raise error
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
        """Cancel what remains of a pending order; InvalidRequest when it is no longer pending,
        IPNotAllowed when Fyers refuses this machine's IP."""
        body = self._send("cancel_order", lambda: self._fyers.cancel_order({"id": order_id}))
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
            for candle in parsed("history", body.get("candles") or [], _candle):
                candles[candle.date] = candle
        return [candles[day] for day in sorted(candles)]

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Quotes by symbol, ≤50 symbols a call; symbols Fyers does not know are left out."""
        quotes: dict[str, Quote] = {}
        unique = list(dict.fromkeys(symbols))
        for i in range(0, len(unique), QUOTES_PER_CALL):
            query = {"symbols": ",".join(unique[i:i + QUOTES_PER_CALL])}
            body = self._read("quotes", lambda q=query: self._fyers.quotes(q))
            for quote in parsed("quotes", body.get("d") or [], _quote):
                if quote is not None:
                    quotes[quote.symbol] = quote
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

    def _login_call(self, call: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST a login call on the SDK's session (the SDK's own auth-code exchange has no
        timeout), so it has the same timeouts and budget as every other call."""
        url = f"{fyersModel.Config.API}/{call}"
        return self._send(call, lambda: self._http.post(url, json=payload))

    def exchange_auth_code(self, auth_code: str) -> Tokens:
        """Trade the auth code from the login redirect for access and refresh tokens."""
        payload = {"grant_type": "authorization_code", "code": auth_code,
                   "appIdHash": self._session().get_hash().hexdigest()}
        return self._tokens("validate-authcode", self._login_call("validate-authcode", payload), "")

    def refresh_access_token(self, refresh_token: str, pin: str) -> Tokens:
        """A new access token from the refresh token and PIN (Fyers refuses it since April
        2026: a 2FA login is needed every trading day)."""
        payload = {"grant_type": "refresh_token", "refresh_token": refresh_token, "pin": pin,
                   "appIdHash": self._session().get_hash().hexdigest()}
        body = self._login_call("validate-refresh-token", payload)
        return self._tokens("validate-refresh-token", body, refresh_token)
