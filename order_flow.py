"""Placing one intended order safely and recording its fill: where a live run moves money.

Every order carries a deterministic orderTag; before placing, an order already at the broker
with that tag is adopted (a crashed earlier run), never placed twice. A 429 on the order
waits for Fyers' rate-limit window and tries once more, after looking the tag up again. The
run polls until the order is final or ORDER_FILL_TIMEOUT_S passes, then cancels the rest; only
the filled quantity becomes a trade, at the traded price, keyed by the broker's order id so it
is recorded once. Right before each order the run asks NSE's session by Fyers' clock: once
closed, nothing more is placed (unless the owner opted in to after-market orders). Only an
after-market order is left to wait at Fyers for the open; a DAY order still open when NSE
closes is awaited as any other, and Fyers expires it at the close. What became of each order
is named in order_outcomes.py.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from broker import (
    SIDE_BUY,
    SIDE_SELL,
    STATUS_EXPIRED,
    STATUS_REJECTED,
    AuthFailed,
    BrokerError,
    DailyLimitBlocked,
    FyersBroker,
    InvalidRequest,
    IPNotAllowed,
    Order,
    OrderRejected,
    PlaceResult,
    RateLimited,
    TokenExpired,
)
from config import IST, Config
from market_hours import MarketSession
from order_outcomes import (
    CANCELLED_AT_BROKER,
    EXPIRED,
    NOT_PLACED,
    OPEN,
    PAPER_MARK,
    PARTIAL,
    PENDING,
    PLACED,
    REJECTED,
    REST_CANCELLED_AT_BROKER,
    REST_CANCELLED_BY_BOT,
    REST_EXPIRED,
    REST_REJECTED,
    TRADED,
    UNFILLED,
    UNKNOWN,
    described,
    phrase,
)
from portfolio import inr, ticker
from run_steps import RunSteps
from store.base import Store
from strategy_rules import Intent

logger = logging.getLogger(__name__)

TAG_PREFIX = "NS"
POLL_INTERVAL_S = 0.5
# Fyers answers these before it takes an order: the order was not placed. (A network error or
# a 5xx leaves it unknown: the next run looks its tag up.)
REFUSED_BEFORE_PLACING = (RateLimited, IPNotAllowed, TokenExpired, AuthFailed, InvalidRequest)
# How an after-market order's record starts its message from its first write: the one mark a
# later run has that the order waits for the open (a DAY order open at the close expires).
WAITS_FOR_THE_OPEN = "waits for the open"


@dataclass
class RunResult:
    """What one run did: a one-line summary, the decisions, and what it recorded."""

    summary: str
    intents: list[Intent]
    fills: list[dict[str, Any]] = field(default_factory=list)  # bot trades recorded
    manual: list[dict[str, Any]] = field(default_factory=list)  # manual closes recorded
    # orders that did not fill wholly (partly filled, not filled, expired, rejected, …)
    incomplete: list[dict[str, Any]] = field(default_factory=list)
    held_back: list[Intent] = field(default_factory=list)  # not placed: NSE closed meanwhile
    waiting: list[dict[str, Any]] = field(default_factory=list)  # left at Fyers for the open
    unsettled: list[dict[str, Any]] = field(default_factory=list)  # open after the bot's cancel
    closed: str = ""  # 'NSE is closed until Mon 09:15 IST' when the run saw the market closed
    notes: list[str] = field(default_factory=list)  # more for the summary, e.g. budget spent
    entry_budget_spent: bool = False  # earlier runs used the day's new entries: none was sought


def always_open() -> MarketSession:
    """A session that is open, for callers that do not read Fyers' clock (tests, benches)."""
    return MarketSession(datetime.now(IST), True, None)


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
    session: Callable[[], MarketSession] = always_open  # NSE's session by Fyers' clock, now


