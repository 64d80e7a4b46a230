"""Sandbox-only admin endpoints (JSON, exempt from rate limits): clock, faults, tokens,
reset, manual sell, fill pending orders and request stats. See fyers_sandbox/README.md."""
from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from fyers_sandbox.auth import issue_tokens
from fyers_sandbox.core import Sandbox, sandbox
from fyers_sandbox.market import is_market_open, trading_days
from fyers_sandbox.orders import fill_pending
from fyers_sandbox.state import default_faults

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _payload() -> dict[str, Any]:
    return request.get_json(silent=True) or {}


def _bad(message: str) -> ResponseReturnValue:
    return jsonify(error=message), 400


def _clock(box: Sandbox) -> dict[str, Any]:
    now = box.state.now()
    return {"now": now.isoformat(), "epoch": now.timestamp(),
            "trading_day": now.date() in trading_days(), "market_open": is_market_open(now)}


@bp.route("/clock", methods=["GET", "POST"])
def clock() -> ResponseReturnValue:
    """Read the clock, or set it: {now: ISO} | {advance_days: n} | {advance_seconds: s}."""
    box = sandbox()
    body = _payload()
    if request.method == "POST":
        try:
            if "now" in body:
                box.set_clock(str(body["now"]))
            shift = float(body.get("advance_days", 0)) * 86400 + float(body.get("advance_seconds", 0))
        except ValueError as exc:
            return _bad(str(exc))
        with box.state.lock:
            box.state.clock_offset_s += shift
    return jsonify(_clock(box))


@bp.route("/faults", methods=["GET", "POST"])
def faults() -> ResponseReturnValue:
    """Arm faults; the body's keys are those of GET /admin/faults, plus expire_tokens: true."""
    box = sandbox()
    body = _payload()
    unknown = set(body) - set(default_faults()) - {"expire_tokens"}
    if unknown:
        return _bad(f"unknown fault(s): {', '.join(sorted(unknown))}")
    with box.state.lock:
        if body.pop("expire_tokens", False):
            box.state.tokens_valid_after = time.time()
        box.state.faults.update(body)
        return jsonify(box.state.faults)


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    """A fresh account, the real clock, no faults and zeroed stats."""
    sandbox().state.reset()
    return jsonify(ok=True)


@bp.post("/tokens")
def tokens() -> ResponseReturnValue:
    """Set token lifetimes for tokens issued from now: {access_ttl_s, refresh_ttl_s}."""
    state = sandbox().state
    body = _payload()
    with state.lock:
        state.access_ttl_s = int(body.get("access_ttl_s", state.access_ttl_s))
        state.refresh_ttl_s = int(body.get("refresh_ttl_s", state.refresh_ttl_s))
        return jsonify(access_ttl_s=state.access_ttl_s, refresh_ttl_s=state.refresh_ttl_s)


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
        qty = int(body.get("qty", held))
        if qty <= 0 or qty > held:
            return _bad(f"{symbol or 'symbol'}: {held} held, cannot sell {qty}")
        now = box.state.now()
        order = box.state.book.manual_sell(symbol, qty, box.market.ltp(symbol, now), now)
    return jsonify(order)


@bp.post("/fill-pending")
def fill_all_pending() -> ResponseReturnValue:
    """Fill every pending order's remainder at the LTP."""
    return jsonify(filled=fill_pending(sandbox()))


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    """Requests by path and replies by HTTP status since start or reset (admin included)."""
    state = sandbox().state
    counts = dict(state.stats)
    statuses = {str(status): n for status, n in state.statuses.items()}
    return jsonify(requests=counts, statuses=statuses, total=sum(counts.values()))
