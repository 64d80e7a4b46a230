"""The strategy: pure decision functions shared with the backtest, and `run_live()` for the executor.

`decide()` turns completed daily closes, current prices and the bot's book into intended orders
(DESIGN.md "Strategy"). It does no I/O, so the backtest and the tests call the very same code.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from broker import (
    SIDE_BUY,
    SIDE_SELL,
    STATUS_REJECTED,
    BrokerError,
    Fill,
    FyersBroker,
    Order,
    OrderRejected,
    Quote,
)
from config import Config
from portfolio import inr
from scheduler import IST, previous_trading_day
from store.base import Store
from universe import nifty50_symbols

logger = logging.getLogger(__name__)

# Percentages are compared with this tolerance so a threshold that is met exactly on paper
# (e.g. 100 → 106.28 for 6.28 %) is not missed by float rounding.
_PCT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class StrategyParams:
    """The strategy's knobs (see Config for their meaning and defaults)."""

    ma_period: int
    entry_threshold_pct: float
    exit_threshold_pct: float
    averaging_threshold_pct: float
    entry_candidates: int
    max_trade_value: float
    max_new_entries_per_run: int

    @classmethod
    def from_config(cls, config: Config) -> StrategyParams:
        """The parameters configured for live runs."""
        return cls(
            ma_period=config.ma_period,
            entry_threshold_pct=config.entry_threshold_pct,
            exit_threshold_pct=config.exit_threshold_pct,
            averaging_threshold_pct=config.averaging_threshold_pct,
            entry_candidates=config.entry_candidates,
            max_trade_value=config.max_trade_value,
            max_new_entries_per_run=config.max_new_entries_per_run,
        )


@dataclass(frozen=True)
class BookEntry:
    """What the bot holds of one symbol."""

    symbol: str
    qty: int
    avg_price: float
    last_buy_price: float


@dataclass(frozen=True)
class Intent:
    """An order the rules want, with the price and reason it was decided on."""

    symbol: str
    side: str  # "BUY" | "SELL"
    qty: int
    reason: str  # "entry" | "average" | "exit"
    price: float
    detail: str


def moving_average(closes: Sequence[float], period: int) -> float | None:
    """Mean of the last `period` closes, or None when there are fewer."""
    if period <= 0 or len(closes) < period:
        return None
    return math.fsum(closes[-period:]) / period


def buy_qty(max_trade_value: float, ltp: float) -> int:
    """Whole shares one trade of `max_trade_value` buys at `ltp` (0 when one share costs more)."""
    return math.floor(max_trade_value / ltp) if ltp > 0 else 0


def _at_least(value: float, threshold: float) -> bool:
    return value >= threshold or math.isclose(value, threshold, abs_tol=_PCT_TOLERANCE)


def _more_than(value: float, threshold: float) -> bool:
    return value > threshold and not math.isclose(value, threshold, abs_tol=_PCT_TOLERANCE)


def _held(book: Mapping[str, BookEntry]) -> dict[str, BookEntry]:
    return {symbol: entry for symbol, entry in book.items() if entry.qty > 0}


def _exits(held: Mapping[str, BookEntry], ltps: Mapping[str, float],
           params: StrategyParams) -> list[Intent]:
    """Every holding up by the exit threshold, sold whole, in symbol order."""
    intents = []
    for symbol in sorted(held):
        entry, ltp = held[symbol], ltps.get(symbol)
        if ltp is None or entry.avg_price <= 0:
            continue
        gain_pct = (ltp - entry.avg_price) / entry.avg_price * 100
        if _at_least(gain_pct, params.exit_threshold_pct):
            intents.append(Intent(symbol, "SELL", entry.qty, "exit", ltp,
                                  f"{gain_pct:.2f}% above average buy price {entry.avg_price:.2f}"))
    return intents