class MarketClosed(Exception):
    """NSE closed before an order could be placed; the order is not placed."""


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
    """Place one intent safely: adopt an order already carrying its tag, never place twice;
    outside NSE's session place nothing (or an after-market order, when the owner opted in)."""
    tag = order_tag(run.run_id, intent.symbol, intent.side)
    record = run.store.get_order(tag)
    if record and record["status"] not in OPEN:
        logger.info("order %s was settled earlier in this run: skipped", tag)
        return
    existing = run.broker.orders(tag=tag)  # the whole day's book, matched here by tag
    if existing:
        logger.warning("order %s is already at the broker (%s): adopted, not placed again",
                       tag, existing[0].id)
        _finish(run, record or _new_order(run, intent, tag), existing[0])
        return
    session = run.session()
    after_market = not session.is_open and run.config.after_market_orders
    if not session.is_open and not after_market:
        _hold_back(run, intent, record, session.closed_sentence())
        return
    record = record or _new_order(run, intent, tag)
    if after_market:  # said from the first write: a run settling it later must not cancel it
        record = {**record, "message": waits_for_the_open(session.closed_sentence())}
    run.store.upsert_order(record)
    try:
        placed = _place(run, intent, tag, after_market)
    except OrderRejected as exc:
        _close(run, record, REJECTED, str(exc))
        return
    except MarketClosed as exc:
        _hold_back(run, intent, record, str(exc))
        return
    except REFUSED_BEFORE_PLACING as exc:  # the run fails; the order must not read "waiting"
        run.store.upsert_order({**record, "status": NOT_PLACED, "updated_at": time.time(),
                                "message": f"Fyers refused the request ({exc})"})
        raise
    order = _find_order(run, tag, placed.order_id if placed.acknowledged else None)
    if order is None:
        logger.warning("order %s was not acknowledged and is not in the orderbook yet: the "
                       "next run settles it", tag)
        run.store.upsert_order({**record, "status": PLACED, "updated_at": time.time()})
        return
    _finish(run, record, order)


def _hold_back(run: RunContext, intent: Intent, record: dict[str, Any] | None,
               closed: str) -> None:
    """NSE is closed: the intent is not placed, and a record already written says so."""
    run.result.held_back.append(intent)
    run.result.closed = run.result.closed or closed
    if record is not None and run.store.get_order(record["tag"]) is not None:
        run.store.upsert_order({**record, "status": NOT_PLACED, "updated_at": time.time(),
                                "message": f"{closed} when it was due"})
    logger.warning("%s: %s %d %s not placed", closed, intent.side, intent.qty, intent.symbol)


def _place(run: RunContext, intent: Intent, tag: str, after_market: bool) -> PlaceResult:
    """Place the order; after a 429, wait for Fyers' window to pass and try once more, looking
    the tag up first so that an order Fyers took after all is adopted, never placed twice."""
    try:
        return _place_once(run, intent, tag, after_market)
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
    return _place_once(run, intent, tag, after_market)


def _place_once(run: RunContext, intent: Intent, tag: str, after_market: bool) -> PlaceResult:
    """One placement, unless the run must stop (its deadline passed) or NSE closed meanwhile
    (MarketClosed: a run started at 15:29:59 places nothing at 15:30:01)."""
    run.checkpoint()
    session = run.session()
    if not after_market and not session.is_open:
        raise MarketClosed(session.closed_sentence())
    side = SIDE_BUY if intent.side == "BUY" else SIDE_SELL
    return run.broker.place_market_order(intent.symbol, intent.qty, side, tag,
                                         after_market=after_market)


def window_wait_s(window_s: float, retry_after: float | None, now: float) -> float:
    """Seconds to wait after a 429: Fyers' Retry-After when it gave one, else until its current
    rate-limit window (the minute) ends."""
    return retry_after if retry_after else window_s - now % window_s


def _new_order(run: RunContext, intent: Intent, tag: str) -> dict[str, Any]:
    now = time.time()
    return {"tag": tag, "run_id": run.run_id, "symbol": intent.symbol, "side": intent.side,
            "qty": intent.qty, "reason": intent.reason, "broker_order_id": None,
            "status": PENDING, "filled_qty": 0, "traded_price": None, "message": None,
            "created_at": now, "updated_at": now, "wait_s": None, "rest": None}


