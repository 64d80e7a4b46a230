"""Sandbox-only admin endpoints (JSON, exempt from rate limits, loopback clients only): clock,
faults, tokens, reset, manual sell, fill pending orders and request stats. Every body is
validated, so a bad value is a 400 that changes nothing. See fyers_sandbox/README.md."""
from __future__ import annotations

import ipaddress
import math
import time
from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from fyers_sandbox.auth import issue_tokens
from fyers_sandbox.core import RateLimiter, Sandbox, sandbox
from fyers_sandbox.market import (
    HISTORY_END,
    HISTORY_START,
    IST,
    is_market_open,
    trading_days,
)
from fyers_sandbox.orders import fill_pending
from fyers_sandbox.state import FAULT_COUNTERS, default_faults

bp = Blueprint("admin", __name__, url_prefix="/admin")

MAX_LATENCY_MS = 60_000
MAX_TTL_S = 366 * 86400


class BadInput(ValueError):
    """An admin body the sandbox refuses, with the reason."""


@bp.before_request
def loopback_only() -> ResponseReturnValue | None:
    """Admin calls change the account and the clock: only from this machine."""
    try:
        local = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        local = False
    return None if local else (jsonify(error="admin endpoints answer loopback clients only"), 403)


@bp.errorhandler(BadInput)
def bad_input(exc: BadInput) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 400


