"""Order placement, cancellation, the orderbook and the tradebook (Fyers v3 paths).

Market orders are MPP orders, as at Fyers since April 2026: a limit at a protection band
around the LTP. Whether one fills at once, partly, or waits while the price is beyond the
band is decided from the seed and the order id, so a sandbox replays the same day the same
way; a waiting remainder fills later as the clock moves, or expires at the close. Faults
override that outcome; `demo` fills every order at once. Orders (not reads) are accepted
only from the app's static IPs when `allowed_ips` is set. Sells need holdings, buys cash.
Outside NSE hours an order with `offlineOrder: false` is rejected (Fyers: false means "when
market is open"), and one with `offlineOrder: true` is an after-market order that waits for the
next open; `demo` fills at any hour and `market_hours=False` turns the hours off.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, time, timedelta
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from fyers_sandbox.book import partial_qty
from fyers_sandbox.core import Sandbox, fail, ok, sandbox
from fyers_sandbox.market import IST, MARKET_CLOSE, MARKET_OPEN, is_market_open, trading_days

bp = Blueprint("orders", __name__, url_prefix="/api/v3")

TAG_PATTERN = re.compile(r"[A-Za-z0-9]{1,30}")
REJECTED_CODE = -99  # Fyers' code for an order its RMS refused; the reply carries the id
ORDER_NOT_FOUND_CODE = -51
IP_NOT_ALLOWED_CODE = -392  # chosen: Fyers documents no code for it (see README)
MPP_BAND = 0.01  # chosen: Fyers' table covers F&O and commodities, not cash equity
MPP_FILLED_AT_ONCE = 0.6  # shares of market orders: fill at once / fill partly / wait
MPP_FILLED_PARTLY = 0.2
MPP_WAIT_S = (300, 3600)  # a waiting remainder fills this long after placement, if before close
HIDDEN_TRADE_FIELDS = ("date", "realized")
# chosen: Fyers documents neither code nor words for an order outside market hours (see README)
MARKET_CLOSED = ("RMS: market is closed: orders with offlineOrder false are accepted from "
                 "09:15 to 15:30 IST on trading days; place an AMO (offlineOrder true) instead")
CLIENT_ID = "XS0001"


def validation_error(body: dict[str, Any], box: Sandbox) -> ResponseReturnValue | None:
    """The -50 / -300 reply for a malformed order body, else None."""
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not box.market.knows(symbol):
        return fail(-300, "Please provide a valid symbol")
    qty = body.get("qty")
    if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
        return fail(-50, "Invalid quantity: it must be a whole number above 0")
    checks = [(body.get("type") == 2, "Only market orders (type 2) are simulated"),
              (body.get("side") in (1, -1), "Invalid side: use 1 to buy or -1 to sell"),
              (body.get("productType") == "CNC", "Only productType CNC is simulated"),
              (body.get("validity") == "DAY", "Invalid validity: use DAY"),
              (TAG_PATTERN.fullmatch(str(body.get("orderTag", "x"))) is not None,
               "Invalid orderTag: 1 to 30 letters or digits")]
    checks.append((isinstance(body.get("offlineOrder", False), bool),
                   "Invalid offlineOrder: use true (AMO) or false"))
    return next((fail(-50, message) for passed, message in checks if not passed), None)


@bp.before_request
def static_ip_only() -> ResponseReturnValue | None:
    """Orders (place, modify, cancel) only from the app's static IPs; reads stay open."""
    allowed = sandbox().options.allowed_ips
    if request.method == "GET" or not allowed or request.remote_addr in allowed:
        return None
    return fail(IP_NOT_ALLOWED_CODE, f"Orders are accepted only from the static IP registered "
                f"for this app; this request came from {request.remote_addr}", 403)


def refusal(box: Sandbox, body: dict[str, Any]) -> str | None:
    """Why the exchange or RMS refuses the order in `body` now, or None."""
    now = box.state.now()
    if outside_hours(box, now) and not body.get("offlineOrder"):
        return MARKET_CLOSED
    if box.state.take_fault("reject_next_orders"):
        return "RMS: order rejected by the sandbox (injected fault)"
    if body["side"] == -1 and box.state.book.sellable(body["symbol"]) < body["qty"]:
        return "RMS: insufficient holdings to sell"
    if body["side"] == 1 and box.state.book.cash < body["qty"] * box.market.ltp(body["symbol"], now):
        return "RMS: insufficient funds"
    return None