def _ranked_deviations(closes: Mapping[str, Sequence[float]], ltps: Mapping[str, float],
                       params: StrategyParams) -> list[tuple[float, str]]:
    """(dev, symbol) for symbols at or past the entry threshold, most negative first."""
    ranked = []
    for symbol, history in closes.items():
        ma, ltp = moving_average(history, params.ma_period), ltps.get(symbol)
        if ma is None or ma <= 0 or ltp is None:
            continue
        dev = (ltp - ma) / ma
        if _at_least(-dev * 100, params.entry_threshold_pct):
            ranked.append((dev, symbol))
    return sorted(ranked)


def _entries(closes: Mapping[str, Sequence[float]], ltps: Mapping[str, float],
             excluded: set[str], params: StrategyParams) -> list[Intent]:
    """Buys of the most-below-MA candidates that are not excluded and affordable."""
    intents = []
    for dev, symbol in _ranked_deviations(closes, ltps, params)[:params.entry_candidates]:
        if len(intents) >= params.max_new_entries_per_run:
            break
        ltp = ltps[symbol]
        qty = buy_qty(params.max_trade_value, ltp)
        if symbol in excluded or qty < 1:
            continue
        intents.append(Intent(symbol, "BUY", qty, "entry", ltp,
                              f"{-dev * 100:.2f}% below {params.ma_period}-day MA"))
    return intents


def _average_down(held: Mapping[str, BookEntry], ltps: Mapping[str, float], sold: set[str],
                  params: StrategyParams) -> Intent | None:
    """One more buy of the holding furthest below its last buy price, past the threshold."""
    candidates = []
    for symbol, entry in held.items():
        ltp = ltps.get(symbol)
        if symbol in sold or ltp is None or entry.last_buy_price <= 0:
            continue
        drop_pct = (entry.last_buy_price - ltp) / entry.last_buy_price * 100
        if _more_than(drop_pct, params.averaging_threshold_pct) and buy_qty(
                params.max_trade_value, ltp) >= 1:
            candidates.append((-drop_pct, symbol))
    if not candidates:
        return None
    neg_drop, symbol = min(candidates)
    ltp = ltps[symbol]
    return Intent(symbol, "BUY", buy_qty(params.max_trade_value, ltp), "average", ltp,
                  f"{-neg_drop:.2f}% below last buy price {held[symbol].last_buy_price:.2f}")


def decide(closes: Mapping[str, Sequence[float]], ltps: Mapping[str, float],
           book: Mapping[str, BookEntry], params: StrategyParams) -> list[Intent]:
    """Intended orders for one run: exits first, then entries, then at most one average-down.

    `closes` are completed daily closes oldest→newest (today excluded); `book` is what the bot
    held before the run.
    """
    held = _held(book)
    exits = _exits(held, ltps, params)
    sold = {intent.symbol for intent in exits}
    entries = _entries(closes, ltps, set(held) | sold, params)
    if entries:
        return exits + entries
    average = _average_down(held, ltps, sold, params)
    return exits + ([average] if average else [])


# --- the live run: reconcile, refresh candles, decide, place, verify, record -----------------
TAG_PREFIX = "NS"
OPEN_ORDER_STATUSES = ("pending", "placed")
POLL_INTERVAL_S = 0.5
COLD_START_MARGIN_DAYS = 7


@dataclass
class RunResult:
    """What one run did: a one-line summary, the decisions, and what it recorded."""

    summary: str
    intents: list[Intent]
    fills: list[dict[str, Any]] = field(default_factory=list)  # bot trades recorded
    manual: list[dict[str, Any]] = field(default_factory=list)  # manual closes recorded
    refused: list[dict[str, Any]] = field(default_factory=list)  # rejected/cancelled orders


@dataclass
class _Run:
    """The collaborators of one live run."""

    config: Config
    store: Store
    broker: FyersBroker
    run_id: str
    dry_run: bool
    heartbeat: Callable[[], None]
    result: RunResult


