"""Placing one intended order safely and recording its fill: where a live run moves money.

Every order carries a deterministic orderTag; before placing, an order already at the broker
with that tag is adopted (a crashed earlier run), never placed twice. A 429 on the order
waits for Fyers' rate-limit window and tries once more, after looking the tag up again. The
run polls until the order is final or ORDER_FILL_TIMEOUT_S passes, then cancels the rest; only
the filled quantity becomes a trade, at the traded price, keyed by the broker's order id so it
is recorded once.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker import (
    SIDE_BUY,
    SIDE_SELL,
    STATUS_REJECTED,
    BrokerError,
    DailyLimitBlocked,
    FyersBroker,
    Order,
    OrderRejected,
    PlaceResult,
    RateLimited,
)
from config import Config
from portfolio import inr, ticker
from run_steps import RunSteps
from store.base import Store
from strategy_rules import Intent

logger = logging.getLogger(__name__)

TAG_PREFIX = "NS"
OPEN_ORDER_STATUSES = ("pending", "placed")
FILLED_ORDER_STATUSES = ("traded", "partial")
POLL_INTERVAL_S = 0.5


@dataclass
class RunResult:
    """What one run did: a one-line summary, the decisions, and what it recorded."""

    summary: str
    intents: list[Intent]
    fills: list[dict[str, Any]] = field(default_factory=list)  # bot trades recorded
    manual: list[dict[str, Any]] = field(default_factory=list)  # manual closes recorded
    refused: list[dict[str, Any]] = field(default_factory=list)  # rejected/cancelled orders
    partial: list[dict[str, Any]] = field(default_factory=list)  # orders partly filled
    notes: list[str] = field(default_factory=list)  # more for the summary, e.g. budget spent


@dataclass
class RunContext:
    """The collaborators of one live run."""

    config: Config
    store: Store
    broker: FyersBroker
    run_id: str
    dry_run: bool
    checkpoint: Callable[[], None]  # raises when the run must stop (deadline, lock lost)
    result: RunResult
    steps: RunSteps  # the run's progress, for the run page


def order_tag(run_id: str, symbol: str, side: str) -> str:
    """The alphanumeric orderTag (19 chars) of one (run, symbol, side): the same on a re-run."""
    def digest(text: str, size: int) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:size]

    return f"{TAG_PREFIX}{digest(run_id, 10)}{digest(symbol, 6)}{side[0]}"



# --- positions after a fill ------------------------------------------------------------------
def sell_trade(position: dict[str, Any] | None, qty: int,
                price: float) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(trade fields, the position after selling `qty` at `price`) with P&L vs the average."""
    now = time.time()
    avg = position["avg_price"] if position else price
    trade = {"side": "SELL", "qty": qty, "price": price, "ts": now,
             "pnl": round((price - avg) * qty, 2)}
    left = (position["qty"] if position else 0) - qty
    return trade, ({**position, "qty": left, "updated_at": now} if left > 0 else None)


def buy_trade(position: dict[str, Any] | None, symbol: str, qty: int,
               price: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trade fields, the position after buying `qty` at `price`): weighted average."""
    now = time.time()
    held, avg = (position["qty"], position["avg_price"]) if position else (0, 0.0)
    total = held + qty
    after = {"symbol": symbol, "qty": total,
             "avg_price": round((held * avg + qty * price) / total, 4),
             "last_buy_price": price, "opened_at": position["opened_at"] if position else now,
             "updated_at": now}
    return {"side": "BUY", "qty": qty, "price": price, "ts": now, "pnl": None}, after


# --- orders ----------------------------------------------------------------------------------
def execute_intent(run: RunContext, intent: Intent) -> None:
    """Place one intent safely: adopt an order already carrying its tag, never place twice."""
    tag = order_tag(run.run_id, intent.symbol, intent.side)
    record = run.store.get_order(tag)
    if record and record["status"] not in OPEN_ORDER_STATUSES:
        logger.info("order %s was settled earlier in this run: skipped", tag)
        return
    existing = run.broker.orders(tag=tag)  # the whole day's book, matched here by tag
    record = record or _new_order(run, intent, tag)
    if existing:
        logger.warning("order %s is already at the broker (%s): adopted, not placed again",
                       tag, existing[0].id)
        _finish(run, record, existing[0])
        return
    run.store.upsert_order(record)
    try:
        placed = _place(run, intent, tag)
    except OrderRejected as exc:
        _close_refused(run, record, "rejected", str(exc))
        return
    order = _find_order(run, tag, placed.order_id if placed.acknowledged else None)
    if order is None:
        logger.warning("order %s was not acknowledged and is not in the orderbook yet: the "
                       "next run settles it", tag)
        run.store.upsert_order({**record, "status": "placed", "updated_at": time.time()})
        return
    _finish(run, record, order)


def _place(run: RunContext, intent: Intent, tag: str) -> PlaceResult:
    """Place the order; after a 429, wait for Fyers' window to pass and try once more, looking
    the tag up first so that an order Fyers took after all is adopted, never placed twice."""
    try:
        return _place_once(run, intent, tag)
    except RateLimited as exc:
        if isinstance(exc, DailyLimitBlocked):  # no use waiting: nothing passes until tomorrow
            raise
        wait_s = window_wait_s(run.config.rate_limit_window_s, exc.retry_after, time.time())
        logger.warning("%s: waiting %.1f s for the rate-limit window, then placing %s again",
                       exc, wait_s, tag)
        time.sleep(wait_s)
    found = run.broker.orders(tag=tag)
    if found:
        logger.warning("order %s reached Fyers despite the 429: adopted", tag)
        return PlaceResult(order_id=found[0].id, acknowledged=True)
    # A second 429 fails the run: every breach counts toward Fyers' block for the day.
    return _place_once(run, intent, tag)


def _place_once(run: RunContext, intent: Intent, tag: str) -> PlaceResult:
    """One placement, unless the run must stop (its deadline passed) before it."""
    run.checkpoint()
    side = SIDE_BUY if intent.side == "BUY" else SIDE_SELL
    return run.broker.place_market_order(intent.symbol, intent.qty, side, tag)


def window_wait_s(window_s: float, retry_after: float | None, now: float) -> float:
    """Seconds to wait after a 429: Fyers' Retry-After when it gave one, else until its current
    rate-limit window (the minute) ends."""
    return retry_after if retry_after else window_s - now % window_s


def _new_order(run: RunContext, intent: Intent, tag: str) -> dict[str, Any]:
    now = time.time()
    return {"tag": tag, "run_id": run.run_id, "symbol": intent.symbol, "side": intent.side,
            "qty": intent.qty, "reason": intent.reason, "broker_order_id": None,
            "status": "pending", "filled_qty": 0, "traded_price": None, "message": intent.detail,
            "created_at": now, "updated_at": now}


def _find_order(run: RunContext, tag: str, order_id: str | None) -> Order | None:
    """The broker's order by id, or by tag while an unacknowledged one shows up."""
    deadline = time.monotonic() + run.config.order_fill_timeout_s
    while True:
        found = run.broker.orders(order_id=order_id) if order_id else run.broker.orders(tag=tag)
        if found or time.monotonic() >= deadline:
            return found[0] if found else None
        time.sleep(POLL_INTERVAL_S)