def _find_order(run: RunContext, tag: str, order_id: str | None) -> Order | None:
    """The broker's order by id, or by tag while an unacknowledged one shows up."""
    deadline = time.monotonic() + run.config.order_fill_timeout_s
    while True:
        found = run.broker.orders(order_id=order_id) if order_id else run.broker.orders(tag=tag)
        if found or time.monotonic() >= deadline:
            return found[0] if found else None
        time.sleep(POLL_INTERVAL_S)


def _await_final(run: RunContext, order: Order) -> tuple[Order, bool]:
    """Poll until traded / cancelled / rejected / expired, or cancel at ORDER_FILL_TIMEOUT_S;
    (the order, True when the bot's cancel is what ended it)."""
    order = _polled_until_final(run, order)
    if order.is_final:
        return order, False
    logger.warning("order %s not complete after %.0f s (%d of %d filled): cancelling the rest",
                   order.id, run.config.order_fill_timeout_s, order.filled_qty, order.qty)
    try:
        run.broker.cancel_order(order.id)
    except BrokerError as exc:
        logger.warning("cancelling order %s failed: %s", order.id, exc)
        return _find_order(run, order.tag, order.id) or order, False
    # Fyers accepts a cancel before the exchange confirms it: the order may show in transit
    # for a moment, and is not "still open" for that.
    return _polled_until_final(run, _find_order(run, order.tag, order.id) or order), True


def _polled_until_final(run: RunContext, order: Order) -> Order:
    """The order once final, or as it stands ORDER_FILL_TIMEOUT_S from now."""
    deadline = time.monotonic() + run.config.order_fill_timeout_s
    while not order.is_final and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        run.checkpoint()
        order = _find_order(run, order.tag, order.id) or order
    return order


def waits_for_the_open(closed: str) -> str:
    """An after-market order's message while NSE is closed: 'waits for the open (NSE is closed
    until Mon 09:15 IST)'."""
    return f"{WAITS_FOR_THE_OPEN} ({closed})"


def _finish(run: RunContext, record: dict[str, Any], order: Order) -> None:
    """Wait for the order's outcome, record its filled quantity once, and close the record;
    outside the session an open after-market order is left to wait at Fyers for the open. A
    DAY order open at the close is awaited as in the session: Fyers expires it then."""
    after_market = (record.get("message") or "").startswith(WAITS_FOR_THE_OPEN)
    record = {**record, "broker_order_id": order.id, "status": PLACED, "updated_at": time.time(),
              # what Fyers says of the open order ("Order pending at exchange"), if anything
              "message": None if order.is_final else order.message or None}
    session = run.session()
    if not order.is_final and not session.is_open and after_market:
        record["message"] = waits_for_the_open(session.closed_sentence())
        run.store.upsert_order(record)
        run.result.waiting.append(record)
        logger.info("order %s %s: the next run settles it", order.id, record["message"])
        return
    run.store.upsert_order(record)
    named = f"{record['side']} {record['qty']} {ticker(record['symbol'])}"
    run.steps.begin("fills", f"waiting for {named} to fill")
    record = _settle(run, record, *_await_final(run, order))
    # What came of it, in the order list's words, until the next order waits or the run ends.
    run.steps.done("fills", f"{named}: {phrase(record)}")