def order_tag(run_id: str, symbol: str, side: str) -> str:
    """The alphanumeric orderTag (19 chars) of one (run, symbol, side): the same on a re-run."""
    def digest(text: str, size: int) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:size]

    return f"{TAG_PREFIX}{digest(run_id, 10)}{digest(symbol, 6)}{side[0]}"


def run_live(config: Config, store: Store, broker: FyersBroker, *, run_id: str,
             dry_run: bool = False, heartbeat: Callable[[], None] | None = None) -> RunResult:
    """One live run through `broker` and `store`; `heartbeat` is called between slow steps."""
    run = _Run(config, store, broker, run_id, dry_run, heartbeat or (lambda: None),
               RunResult("", []))
    if not dry_run:
        _settle_open_orders(run)
    quotes = broker.quotes(nifty50_symbols())
    ltps = {symbol: quote.ltp for symbol, quote in quotes.items()}
    _reconcile(run, ltps)
    closes = _refresh_candles(run, _market_date(quotes))
    book = {p["symbol"]: BookEntry(p["symbol"], p["qty"], p["avg_price"], p["last_buy_price"])
            for p in store.get_positions()}
    run.result.intents = decide(closes, ltps, book, StrategyParams.from_config(config))
    for intent in run.result.intents:
        logger.info("%s %s %d %s at %.2f (%s): %s", "would" if dry_run else "decided",
                    intent.side, intent.qty, intent.symbol, intent.price, intent.reason,
                    intent.detail)
        if not dry_run:
            run.heartbeat()
            _execute(run, intent)
    if not run.result.intents:
        logger.info("no order today: nothing met the entry, exit or averaging rules")
    run.result.summary = _summary(run.result, dry_run)
    return run.result


def _market_date(quotes: Mapping[str, Quote]) -> date:
    """The market's current IST date: from the quotes' trade times, else the local clock."""
    latest = max((quote.traded_at for quote in quotes.values()), default=0.0)
    return datetime.fromtimestamp(latest or time.time(), IST).date()


# --- candles ---------------------------------------------------------------------------------
def _window_start(today: date, sessions: int) -> date:
    """A start date that leaves at least `sessions` trading days before `today`."""
    day = today
    for _ in range(sessions):
        day = previous_trading_day(day)
    return day - timedelta(days=COLD_START_MARGIN_DAYS)


def _refresh_candles(run: _Run, today: date) -> dict[str, list[float]]:
    """Completed closes per symbol from the cache, fetching only the days it lacks."""
    latest_needed = previous_trading_day(today)
    start = _window_start(today, run.config.ma_period)
    closes = {}
    for symbol in nifty50_symbols():
        cached = [c for c in run.store.get_candles(symbol, since=start.isoformat())
                  if c["date"] < today.isoformat()]
        complete = len(cached) >= run.config.ma_period
        if not complete or cached[-1]["date"] < latest_needed.isoformat():
            fetch_from = date.fromisoformat(cached[-1]["date"]) + timedelta(days=1) \
                if complete else start
            _fetch_candles(run, symbol, fetch_from, latest_needed)
            cached = [c for c in run.store.get_candles(symbol, since=start.isoformat())
                      if c["date"] < today.isoformat()]
        closes[symbol] = [c["close"] for c in cached]
    return closes


def _fetch_candles(run: _Run, symbol: str, start: date, end: date) -> None:
    """Cache the completed daily candles of [start, end]."""
    candles = [asdict(c) for c in run.broker.history(symbol, start, end) if c.date <= end.isoformat()]
    if candles:
        run.store.upsert_candles(symbol, candles)
    logger.debug("cached %d candles of %s from %s", len(candles), symbol, start)


# --- reconcile -------------------------------------------------------------------------------
def _broker_quantities(broker: FyersBroker) -> dict[str, int]:
    """Shares the broker account holds per symbol: holdings plus today's net buys.

    Today's net buys are added only when positive: whether holdings already show today's buys
    (T1) differs between setups, and over-counting merely delays noticing a manual sale by a
    day, while under-counting would record a sale that never happened.
    """
    quantities: dict[str, int] = {}
    for holding in broker.holdings():
        quantities[holding.symbol] = quantities.get(holding.symbol, 0) + holding.qty
    for position in broker.positions():
        if position.net_qty > 0:
            quantities[position.symbol] = quantities.get(position.symbol, 0) + position.net_qty
    return quantities


