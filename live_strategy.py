"""The live run: `run_live()` applies the strategy's rules (strategy_rules.py) for the executor.

`run_live()` reads the quotes (the time Fyers served them at is its clock: market_hours.py),
settles earlier orders, reconciles with the broker, refreshes the candle cache, reads what the
trading day already used (day_use.py), decides, and hands each intent to order_flow.py, which
places it and records its fill. Outside NSE's session it decides, says what it would do, and
places nothing (unless AFTER_MARKET_ORDERS is on).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import india_time
import prices
import strategy_settings
from broker import (
    SIDE_SELL,
    BrokerError,
    Fill,
    FyersBroker,
    Quote,
)
from config import Config
from day_use import day_use
from market_hours import FyersClock, MarketSession, quotes_time
from order_flow import (
    RunContext,
    RunResult,
    execute_intent,
    on_paper,
    sell_trade,
    settle_open_orders,
)
from order_outcomes import counted
from portfolio import (
    AT_COST_SALE_ID,
    ESTIMATED_SALE_ID,
    estimated_price,
    hand_sale,
    inr,
    pnl_words,
    ticker,
)
from run_steps import RunSteps
from store.base import Store
from strategy_rules import BookEntry, decide
from trading_calendar import previous_trading_day, session_at
from universe import nifty50_symbols

logger = logging.getLogger(__name__)

# --- the live run: reconcile, refresh candles, decide, place, verify, record -----------------
COLD_START_MARGIN_DAYS = 7


def run_live(config: Config, store: Store, broker: FyersBroker, *, run_id: str,
             dry_run: bool = False, checkpoint: Callable[[], None] | None = None,
             steps: RunSteps | None = None) -> RunResult:
    """One live run through `broker` and `store` with the strategy settings saved in the store;
    `checkpoint` is called before every order and while awaiting fills, and raises when the run
    must stop (see run_guard.py); `steps` records its progress on the run's record."""
    config = strategy_settings.for_runs(config, store)
    logger.info("strategy settings: %s", strategy_settings.listed(config))
    run = RunContext(config, store, broker, run_id, dry_run, checkpoint or (lambda: None),
                     RunResult("", []), steps or RunSteps(store, run_id))
    run.steps.begin("prices", "reading prices and the bot's holdings")
    quotes = broker.quotes(nifty50_symbols())
    prices.remember_quotes(store, quotes)  # the pages and the run's alert value holdings alike
    run.session = _fyers_session(quotes)
    if not dry_run:
        settle_open_orders(run)
    ltps = {symbol: quote.ltp for symbol, quote in quotes.items()}
    _reconcile(run, ltps)
    closes = _refresh_candles(run, quotes)
    run.steps.done("prices", "; ".join([f"{len(quotes)} prices read",
                                        *_hand_sales(run.result.manual, "found")]))
    run.steps.begin("decisions", "applying the rules")
    book = {p["symbol"]: BookEntry(p["symbol"], p["qty"], p["avg_price"], p["last_buy_price"])
            for p in store.get_positions()}
    params, day = config.strategy_params(), day_use(config, store, broker)
    run.result.entry_budget_spent = day.entry_budget_spent(params)
    if run.result.entry_budget_spent:
        run.result.notes.append(f"today's new-entry budget is spent: {day.entries} of "
                                f"{params.max_new_entries_per_day}")
    run.result.intents = decide(closes, ltps, book, params, day)
    run.steps.done("decisions", "; ".join([
        deals_sentence(_intent_deals(run.result), "buy", "sell") or no_order(run.result),
        *run.result.notes]))
    session = run.session()
    if not session.is_open and not orders_outside_hours(config, dry_run):
        run.result.closed = session.closed_sentence()
    _place_all(run)
    run.result.summary = _summary(run.result, dry_run)
    return run.result


def orders_outside_hours(config: Config, dry_run: bool) -> bool:
    """Whether a run outside NSE hours places its orders, as AMOs that wait for the next open."""
    return config.after_market_orders and not dry_run


def _fyers_session(quotes: Mapping[str, Quote]) -> Callable[[], MarketSession]:
    """NSE's session by Fyers' clock (when it served the quotes, moved on monotonically),
    logging a machine clock well off Fyers' or the lack of a time on Fyers' reply."""
    clock = FyersClock.from_quotes(quotes)
    if not clock.from_fyers:
        logger.warning("Fyers' quotes reply carried no time (no Date header): market hours "
                       "follow this machine's clock")
    elif skew := clock.skew_sentence():
        logger.warning("%s", skew[0].upper() + skew[1:])
    return clock.session


