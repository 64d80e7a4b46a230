"""Order placement, cancellation, the orderbook and the tradebook (Fyers v3 paths).

A CNC market order fills at the LTP at once unless a fault says otherwise; sells need
holdings, buys need cash; with `--market-hours` orders outside NSE hours are rejected.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from fyers_sandbox.book import partial_qty
from fyers_sandbox.core import Sandbox, fail, ok, sandbox
from fyers_sandbox.market import is_market_open

bp = Blueprint("orders", __name__, url_prefix="/api/v3")

TAG_PATTERN = re.compile(r"[A-Za-z0-9]{1,30}")
REJECTED_CODE = -99  # Fyers' code for an order its RMS refused; the reply carries the id
HIDDEN_TRADE_FIELDS = ("date", "realized")


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
    return next((fail(-50, message) for passed, message in checks if not passed), None)


def refusal(box: Sandbox, body: dict[str, Any]) -> str | None:
    """Why the exchange or RMS refuses the order in `body` now, or None."""
    now = box.state.now()
    if box.options.market_hours and not is_market_open(now):
        return "RMS: market is closed"
    if box.state.take_fault("reject_next_orders"):
        return "RMS: order rejected by the sandbox (injected fault)"
    if body["side"] == -1 and box.state.book.sellable(body["symbol"]) < body["qty"]:
        return "RMS: insufficient holdings to sell"
    if body["side"] == 1 and box.state.book.cash < body["qty"] * box.market.ltp(body["symbol"], now):
        return "RMS: insufficient funds"
    return None


def execute(box: Sandbox, order: dict) -> None:
    """Fill `order` at the LTP (whole, partly, or not at all as faults say)."""
    state = box.state
    now = state.now()
    price = box.market.ltp(order["symbol"], now)
    if state.take_fault("pending_next_orders"):
        order["message"] = "Order pending at exchange"
    elif state.take_fault("partial_fill_next"):
        ratio = float(state.faults["partial_fill_ratio"])
        state.book.fill(order, partial_qty(order["qty"], ratio), price, now)
        order["message"] = "Partially filled"
    else:
        state.book.fill(order, order["qty"], price, now)


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
        order = box.state.book.find_order(order_id)
        if order is None:
            return fail(-50, "Invalid order id")
        if order not in box.state.book.pending():
            return fail(-50, "Order is not pending; it cannot be cancelled", id=order_id)
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


@bp.get("/orders")
def orderbook() -> ResponseReturnValue:
    """All orders, optionally filtered by `id` (comma-separated) or `order_tag`."""
    ids = set(filter(None, request.args.get("id", "").split(",")))
    tag = request.args.get("order_tag", "").removeprefix("1:")
    with sandbox().state.lock:
        orders = [dict(order) for order in sandbox().state.book.orders
                  if (not ids or order["id"] in ids)
                  and (not tag or order["orderTag"] == f"1:{tag}")]
    return ok(orderBook=orders)


@bp.get("/tradebook")
def tradebook() -> ResponseReturnValue:
    """Today's trades, the bot's and the owner's own."""
    box = sandbox()
    with box.state.lock:
        trades = box.state.book.trades_on(box.state.now().date())
        rows = [{k: v for k, v in trade.items() if k not in HIDDEN_TRADE_FIELDS}
                for trade in trades]
    return ok(tradeBook=rows)