def _reconcile(run: _Run, ltps: Mapping[str, float]) -> None:
    """Record quantity the bot holds but the broker no longer shows as a manual SELL."""
    positions = run.store.get_positions()
    if not positions:
        return
    held = _broker_quantities(run.broker)
    fills = None
    for position in positions:
        vanished = position["qty"] - held.get(position["symbol"], 0)
        if vanished <= 0:
            continue
        fills = run.broker.tradebook() if fills is None else fills
        _record_manual_sell(run, position, min(vanished, position["qty"]), fills, ltps)


def _record_manual_sell(run: _Run, position: dict[str, Any], qty: int,
                        fills: Sequence[Fill], ltps: Mapping[str, float]) -> None:
    """One manual SELL at the tradebook price of the owner's own sale, else the last price."""
    symbol = position["symbol"]
    own = [f for f in fills if f.symbol == symbol and f.side == SIDE_SELL
           and run.store.get_order(f.tag) is None]
    sold = sum(f.qty for f in own)
    price = (sum(f.qty * f.price for f in own) / sold) if sold else ltps.get(symbol)
    if price is None:
        price = position["avg_price"]
    trade_id = own[-1].order_id if own else f"manual-{run.run_id}-{symbol}"
    trade, after = _sell_trade(position, qty, price)
    trade.update(trade_id=trade_id, run_id=run.run_id, order_tag=None, symbol=symbol,
                 source="manual")
    logger.warning("%s: %d shares the bot held are gone at the broker (sold by hand?): a "
                   "manual sale at %.2f, P&L %.2f", symbol, qty, price, trade["pnl"])
    if not run.dry_run and run.store.record_trade(trade, after):
        run.result.manual.append(trade)


# --- positions after a fill ------------------------------------------------------------------
def _sell_trade(position: dict[str, Any] | None, qty: int,
                price: float) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(trade fields, the position after selling `qty` at `price`) with P&L vs the average."""
    now = time.time()
    avg = position["avg_price"] if position else price
    trade = {"side": "SELL", "qty": qty, "price": price, "ts": now,
             "pnl": round((price - avg) * qty, 2)}
    left = (position["qty"] if position else 0) - qty
    return trade, ({**position, "qty": left, "updated_at": now} if left > 0 else None)


def _buy_trade(position: dict[str, Any] | None, symbol: str, qty: int,
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
def _execute(run: _Run, intent: Intent) -> None:
    """Place one intent safely: adopt an order already carrying its tag, never place twice."""
    tag = order_tag(run.run_id, intent.symbol, intent.side)
    record = run.store.get_order(tag)
    if record and record["status"] not in OPEN_ORDER_STATUSES:
        logger.info("order %s was settled earlier in this run: skipped", tag)
        return
    existing = run.broker.orders(tag=tag)
    record = record or _new_order(run, intent, tag)
    if existing:
        logger.warning("order %s is already at the broker (%s): adopted, not placed again",
                       tag, existing[0].id)
        _finish(run, record, existing[0])
        return
    run.store.upsert_order(record)
    try:
        placed = run.broker.place_market_order(intent.symbol, intent.qty,
                                               SIDE_BUY if intent.side == "BUY" else SIDE_SELL, tag)
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


def _new_order(run: _Run, intent: Intent, tag: str) -> dict[str, Any]:
    now = time.time()
    return {"tag": tag, "run_id": run.run_id, "symbol": intent.symbol, "side": intent.side,
            "qty": intent.qty, "reason": intent.reason, "broker_order_id": None,
            "status": "pending", "filled_qty": 0, "traded_price": None, "message": intent.detail,
            "created_at": now, "updated_at": now}


def _find_order(run: _Run, tag: str, order_id: str | None) -> Order | None:
    """The broker's order by id, or by tag while an unacknowledged one shows up."""
    deadline = time.monotonic() + run.config.order_fill_timeout_s
    while True:
        found = run.broker.orders(order_id=order_id) if order_id else run.broker.orders(tag=tag)
        if found or time.monotonic() >= deadline:
            return found[0] if found else None
        time.sleep(POLL_INTERVAL_S)


