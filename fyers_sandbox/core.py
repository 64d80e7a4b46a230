"""The sandbox object every blueprint works on, its options, and Fyers-shaped JSON replies."""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from config import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY
from fyers_sandbox.market import IST, Market
from fyers_sandbox.state import SandboxState, StateFile

logger = logging.getLogger(__name__)

FYERS_RATE_LIMITS = ((10, 1), (200, 60))  # (requests, window seconds): 10/s and 200/min
FYERS_DAILY_LIMIT = 100_000  # requests per app and IST day
MAX_BREACHES = 3  # more per-minute refusals than this in one IST day block the app for the day


@dataclass(frozen=True)
class SandboxOptions:
    """How a sandbox instance behaves; the CLI flags and `start_sandbox(**options)` map here."""

    seed: int = 1
    state_file: str | None = None
    market_hours: bool = True  # Fyers: offlineOrder false only while NSE is open
    rate_limits: tuple[tuple[int, int], ...] = FYERS_RATE_LIMITS
    pin: str | None = None  # when set, refresh needs exactly this PIN; else any 4 digits
    client_id: str = SANDBOX_CLIENT_ID
    secret_key: str = SANDBOX_SECRET_KEY
    start: str | None = None  # initial clock, ISO (naive means IST); default real time
    allow_refresh: bool = False  # Fyers before April 2026: validate-refresh-token works
    allowed_ips: tuple[str, ...] = ()  # the app's static IPs for orders; empty: any client
    demo: bool = False  # market orders fill at once at any hour and refresh works (`make run`)



@dataclass
class AppUsage:
    """One app's requests and per-minute breaches on one IST day of the sandbox clock."""

    day: date
    calls: int = 0
    breaches: int = 0


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: its message and when to try again."""

    message: str
    retry_after_s: int


class RateLimiter:
    """Fyers' limits per app (client id), not per token: moving windows on real time, a daily
    cap, and a block for the rest of the IST day after more than MAX_BREACHES refusals by a
    window longer than a second (the per-minute limit). A refused request is not counted."""

    def __init__(self, limits: tuple[tuple[int, int], ...]) -> None:
        self.items = [RateLimitItemPerSecond(count, seconds) for count, seconds in limits]
        self.strategy = MovingWindowRateLimiter(MemoryStorage())
        self.lock = threading.Lock()
        self.usage: dict[str, AppUsage] = {}

    def check(self, app: str, now: datetime) -> Refusal | None:
        """Count one request of `app` at sandbox time `now`, or say why it is refused."""
        with self.lock:
            usage = self.usage.get(app)
            if usage is None or usage.day != now.date():
                usage = self.usage[app] = AppUsage(now.date())
            if usage.breaches > MAX_BREACHES or usage.calls >= FYERS_DAILY_LIMIT:
                return Refusal(BLOCKED_MESSAGE, _seconds_to_midnight(now))
            full = [item for item in self.items if not self.strategy.test(item, app)]
            if full:
                if any(item.get_expiry() > 1 for item in full):
                    usage.breaches += 1
                reset = max(self.strategy.get_window_stats(item, app).reset_time for item in full)
                return Refusal("request limit reached", max(1, math.ceil(reset - time.time())))
            for item in self.items:
                self.strategy.hit(item, app)
            usage.calls += 1
            return None

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per app: today's requests, per-minute breaches and whether it is blocked."""
        with self.lock:
            return {app: {"day": usage.day.isoformat(), "calls": usage.calls,
                          "breaches": usage.breaches,
                          "blocked": usage.breaches > MAX_BREACHES
                          or usage.calls >= FYERS_DAILY_LIMIT}
                    for app, usage in self.usage.items()}


BLOCKED_MESSAGE = ("API access blocked for the rest of the day: the per-minute limit was "
                   f"exceeded more than {MAX_BREACHES} times today")


def _seconds_to_midnight(now: datetime) -> int:
    """Seconds from `now` to the next IST midnight."""
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), IST)
    return max(1, math.ceil((midnight - now).total_seconds()))


class Sandbox:
    """One sandbox: options, state, market, optional state file and the rate limiter."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.state = SandboxState()
        self.market = Market(options.seed)
        self.limiter = RateLimiter(options.rate_limits)
        self.state_file = StateFile(options.state_file) if options.state_file else None
        saved = self.state_file.read() if self.state_file else {}
        if saved:
            self.state.load(saved)
            logger.info("sandbox state loaded from %s", options.state_file)
        if options.start:  # given, it moves a saved clock too: `make run SANDBOX_START=…`
            self.set_clock(options.start)

    def set_clock(self, iso: str) -> None:
        """Move the clock to `iso` (naive means IST); it keeps running from there."""
        moment = datetime.fromisoformat(iso)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=IST)
        with self.state.lock:
            self.state.clock_offset_s += moment.timestamp() - self.state.now_epoch()

    @property
    def refresh_allowed(self) -> bool:
        """Whether validate-refresh-token works: as /admin/tokens last set it, else the
        options (`allow_refresh` or `demo`)."""
        if self.state.allow_refresh is not None:
            return self.state.allow_refresh
        return self.options.allow_refresh or self.options.demo

    def save(self) -> None:
        """Write the persistent state when a state file is configured."""
        if self.state_file:
            with self.state.lock:
                data = self.state.to_dict()
            self.state_file.write(data)


def sandbox() -> Sandbox:
    """The sandbox of the current Flask app."""
    return current_app.extensions["fyers_sandbox"]


def fail(code: int, message: str, status: int = 400, **extra: Any) -> ResponseReturnValue:
    """A Fyers error body `{s: "error", code, message}` with an HTTP status."""
    return jsonify(s="error", code=code, message=message, **extra), status


def ok(**fields: Any) -> ResponseReturnValue:
    """A Fyers success body `{s: "ok", code: 200, message: "", ...}`."""
    body: dict[str, Any] = {"s": "ok", "code": 200, "message": ""}
    body.update(fields)
    return jsonify(body)