def _settle(run: RunContext, record: dict[str, Any], order: Order,
            cancelled_by_bot: bool) -> dict[str, Any]:
    """Record what came of an order the run waited for: its fill, once, and its outcome; the
    record as stored."""
    if not order.is_final:  # the bot's cancel failed or went unconfirmed: a fill may still
        # come, recorded then
        cancel = ("Fyers had not confirmed the bot's cancel of the rest" if cancelled_by_bot
                  else "the bot could not cancel the rest")
        record["message"] = (f"{order.filled_qty} of {order.qty} filled so far; {cancel}, the "
                             f"next run settles it")
        run.store.upsert_order(record)
        run.result.unsettled.append(record)
        logger.warning("order %s is still open at the broker: %s", order.id, record["message"])
        return record
    if order.filled_qty > 0:
        _record_fill(run, record, order)
    status, rest = _outcome(order, cancelled_by_bot)
    record.update(status=status, filled_qty=order.filled_qty, updated_at=time.time(), rest=rest,
                  traded_price=order.traded_price if order.filled_qty else None,
                  wait_s=_waited_s(run, record) if cancelled_by_bot else None,
                  message=order.message or record["message"])
    if status == TRADED:
        run.store.upsert_order(record)
        return record
    return _close(run, record, status, record["message"])


def _waited_s(run: RunContext, record: dict[str, Any]) -> float:
    """How long an order waited for its fill before the bot cancelled it: the fill timeout for
    this run's own order; since it was recorded for one an earlier run left open."""
    if record["run_id"] == run.run_id:
        return run.config.order_fill_timeout_s
    return round(time.time() - record["created_at"])


def _outcome(order: Order, cancelled_by_bot: bool) -> tuple[str, str | None]:
    """(the store's status, what became of a partial fill's rest) of a final broker order."""
    if order.filled_qty >= order.qty:
        return TRADED, None
    if order.filled_qty > 0:  # what filled is spent and recorded, whatever ended the rest
        rest = REST_REJECTED if order.status == STATUS_REJECTED else \
            REST_EXPIRED if order.status == STATUS_EXPIRED else \
            REST_CANCELLED_BY_BOT if cancelled_by_bot else REST_CANCELLED_AT_BROKER
        return PARTIAL, rest
    if order.status == STATUS_REJECTED:
        return REJECTED, None
    if order.status == STATUS_EXPIRED:
        return EXPIRED, None
    return (UNFILLED if cancelled_by_bot else CANCELLED_AT_BROKER), None


def _close(run: RunContext, record: dict[str, Any], status: str,
           message: str | None) -> dict[str, Any]:
    """Record an order that did not fill wholly, with Fyers' message, and say what became
    of it (order_outcomes.phrase) in the log and the run's summary; the record as stored."""
    record = {**record, "status": status, "message": message or None, "updated_at": time.time()}
    run.store.upsert_order(record)
    run.result.incomplete.append(record)
    logger.warning("%s order %s", record["tag"], described(record))
    return record


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
    """Finish orders an earlier run left pending or placed (it crashed or timed out); one the
    broker does not show is closed, saying whether it ever reached the broker."""
    records = run.store.list_orders(statuses=OPEN)
    book = run.broker.orders() if records else []  # read once, matched here by tag
    for record in records:
        found = [order for order in book if order.tag == record["tag"]]
        if found:
            logger.warning("settling order %s left open by run %s", record["tag"], record["run_id"])
            _finish(run, record, found[0])
        elif record["broker_order_id"]:
            _close(run, record, UNKNOWN, _lost_order(run.broker, record["broker_order_id"]))
        else:
            where = "the paper simulator" if on_paper(run.broker) else "Fyers"
            _close(run, record, NOT_PLACED, f"it never reached {where} (the run stopped first)")


def on_paper(broker: FyersBroker) -> bool:
    """Whether `broker` simulates orders (broker.PaperBroker) rather than sending them to Fyers."""
    return getattr(broker, "is_paper", False)


def _lost_order(broker: FyersBroker, order_id: str) -> str:
    """Why an order an earlier run placed is closed as unknown, and where a fill of it is."""
    if on_paper(broker):  # marked: the pages name the simulator, not Fyers
        return (f"the paper simulator no longer shows order {order_id}: its order book starts "
                f"afresh each day, as Fyers' does; a fill of it stays in the paper holdings, "
                f"outside the bot's book {PAPER_MARK}")
    return (f"Fyers no longer shows order {order_id} in today's order book; check the Fyers "
            f"app's orders")
