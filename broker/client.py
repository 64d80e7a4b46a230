"""FyersBroker: the one class that calls the fyers_apiv3 SDK.

The SDK builds its URLs from the class attributes `fyersModel.Config.API` / `.DATA_API`, so
they are process-wide: the broker constructor points them at the sandbox or at Fyers, and one
process talks to one Fyers endpoint. Every HTTP call has connect/read timeouts (`Transport`,
mounted on the SDK's own requests session) and spends the app's rate budget shared through the
store (rate_budget.py); a 429 pauses every process for the window Fyers names. Reads are retried
on 429 / 5xx / no response, orders never are.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

import requests
from fyers_apiv3 import fyersModel
from requests.adapters import HTTPAdapter

from broker.errors import (
    DAY_BLOCK_HINT,
    AuthFailed,
    BrokerError,
    BrokerUnavailable,
    DailyLimitBlocked,
    IPNotAllowed,
    OrderRejected,
    RateLimited,
    blocked_message,
    error_for,
)
from broker.records import (
    Candle,
    Fill,
    Holding,
    Order,
    PlaceResult,
    Position,
    Quote,
    Tokens,
    candle_from,
    fill_from,
    holding_from,
    jwt_expiry,
    order_from,
    parsed,
    position_from,
    quote_from,
)
from config import PROJECT_DIR, Config
from rate_budget import CLIENT_WINDOWS, Holder, RateBudget, memory_holder

logger = logging.getLogger(__name__)

LIVE_API_URL = "https://api-t1.fyers.in/api/v3"
LIVE_DATA_URL = "https://api-t1.fyers.in/data"
LOG_DIR = PROJECT_DIR / "fyers_logs"
QUOTES_PER_CALL = 50
HISTORY_DAYS_PER_CALL = 366
NO_ACK_CODE = 201
CONNECT_TIMEOUT_S = 5.0
DEFAULT_MAX_WAIT_S = 90.0  # a run waits out a minute window; pages pass far less


class Transport(HTTPAdapter):
    """The SDK session's HTTP adapter: connect/read timeouts on every call (the SDK sets
    none), and the Retry-After and Date of the last reply in this thread (the SDK drops
    headers)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout = (min(CONNECT_TIMEOUT_S, timeout_s), timeout_s)
        self.seen = threading.local()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        self.seen.retry_after = self.seen.served_at = None
        response = super().send(request, **kwargs)
        self.seen.retry_after = _seconds(response.headers.get("Retry-After"))
        self.seen.served_at = _http_date(response.headers.get("Date"))
        return response

    @property
    def retry_after(self) -> float | None:
        """Retry-After (seconds) of this thread's last reply, when it had one."""
        return getattr(self.seen, "retry_after", None)

    @property
    def served_at(self) -> float | None:
        """The server's clock (epoch s) on this thread's last reply: its Date header."""
        return getattr(self.seen, "served_at", None)