def outside_hours(box: Sandbox, now: datetime) -> bool:
    """True when market hours apply (not demo, not turned off) and NSE is closed at `now`."""
    return box.options.market_hours and not box.options.demo and not is_market_open(now)


def next_open(moment: datetime) -> datetime:
    """The next session's open after `moment` (today's, before 09:15 on a trading day)."""
    return _next_session_at(moment, MARKET_OPEN)


def _fraction(box: Sandbox, order: dict, purpose: str) -> float:
    """A number in [0, 1) fixed by the seed, the order id and `purpose`."""
    digest = hashlib.sha256(f"{box.options.seed}:{order['id']}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def next_close(moment: datetime) -> datetime:
    """The end of the session a DAY order placed at `moment` belongs to."""
    return _next_session_at(moment, MARKET_CLOSE)


def _next_session_at(moment: datetime, at: time) -> datetime:
    """`at` (IST) on the first trading day whose `at` is still to come after `moment`."""
    local = moment.astimezone(IST)
    day = local.date()
    if day not in trading_days() or local.time() >= at:
        day = next(d for d in trading_days() if d > day)
    return datetime.combine(day, at, IST)


def execute(box: Sandbox, order: dict) -> None:
    """Fill `order` as faults say, else at once in demo mode, else as an MPP order."""
    state = box.state
    now = state.now()
    price = box.market.ltp(order["symbol"], now)
    band = 1 + MPP_BAND * order["side"]
    order["limitPrice"] = round(price * band, 2)
    if outside_hours(box, now):  # an AMO (offlineOrder true): it waits for the next open
        order.update(limitPrice=0.0, message="AMO: waits for the next open",
                     _fills_at=next_open(now).timestamp(), _expires_at=next_close(now).timestamp())
    elif state.take_fault("pending_next_orders"):  # waits for a cancel, a fill or the close
        order.update(message="Order pending at exchange", _expires_at=next_close(now).timestamp())
    elif state.take_fault("partial_fill_next"):
        ratio = float(state.faults["partial_fill_ratio"])
        state.book.fill(order, partial_qty(order["qty"], ratio), price, now)
        order.update(message="Partially filled", _expires_at=next_close(now).timestamp())
    elif box.options.demo or _fraction(box, order, "fate") < MPP_FILLED_AT_ONCE:
        state.book.fill(order, order["qty"], price, now)
    else:
        _wait_beyond_band(box, order, price, now)


def _wait_beyond_band(box: Sandbox, order: dict, price: float, now: datetime) -> None:
    """An MPP order the price has left behind: part of it (or none) fills now, the rest
    when the price comes back within the band, unless the close comes first."""
    if _fraction(box, order, "fate") < MPP_FILLED_AT_ONCE + MPP_FILLED_PARTLY:
        share = 0.25 + 0.5 * _fraction(box, order, "share")
        box.state.book.fill(order, partial_qty(order["qty"], share), price, now)
    low, high = MPP_WAIT_S
    wait_s = low + (high - low) * _fraction(box, order, "wait")
    order.update(message=f"MPP: pending at limit {order['limitPrice']:.2f}, beyond the band",
                 _fills_at=(now + timedelta(seconds=wait_s)).timestamp(),
                 _expires_at=next_close(now).timestamp())


def catch_up(box: Sandbox) -> None:
    """Fill or expire waiting MPP orders whose moment has come on the sandbox clock."""
    with box.state.lock:
        now = box.state.now()
        for order in box.state.book.pending():
            # a fault's pending order has no fill time: a cancel, /admin/fill-pending or the close
            fills_at = order.get("_fills_at") or float("inf")
            expires_at = order.get("_expires_at") or float("inf")
            if min(fills_at, expires_at) > now.timestamp():
                continue
            if fills_at < expires_at:
                moment = datetime.fromtimestamp(fills_at, IST)
                price = box.market.ltp(order["symbol"], moment)
                limit = order["limitPrice"]
                if limit:  # an MPP order fills within its band; an AMO at the open's price
                    price = min(price, limit) if order["side"] == 1 else max(price, limit)
                box.state.book.fill(order, order["remainingQuantity"], price, moment)
            else:
                box.state.book.expire(order)


@bp.post("/orders/sync")
def place_order() -> ResponseReturnValue:
    """Place a CNC market order: 1101 with the id, -99 with the id when refused."""
    box = sandbox()
    body = request.get_json(silent=True) or {}
    invalid = validation_error(body, box)
    if invalid is not None:
        return invalid
    state = box.state
    with state.lock:
        reason = refusal(box, body)
        order = state.book.new_order(body["symbol"], body["qty"], body["side"],
                                     body.get("orderTag", ""), state.now())
        if reason:
            state.book.reject(order, reason)
            return fail(REJECTED_CODE, reason, id=order["id"])
        execute(box, order)
        if state.take_fault("lost_ack_next"):
            return ok(code=201, message="Order sent to exchange; no acknowledgement yet", id="")
    return ok(code=1101, id=order["id"],
              message=f"Order Submitted Successfully. Your Order Ref. No.{order['id']}")


@bp.delete("/orders/sync")
def cancel_order() -> ResponseReturnValue:
    """Cancel what remains of a pending order."""
    box = sandbox()
    order_id = str((request.get_json(silent=True) or {}).get("id", ""))
    with box.state.lock:
        order = next((order for order in box.state.book.orders_shown(box.state.now())
                      if order["id"] == order_id), None)
        if order is None:
            return fail(ORDER_NOT_FOUND_CODE, "Order not found")
        if order not in box.state.book.pending():
            return fail(-50, "Order is not pending; it cannot be cancelled", id=order_id)
        if box.state.take_fault("slow_cancel_next"):
            box.state.book.cancel_slowly(order, int(box.state.faults["slow_cancel_reads"]))
        else:
            box.state.book.cancel(order)
    return ok(code=1103, message="Successfully cancelled order", id=order_id)


def fill_pending(box: Sandbox) -> list[str]:
    """Fill what remains of every pending order at the LTP; their ids."""
    with box.state.lock:
        now = box.state.now()
        pending = box.state.book.pending()
        for order in pending:
            price = box.market.ltp(order["symbol"], now)
            box.state.book.fill(order, order["remainingQuantity"], price, now)
    return [order["id"] for order in pending]


def shown_tag(tag: str, untagged: str, bare: bool) -> str:
    """A tag as a book shows it: `1:<tag>`, or `untagged` (`2:Untagged` in the orderbook,
    `1:Untagged` in the tradebook); without the prefix under the `bare_tags` fault."""
    if bare:
        return tag
    return f"1:{tag}" if tag else untagged


def _order_row(order: dict, bare: bool) -> dict:
    row = {key: value for key, value in order.items() if not key.startswith("_")}
    row["orderTag"] = shown_tag(order["orderTag"], "2:Untagged", bare)
    return row


@bp.get("/orders")
def orderbook() -> ResponseReturnValue:
    """The day's orders (Book.orders_shown), or those with the given `id`s (comma-separated; -51 when none is known),
    or with `order_tag` exactly as the orderbook shows it (`1:<tag>`)."""
    box = sandbox()
    ids = set(filter(None, request.args.get("id", "").split(",")))
    tag = request.args.get("order_tag", "")
    with box.state.lock:
        bare = bool(box.state.faults["bare_tags"])
        shown = [order for order in box.state.book.orders_shown(box.state.now())
                 if not ids or order["id"] in ids]
        for order in shown:
            box.state.book.read_order(order)
        rows = [_order_row(order, bare) for order in shown]
    rows = [row for row in rows if not tag or row["orderTag"] == tag]
    if ids and not rows:
        return fail(ORDER_NOT_FOUND_CODE, "Order not found")
    return ok(orderBook=rows)


def _fy_token(symbol: str) -> str:
    """A stable Fyers-like token for a symbol."""
    return "10100000" + str(int(hashlib.sha256(symbol.encode()).hexdigest()[:6], 16) % 100000)


@bp.get("/tradebook")
def tradebook() -> ResponseReturnValue:
    """Today's trades, the bot's and the owner's own, with the documented fields."""
    box = sandbox()
    with box.state.lock:
        bare = bool(box.state.faults["bare_tags"])
        trades = box.state.book.trades_on(box.state.now().date())
        rows = [{**{k: v for k, v in trade.items() if k not in HIDDEN_TRADE_FIELDS},
                 "orderTag": shown_tag(trade["orderTag"], "1:Untagged", bare),
                 "exchange": 10, "segment": 10, "orderType": 2, "clientId": CLIENT_ID,
                 "exchangeOrderNo": f"1100000{trade['orderNumber'][-8:]}",
                 "fyToken": _fy_token(trade["symbol"]), "row": number}
                for number, trade in enumerate(trades, start=1)]
    return ok(tradeBook=rows)