def _await_final(run: RunContext, order: Order) -> Order:
    """Poll until traded / cancelled / rejected, or cancel at ORDER_FILL_TIMEOUT_S."""
    deadline = time.monotonic() + run.config.order_fill_timeout_s
    while not order.is_final and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        run.checkpoint()
        order = _find_order(run, order.tag, order.id) or order
    if order.is_final:
        return order
    logger.warning("order %s not complete after %.0f s (%d of %d filled): cancelling the rest",
                   order.id, run.config.order_fill_timeout_s, order.filled_qty, order.qty)
    try:
        run.broker.cancel_order(order.id)
    except BrokerError as exc:
        logger.warning("cancelling order %s failed: %s", order.id, exc)
    return _find_order(run, order.tag, order.id) or order


def _finish(run: RunContext, record: dict[str, Any], order: Order) -> None:
    """Wait for the order's outcome, record its filled quantity once, and close the record."""
    record = {**record, "broker_order_id": order.id, "status": "placed",
              "updated_at": time.time()}
    run.store.upsert_order(record)
    run.steps.begin("fills", f"waiting for {record['side']} {record['qty']} "
                             f"{ticker(record['symbol'])} to fill")
    order = _await_final(run, order)
    if not order.is_final:
        logger.warning("order %s is still open at the broker: the next run settles it", order.id)
        return
    if order.filled_qty > 0:
        _record_fill(run, record, order)
    status = _order_status(order)
    record.update(status=status, filled_qty=order.filled_qty, updated_at=time.time(),
                  traded_price=order.traded_price if order.filled_qty else None,
                  message=order.message or record["message"])
    if status in ("rejected", "cancelled"):
        _close_refused(run, record, status, order.message)
        return
    run.store.upsert_order(record)
    if status == "partial":
        run.result.partial.append(record)


def _order_status(order: Order) -> str:
    """The store's status for a final broker order."""
    if order.status == STATUS_REJECTED:
        return "rejected"
    if order.filled_qty >= order.qty:
        return "traded"
    return "partial" if order.filled_qty > 0 else "cancelled"


def _close_refused(run: RunContext, record: dict[str, Any], status: str, message: str) -> None:
    """Record a rejected or cancelled order with the broker's message."""
    record = {**record, "status": status, "message": message or status, "updated_at": time.time()}
    run.store.upsert_order(record)
    run.result.refused.append(record)
    logger.warning("%s order for %d %s %s: %s", record["side"], record["qty"], record["symbol"],
                   status, record["message"])


def _record_fill(run: RunContext, record: dict[str, Any], order: Order) -> None:
    """Record the filled quantity at the traded price; the broker order id keys it once."""
    symbol = record["symbol"]
    position = next((p for p in run.store.get_positions() if p["symbol"] == symbol), None)
    if record["side"] == "SELL":
        trade, after = sell_trade(position, order.filled_qty, order.traded_price)
    else:
        trade, after = buy_trade(position, symbol, order.filled_qty, order.traded_price)
    trade.update(trade_id=order.id, run_id=record["run_id"], order_tag=record["tag"],
                 symbol=symbol, source="bot")
    if run.store.record_trade(trade, after):
        run.result.fills.append(trade)
        logger.info("filled: %s %d %s at %s", trade["side"], trade["qty"], symbol,
                    inr(trade["price"]))


def settle_open_orders(run: RunContext) -> None:
    """Finish orders an earlier run left pending or placed (it crashed or timed out)."""
    records = run.store.list_orders(statuses=OPEN_ORDER_STATUSES)
    book = run.broker.orders() if records else []  # read once, matched here by tag
    for record in records:
        found = [order for order in book if order.tag == record["tag"]]
        if found:
            logger.warning("settling order %s left open by run %s", record["tag"], record["run_id"])
            _finish(run, record, found[0])
        else:
            _close_refused(run, record, "cancelled", "never reached the broker (the run stopped)")