def _place_all(run: RunContext) -> None:
    """Log each decision and, unless this is a dry run or NSE is closed, place it and await
    its fill."""
    intents, result = run.result.intents, run.result
    placing = not run.dry_run and not result.closed
    for number, intent in enumerate(intents, start=1):
        logger.info("%s %s %d %s at %s (%s): %s", "decided" if placing else "would",
                    intent.side, intent.qty, intent.symbol, inr(intent.price), intent.reason,
                    intent.detail)
        if placing:
            run.steps.begin("orders", f"placing {number} of {len(intents)}: {intent.side} "
                                      f"{intent.qty} {ticker(intent.symbol)}")
            execute_intent(run, intent)
    if not intents:
        logger.info(no_order(result))
    if not placing:
        why = "dry run" if run.dry_run else result.closed
        if not run.dry_run:
            result.held_back = list(intents)
            logger.warning("%s: nothing was placed", result.closed)
        _nothing_placed(run, why)
        return
    if _all_held(result):  # the close came before the first order
        _nothing_placed(run, result.closed)
        return
    sent = len(intents) - len(result.held_back)
    where = "simulated (paper)" if on_paper(run.broker) else "sent to Fyers"
    run.steps.done("orders", "; ".join(
        [f"{sent} {where}" if intents else "none to place", *_order_clauses(result)]))
    run.steps.done("fills", deals_sentence(_fill_deals(result), "bought", "sold")
                   or ("nothing filled" if intents else "nothing to fill"))


def _nothing_placed(run: RunContext, why: str) -> None:
    """The Orders and Fills steps skipped, saying why ('dry run', NSE's close)."""
    for step in ("orders", "fills"):
        run.steps.skip(step, f"{why}: nothing was placed")


def _market_date(quotes: Mapping[str, Quote]) -> date:
    """The market's current IST date: by Fyers' clock when it served the quotes, else the
    local clock."""
    return india_time.day_of(quotes_time(quotes) or time.time())


# --- candles ---------------------------------------------------------------------------------
def _window_start(today: date, sessions: int) -> date:
    """A start date that leaves at least `sessions` trading days before `today`."""
    day = today
    for _ in range(sessions):
        day = previous_trading_day(day)
    return day - timedelta(days=COLD_START_MARGIN_DAYS)


def _refresh_candles(run: RunContext, quotes: Mapping[str, Quote]) -> dict[str, list[float]]:
    """Completed closes per symbol from the cache. A cache one session behind (the next day's
    run) is completed with the quotes' previous close; history is fetched only for symbols
    that miss more."""
    today, sessions = _market_date(quotes), run.config.ma_period
    latest_needed = previous_trading_day(today).isoformat()
    start = _window_start(today, sessions).isoformat()
    symbols = nifty50_symbols()
    cached = run.store.candles_of(symbols, start, until=latest_needed)
    quoted = {symbol: [candle] for symbol, candle in _quoted_closes(quotes, today).items()
              if _one_session_behind(cached.get(symbol, []), latest_needed, sessions)}
    run.store.upsert_candles_of(quoted)
    fetched = []
    for symbol in symbols:
        rows = cached.get(symbol, []) + quoted.get(symbol, [])
        if len(rows) < sessions or rows[-1]["date"] < latest_needed:
            fetch_from = date.fromisoformat(rows[-1]["date"]) + timedelta(days=1) \
                if len(rows) >= sessions else date.fromisoformat(start)
            _fetch_candles(run, symbol, fetch_from, date.fromisoformat(latest_needed))
            fetched.append(symbol)
    if fetched:
        cached.update(run.store.candles_of(fetched, start, until=latest_needed))
    logger.info("candles up to %s: %s", latest_needed,
                _candle_sources(len(symbols), len(quoted), len(fetched)))
    return {symbol: [c["close"] for c in cached.get(symbol, []) + quoted.get(symbol, [])]
            for symbol in symbols}


def _candle_sources(symbols: int, quoted: int, fetched: int) -> str:
    """'48 from the cache, 2 completed with the quotes' previous close' (only the parts that
    happened: 'all 50 from the cache' on an ordinary day)."""
    cached = symbols - quoted - fetched
    parts = [f"{'all ' if cached == symbols else ''}{cached} from the cache" if cached else "",
             f"{quoted} completed with the quotes' previous close" if quoted else "",
             f"{fetched} fetched from Fyers' history" if fetched else ""]
    return ", ".join(part for part in parts if part)


def _quoted_closes(quotes: Mapping[str, Quote], today: date) -> dict[str, dict[str, Any]]:
    """The previous session's candle (its close only) from each quote of today's session. A
    quote's previous close belongs to the session before its own: before today's open, or on
    a holiday, that is a session older than the one before today, so such quotes give none."""
    yesterday = previous_trading_day(today).isoformat()
    return {symbol: {"date": yesterday, "close": quote.prev_close}
            for symbol, quote in quotes.items()
            if quote.served_at and session_at(quote.served_at) == today and quote.prev_close > 0}