def _seconds(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def _http_date(raw: str | None) -> float | None:
    """An HTTP Date header as epoch seconds; None when absent or malformed. HTTP dates are
    GMT, also one that names no zone (or '-0000'), which would otherwise read as local."""
    try:
        moment = parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


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
                raise DailyLimitBlocked(blocked_message(turn.blocked_until), turn.blocked_until - now)
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
            return {"s": "error", "code": -99,
                    "message": f"no response from {self._where()} ({type(exc).__name__})"}
        body = self._body(reply)
        if str(body.get("code")) in ("-429", "429"):
            self._note_rate_limited(call, body)
        return body

    def _where(self) -> str:
        """Who did not answer: Fyers, or the sandbox at its address, which a command started
        without the web app's environment may not know (FYERS_SANDBOX_URL)."""
        if not self._config.is_sandbox:
            return "Fyers"
        return f"the Fyers sandbox at {self._config.fyers_sandbox_url} (FYERS_SANDBOX_URL)"

    def _body(self, reply: Any) -> dict[str, Any]:
        """The reply as a dict. The SDK answers its own shared error dict when the HTTP reply
        was not JSON or never came: that becomes an error body saying so."""
        if reply is self._fyers.service.error_resp:
            code = reply.get("code")
            if code == -99:
                return {"s": "error", "code": -99, "message": f"no response from {self._where()} "
                        f"(connection failed or no answer within "
                        f"{self._config.broker_timeout_s:g} s)"}
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
            raise DailyLimitBlocked(blocked_message(turn.blocked_until), pause)

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
        return parsed("holdings", rows, holding_from)

    def positions(self) -> list[Position]:
        """Today's net positions: today's buys and today's sales, holdings sold included."""
        rows = self._read("positions", self._fyers.positions).get("netPositions") or []
        return parsed("positions", rows, position_from)

    def orders(self, *, tag: str | None = None, order_id: str | None = None) -> list[Order]:
        """The day's orderbook, read whole and matched here (Fyers' own filters are not relied
        on): optionally only the orders with this tag (either form Fyers shows) or id."""
        body = self._read("orderbook", self._fyers.orderbook)
        found = parsed("orderbook", body.get("orderBook") or [], order_from)
        return [order for order in found
                if (not tag or order.tag == tag) and (not order_id or order.id == order_id)]

    def tradebook(self) -> list[Fill]:
        """Today's fills, including the owner's own trades (untagged)."""
        rows = self._read("tradebook", self._fyers.tradebook).get("tradeBook") or []
        return parsed("tradebook", rows, fill_from)

    # --- orders -------------------------------------------------------------------------
    def place_market_order(self, symbol: str, qty: int, side: int, tag: str, *,
                           after_market: bool = False) -> PlaceResult:
        """Place a CNC market order once (`after_market`: as an AMO, `offlineOrder: true`, which
        waits for the next open). Never retried: when the answer is lost the tag is looked up;
        acknowledged=False means the outcome is unknown yet (look the tag up).
        IPNotAllowed when Fyers refuses this machine's IP; RateLimited after a 429."""
        order = {"symbol": symbol, "qty": int(qty), "type": 2, "side": int(side),
                 "productType": "CNC", "limitPrice": 0, "stopPrice": 0, "validity": "DAY",
                 "disclosedQty": 0, "offlineOrder": after_market, "orderTag": tag}
        body = self._send("place_order", lambda: self._fyers.place_order(order))
        if body.get("code") == NO_ACK_CODE:
            logger.warning("Fyers place_order %s: no acknowledgement yet for tag %s", symbol, tag)
            return PlaceResult(order_id=str(body.get("id") or "") or None, acknowledged=False)
        if body.get("s") == "ok" and body.get("id"):
            return PlaceResult(order_id=str(body["id"]), acknowledged=True)
        error = error_for("place_order", body)
        if isinstance(error, IPNotAllowed):
            raise error
        if error is not None and body.get("id"):  # Fyers' own words: the owner reads them
            raise OrderRejected(str(body.get("message") or error))
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
            for candle in parsed("history", body.get("candles") or [], candle_from):
                candles[candle.date] = candle
        return [candles[day] for day in sorted(candles)]

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Quotes by symbol, ≤50 symbols a call; symbols Fyers does not know are left out.
        Each carries Fyers' clock when it was served (market_hours.py reads the hours by it)."""
        quotes: dict[str, Quote] = {}
        unique = list(dict.fromkeys(symbols))
        for i in range(0, len(unique), QUOTES_PER_CALL):
            query = {"symbols": ",".join(unique[i:i + QUOTES_PER_CALL])}
            body = self._read("quotes", lambda q=query: self._fyers.quotes(q))
            served_at = self._transport.served_at or 0.0
            for quote in parsed("quotes", body.get("d") or [],
                                partial(quote_from, served_at=served_at)):
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