def _payload() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadInput("expected a JSON object")
    return body


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float:
    """body[key] as a finite number in [low, high], else BadInput naming the key."""
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadInput(f"{key} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise BadInput(f"{key} must be a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise BadInput(f"{key} must be between {low:g} and {high:g}")
    return number


def _clock(box: Sandbox) -> dict[str, Any]:
    now = box.state.now()
    return {"now": now.isoformat(), "epoch": now.timestamp(),
            "trading_day": now.date() in trading_days(), "market_open": is_market_open(now)}


def _shift(body: dict[str, Any]) -> float:
    """Seconds the clock moves by: advance_days and advance_seconds, each bounded."""
    span_s = (HISTORY_END - HISTORY_START).days * 86400.0
    days = _number(body, "advance_days", -span_s / 86400, span_s / 86400) \
        if "advance_days" in body else 0.0
    seconds = _number(body, "advance_seconds", -span_s, span_s) \
        if "advance_seconds" in body else 0.0
    return days * 86400 + seconds


def _target(box: Sandbox, body: dict[str, Any]) -> datetime:
    """Where the clock would be after `body`; BadInput outside the simulated years."""
    now = box.state.now()
    if "now" in body:
        try:
            now = datetime.fromisoformat(str(body["now"]))
        except ValueError:
            raise BadInput("now must be an ISO date and time, e.g. 2026-11-25T11:00") from None
        now = now if now.tzinfo else now.replace(tzinfo=IST)
    moment = now.timestamp() + _shift(body)
    first = datetime.combine(HISTORY_START, datetime.min.time(), IST).timestamp()
    last = datetime.combine(HISTORY_END, datetime.min.time(), IST).timestamp()
    if not first <= moment <= last:
        raise BadInput(f"the clock must stay between {HISTORY_START} and {HISTORY_END}")
    return datetime.fromtimestamp(moment, IST)


@bp.route("/clock", methods=["GET", "POST"])
def clock() -> ResponseReturnValue:
    """Read the clock, or set it: {now: ISO} and/or {advance_days: n} / {advance_seconds: s}."""
    box = sandbox()
    if request.method == "POST":
        box.set_clock(_target(box, _payload()).isoformat())
    return jsonify(_clock(box))


def _checked_faults(body: dict[str, Any]) -> dict[str, Any]:
    """The faults in `body`, each of its kind and range; BadInput otherwise."""
    unknown = set(body) - set(default_faults()) - {"expire_tokens"}
    if unknown:
        raise BadInput(f"unknown fault(s): {', '.join(sorted(unknown))}")
    faults = {}
    for key, value in body.items():
        if key in FAULT_COUNTERS:
            faults[key] = int(_number(body, key, 0, 1_000_000))
        elif key == "latency_ms":
            faults[key] = _number(body, key, 0, MAX_LATENCY_MS)
        elif key == "partial_fill_ratio":
            faults[key] = _number(body, key, 0.01, 0.99)
        elif key == "slow_cancel_reads":
            faults[key] = int(_number(body, key, 1, 1_000_000))
        elif not isinstance(value, bool):
            raise BadInput(f"{key} must be true or false")
        else:
            faults[key] = value
    return faults


@bp.route("/faults", methods=["GET", "POST"])
def faults() -> ResponseReturnValue:
    """Arm faults; the body's keys are those of GET /admin/faults, plus expire_tokens: true."""
    box = sandbox()
    armed = _checked_faults(_payload())
    with box.state.lock:
        if armed.pop("expire_tokens", False):
            box.state.tokens_valid_after = time.time()
        box.state.faults.update(armed)
        return jsonify(box.state.faults)


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    """A fresh account, the real clock, no faults, zeroed stats and rate-limit counters."""
    box = sandbox()
    box.state.reset()
    box.limiter = RateLimiter(box.options.rate_limits)
    return jsonify(ok=True)


@bp.post("/tokens")
def tokens() -> ResponseReturnValue:
    """Token rules from now on: {access_ttl_s (null: until the next 06:00 IST), refresh_ttl_s,
    allow_refresh (true/false; null: as the options say)}."""
    box = sandbox()
    state = box.state
    body = _payload()
    access = state.access_ttl_s
    if "access_ttl_s" in body:
        access = None if body["access_ttl_s"] is None else int(_number(body, "access_ttl_s", 0,
                                                                        MAX_TTL_S))
    refresh = int(_number(body, "refresh_ttl_s", 0, MAX_TTL_S)) if "refresh_ttl_s" in body \
        else state.refresh_ttl_s
    allow = body.get("allow_refresh", state.allow_refresh)
    if allow is not None and not isinstance(allow, bool):
        raise BadInput("allow_refresh must be true, false or null")
    with state.lock:
        state.access_ttl_s, state.refresh_ttl_s, state.allow_refresh = access, refresh, allow
    return jsonify(access_ttl_s=access, refresh_ttl_s=refresh, allow_refresh=box.refresh_allowed)


@bp.post("/login")
def login() -> ResponseReturnValue:
    """Tokens without the browser flow (tests, demos): {access_token, refresh_token}."""
    return jsonify(issue_tokens(sandbox()))


@bp.post("/manual-sell")
def manual_sell() -> ResponseReturnValue:
    """The owner sells a holding by hand in the Fyers app: {symbol, qty (default: all)}."""
    box = sandbox()
    body = _payload()
    symbol = str(body.get("symbol", ""))
    with box.state.lock:
        held = box.state.book.sellable(symbol)
        if held <= 0:
            raise BadInput(f"{symbol or 'symbol'}: nothing held to sell")
        qty = int(_number(body, "qty", 1, held)) if "qty" in body else held
        now = box.state.now()
        order = box.state.book.manual_sell(symbol, qty, box.market.ltp(symbol, now), now)
    return jsonify(order)


@bp.post("/fill-pending")
def fill_all_pending() -> ResponseReturnValue:
    """Fill every pending order's remainder at the LTP."""
    return jsonify(filled=fill_pending(sandbox()))


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    """Requests by path, replies by HTTP status since start or reset (admin included), and
    per app today's requests, per-minute breaches and whether it is blocked for the day."""
    box = sandbox()
    counts = dict(box.state.stats)
    statuses = {str(status): n for status, n in box.state.statuses.items()}
    return jsonify(requests=counts, statuses=statuses, total=sum(counts.values()),
                   apps=box.limiter.stats())