def _one_session_behind(rows: Sequence[dict[str, Any]], latest_needed: str,
                        sessions: int) -> bool:
    """True when cached `rows` lack only the `latest_needed` session of a full window."""
    before = previous_trading_day(date.fromisoformat(latest_needed)).isoformat()
    return len(rows) + 1 >= sessions and bool(rows) and rows[-1]["date"] == before


def _fetch_candles(run: RunContext, symbol: str, start: date, end: date) -> None:
    """Cache the completed daily candles of [start, end]."""
    candles = [asdict(c) for c in run.broker.history(symbol, start, end) if c.date <= end.isoformat()]
    if candles:
        run.store.upsert_candles(symbol, candles)
    logger.debug("cached %d candles of %s from %s", len(candles), symbol, start)


# --- reconcile -------------------------------------------------------------------------------
def _broker_quantities(broker: FyersBroker) -> dict[str, int]:
    """Shares the broker account holds now, per symbol: what holdings held when the day
    began (`quantity`) plus today's net position, which counts today's buys and every sale
    of today, a sale by hand of a holding included. (`remainingQuantity` already takes
    today's sales off the start-of-day quantity; adding the net position to it would take
    them off twice.)"""
    quantities: dict[str, int] = {}
    for holding in broker.holdings():
        quantities[holding.symbol] = quantities.get(holding.symbol, 0) + holding.start_qty
    for position in broker.positions():
        quantities[position.symbol] = quantities.get(position.symbol, 0) + position.net_qty
    return quantities


def _reconcile(run: RunContext, ltps: Mapping[str, float]) -> None:
    """Record quantity the bot holds but the broker no longer shows as a manual SELL."""
    positions = run.store.get_positions()
    if not positions:
        return
    held = _broker_quantities(run.broker)
    gone = [(position, min(position["qty"] - held.get(position["symbol"], 0), position["qty"]))
            for position in positions]
    gone = [(position, qty) for position, qty in gone if qty > 0]
    if not gone:
        return
    fills = run.broker.tradebook()
    prices = _with_quotes_of(run, ltps, [position["symbol"] for position, _ in gone])
    for position, qty in gone:
        _record_manual_sell(run, position, qty, fills, prices)


def _with_quotes_of(run: RunContext, ltps: Mapping[str, float], symbols: Sequence[str]
                    ) -> Mapping[str, float]:
    """`ltps` with the last prices of those `symbols` it lacks (a holding that has since left
    the NIFTY 50, whose quotes the run read), asked in one call; as they were when Fyers
    cannot say."""
    missing = [symbol for symbol in symbols if symbol not in ltps]
    if not missing:
        return ltps
    try:
        quoted = run.broker.quotes(missing)
    except BrokerError as exc:
        logger.warning("no last price for %s: %s", ", ".join(missing), exc)
        return ltps
    return {**ltps, **{symbol: quote.ltp for symbol, quote in quoted.items()}}


def _record_manual_sell(run: RunContext, position: dict[str, Any], qty: int,
                        fills: Sequence[Fill], ltps: Mapping[str, float]) -> None:
    """One manual SELL at the tradebook price of the owner's own sale. Today's tradebook
    without it (sold on an earlier day), the sale is valued at the last price, else at the
    average buy price, and its id marks it as an estimate (portfolio.ESTIMATED_SALE_ID,
    AT_COST_SALE_ID), which every page then says."""
    symbol = position["symbol"]
    own = [f for f in fills if f.symbol == symbol and f.side == SIDE_SELL
           and run.store.get_order(f.tag) is None]
    sold = sum(f.qty for f in own)
    price = (sum(f.qty * f.price for f in own) / sold) if sold else ltps.get(symbol)
    estimate = ESTIMATED_SALE_ID if price is not None else AT_COST_SALE_ID
    if price is None:
        price = position["avg_price"]
    trade_id = own[-1].order_id if own else f"{estimate}{run.run_id}-{symbol}"
    trade, after = sell_trade(position, qty, price)
    trade.update(trade_id=trade_id, run_id=run.run_id, order_tag=None, symbol=symbol,
                 source="manual")
    logger.warning("%s: %d shares the bot held are gone at the broker, sold by hand: %s, %s",
                   symbol, qty, hand_sale(trade), pnl_words(trade))
    if not run.dry_run and run.store.record_trade(trade, after):
        run.result.manual.append(trade)


# --- the summary ---------------------------------------------------------------------------
NO_ORDER = "no order: nothing met the entry, exit or averaging rules"
# With the day's new entries used up, no entry was looked for: the summary's note says why.
NO_ORDER_BUDGET_SPENT = "no order: nothing met the exit or averaging rules"
Deal = tuple[str, str, int, float, float | None]  # side, symbol, qty, price, P&L of a sale


def no_order(result: RunResult) -> str:
    """Why the rules asked for nothing."""
    return NO_ORDER_BUDGET_SPENT if result.entry_budget_spent else NO_ORDER