def _await_final(run: _Run, order: Order) -> Order:
    """Poll until traded / cancelled / rejected, or cancel at ORDER_FILL_TIMEOUT_S."""
    deadline = time.monotonic() + run.config.order_fill_timeout_s
    while not order.is_final and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        run.heartbeat()
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


def _finish(run: _Run, record: dict[str, Any], order: Order) -> None:
    """Wait for the order's outcome, record its filled quantity once, and close the record."""
    record = {**record, "broker_order_id": order.id, "status": "placed",
              "updated_at": time.time()}
    run.store.upsert_order(record)
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
    else:
        run.store.upsert_order(record)


def _order_status(order: Order) -> str:
    """The store's status for a final broker order."""
    if order.status == STATUS_REJECTED:
        return "rejected"
    if order.filled_qty >= order.qty:
        return "traded"
    return "partial" if order.filled_qty > 0 else "cancelled"


def _close_refused(run: _Run, record: dict[str, Any], status: str, message: str) -> None:
    """Record a rejected or cancelled order with the broker's message."""
    record = {**record, "status": status, "message": message or status, "updated_at": time.time()}
    run.store.upsert_order(record)
    run.result.refused.append(record)
    logger.warning("%s order for %d %s %s: %s", record["side"], record["qty"], record["symbol"],
                   status, record["message"])


def _record_fill(run: _Run, record: dict[str, Any], order: Order) -> None:
    """Record the filled quantity at the traded price; the broker order id keys it once."""
    symbol = record["symbol"]
    position = next((p for p in run.store.get_positions() if p["symbol"] == symbol), None)
    if record["side"] == "SELL":
        trade, after = _sell_trade(position, order.filled_qty, order.traded_price)
    else:
        trade, after = _buy_trade(position, symbol, order.filled_qty, order.traded_price)
    trade.update(trade_id=order.id, run_id=record["run_id"], order_tag=record["tag"],
                 symbol=symbol, source="bot")
    if run.store.record_trade(trade, after):
        run.result.fills.append(trade)
        logger.info("filled: %s %d %s at %.2f", trade["side"], trade["qty"], symbol, trade["price"])


def _settle_open_orders(run: _Run) -> None:
    """Finish orders an earlier run left pending or placed (it crashed or timed out)."""
    for record in run.store.list_orders(statuses=OPEN_ORDER_STATUSES):
        found = run.broker.orders(tag=record["tag"])
        if found:
            logger.warning("settling order %s left open by run %s", record["tag"], record["run_id"])
            _finish(run, record, found[0])
        else:
            _close_refused(run, record, "cancelled", "never reached the broker (the run stopped)")


def _summary(result: RunResult, dry_run: bool) -> str:
    """'1 buy, 0 sells; P&L ₹0.00' plus manual sales and refused orders when any."""
    if dry_run:
        buys = sum(1 for i in result.intents if i.side == "BUY")
        return f"dry run: would place {buys} buy(s), {len(result.intents) - buys} sell(s)"
    buys = sum(1 for t in result.fills if t["side"] == "BUY")
    sells = len(result.fills) - buys
    pnl = sum(t["pnl"] for t in result.fills + result.manual if t["pnl"] is not None)
    text = f"{buys} buy{'s' * (buys != 1)}, {sells} sell{'s' * (sells != 1)}; P&L {inr(pnl)}"
    if result.manual:
        text += f"; {len(result.manual)} manual sale(s) recorded"
    if result.refused:
        text += f"; {len(result.refused)} order(s) refused"
    return text
