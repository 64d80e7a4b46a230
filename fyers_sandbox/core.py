"""The sandbox object every blueprint works on, its options, and Fyers-shaped JSON replies."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class SandboxOptions:
    """How a sandbox instance behaves; the CLI flags and `start_sandbox(**options)` map here."""

    seed: int = 1
    state_file: str | None = None
    market_hours: bool = False
    rate_limits: tuple[tuple[int, int], ...] = FYERS_RATE_LIMITS
    pin: str | None = None  # when set, refresh needs exactly this PIN; else any 4 digits
    client_id: str = SANDBOX_CLIENT_ID
    secret_key: str = SANDBOX_SECRET_KEY
    start: str | None = None  # initial clock, ISO (naive means IST); default real time


class RateLimiter:
    """Fyers' per-token limits as moving windows; a refused request is not counted."""

    def __init__(self, limits: tuple[tuple[int, int], ...]) -> None:
        self.items = [RateLimitItemPerSecond(count, seconds) for count, seconds in limits]
        self.strategy = MovingWindowRateLimiter(MemoryStorage())
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one request for `key` when every window has room; False otherwise."""
        with self.lock:
            if not all(self.strategy.test(item, key) for item in self.items):
                return False
            for item in self.items:
                self.strategy.hit(item, key)
            return True


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
        elif options.start:
            self.set_clock(options.start)

    def set_clock(self, iso: str) -> None:
        """Move the clock to `iso` (naive means IST); it keeps running from there."""
        moment = datetime.fromisoformat(iso)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=IST)
        with self.state.lock:
            self.state.clock_offset_s += moment.timestamp() - self.state.now_epoch()

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