def deals_sentence(deals: Sequence[Deal], bought: str, sold: str) -> str:
    """'sold 3 TCS for ₹9,600.00 (P&L ₹600.00); bought 5 BAJAJFINSV for ₹8,379.00' with the
    given verbs, sales first as the rules decide them; '' when there are none."""
    clauses = []
    for side, verb in (("SELL", sold), ("BUY", bought)):
        mine = [deal for deal in deals if deal[0] == side]
        if not mine:
            continue
        items = ", ".join(f"{qty} {ticker(symbol)} for {inr(qty * price)}"
                          for _, symbol, qty, price, _ in mine)
        pnl = [deal[4] for deal in mine if deal[4] is not None]
        clauses.append(f"{verb} {items}" + (f" (P&L {inr(sum(pnl))})" if pnl else ""))
    return "; ".join(clauses)


def _intent_deals(result: RunResult) -> list[Deal]:
    """The run's decisions, at the prices they were decided on, as deals for deals_sentence()."""
    return [(i.side, i.symbol, i.qty, i.price, None) for i in result.intents]


def _fill_deals(result: RunResult) -> list[Deal]:
    """The run's fills as deals for deals_sentence()."""
    return [(t["side"], t["symbol"], t["qty"], t["price"], t["pnl"]) for t in result.fills]


def _counted(records: Sequence[Any], one: str, many: str) -> list[str]:
    """['1 order refused'] or ['2 orders refused'] style, [] when there are none."""
    if not records:
        return []
    return [f"{len(records)} {one if len(records) == 1 else many}"]


def _order_clauses(result: RunResult) -> list[str]:
    """What became of the orders that did not fill wholly, the ones NSE's close held back and
    the ones waiting at Fyers for the open, counted (order_outcomes.counted)."""
    held = [f"{len(result.held_back)} order{'' if len(result.held_back) == 1 else 's'} not "
            f"placed: {result.closed}"] if result.held_back and not _all_held(result) else []
    return [*counted(result.incomplete), *held,
            *_counted(result.waiting, "order waiting at Fyers for the open",
                      "orders waiting at Fyers for the open"),
            *_counted(result.unsettled, "order still open at Fyers after the bot tried to cancel it",
                      "orders still open at Fyers after the bot tried to cancel them")]


def _all_held(result: RunResult) -> bool:
    """True when NSE was closed for the whole run: it placed nothing."""
    return bool(result.closed) and len(result.held_back) == len(result.intents) \
        and not (result.fills or result.incomplete or result.waiting or result.unsettled)


def _summary(result: RunResult, dry_run: bool) -> str:
    """The run in one sentence, e.g. 'Bought 5 BAJAJFINSV for ₹8,379.00.', followed by sales
    made by hand, orders that did not fill wholly (in order_outcomes' words), orders NSE's
    close held back and the run's notes (e.g. the day's entry budget spent), when any. Outside
    the session: 'NSE is closed until Mon 09:15 IST: nothing was placed; would buy …'."""
    if dry_run:
        said = deals_sentence(_intent_deals(result), "would buy", "would sell")
        opening = f"Dry run, nothing placed: {said}" if said else \
            f"Dry run: {no_order(result)}"
        notes = [result.closed] if result.closed else []
    elif _all_held(result):
        said = deals_sentence(_intent_deals(result), "would buy", "would sell")
        opening = f"{result.closed}: nothing was placed" + (f"; {said}" if said else
                                                            f" ({no_order(result)})")
        notes = []
    else:
        said = deals_sentence(_fill_deals(result), "bought", "sold")
        # An order still open at Fyers may have filled in part: its fill is recorded when a
        # run settles it, so until then nothing is "bought" yet, but not "nothing" either.
        nothing = "nothing recorded as bought or sold yet" if result.unsettled else \
            "nothing bought or sold"
        opening = (said or (nothing if result.intents else no_order(result)))
        opening = opening[0].upper() + opening[1:]
        notes = _order_clauses(result)
    return "; ".join([opening, *_hand_sales(result.manual, "recorded"), *notes,
                      *result.notes]) + "."


def _hand_sales(manual: Sequence[dict[str, Any]], verb: str) -> list[str]:
    """['1 sale made by hand recorded'], those the tradebook did not show counted apart: '1 sale
    made by hand before today recorded at an estimated price (not in today's tradebook)'."""
    estimated = [trade for trade in manual if estimated_price(trade["trade_id"])]
    known = [trade for trade in manual if trade not in estimated]
    at_a_guess = "at an estimated price (not in today's tradebook)"
    return [*_counted(known, f"sale made by hand {verb}", f"sales made by hand {verb}"),
            *_counted(estimated, f"sale made by hand before today {verb} {at_a_guess}",
                      f"sales made by hand before today {verb} {at_a_guess}")]
