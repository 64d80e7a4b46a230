"""Paper vs backtest: the paper period's days replayed by the backtest engine on the store's
cached candles, with the same settings and capital, side by side with what paper trading did,
and a reason for every difference (docs/paper.md).

`compare()` is pure (tested without I/O); `replay()` reads the store and runs the engine.
The backtest fills at the day's close (± its slippage, net of charges); the paper run at the
price of its own time, as the simulator filled it. Both sides' realized P&L is net of charges,
counted the backtest's way: a sale's less its own charges and those of its symbol's buys since
the last sale (the paper fills' charges are the simulator's, broker/paper_fills.charges). A day
enters the replay once its close is cached, which the next day's run does.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import india_time
import paper_mode
import strategy_settings
from backtesting.data import DataError, SymbolHistory
from backtesting.engine import Settings, Trade, prepare_market, simulate
from broker import paper_fills
from config import Config
from order_outcomes import TRADED, phrase
from portfolio import day_label, inr, ticker
from run_steps import nothing_placed
from store.base import Store
from universe import nifty50_symbols

PAPER_ORDER_DAY = re.compile(r"^P(\d{2})(\d{2})(\d{2})\d{6}$")  # broker/paper_fills.place()
WARMUP_MARGIN_DAYS = 30


@dataclass(frozen=True)
class Difference:
    """One trade that is not the same in both: the day, the symbol, what each side did."""

    day: str
    symbol: str
    side: str
    paper: str  # e.g. '5 @ ₹1,671.05', or '—'
    backtest: str
    reason: str


@dataclass(frozen=True)
class Comparison:
    """The paper book and its backtest replay over the same days."""

    first_day: str
    last_day: str
    days: int
    paper_trades: int
    backtest_trades: int
    paper_pnl: float  # realized, net of charges as the backtest counts them (_net_of_charges)
    backtest_pnl: float  # realized, net of charges, as the backtest reports it
    paper_costs: float  # the simulator's charges on the paper fills
    backtest_costs: float
    matched: int
    differences: list[Difference]


def paper_day(trade: Mapping[str, Any]) -> str:
    """The Fyers day of a paper trade: in its order id (P + YYMMDD + number), else its time."""
    found = PAPER_ORDER_DAY.match(str(trade["trade_id"]))
    return f"20{found[1]}-{found[2]}-{found[3]}" if found else india_time.date_of(trade["ts"])


def _shown(qty: int, price: float) -> str:
    return f"{qty} @ {inr(price)}"


def _missing_reason(day: str, symbol: str, side: str, run_days: set[str],
                    orders: Mapping[tuple[str, str, str], dict[str, Any]],
                    held_back: Mapping[str, str]) -> str:
    """Why paper trading has no trade where the backtest has one."""
    order = orders.get((day, symbol, side))
    if order is not None and order["status"] != TRADED:  # in the order list's words
        return f"not filled on paper: {phrase(order)}"
    if day not in run_days:  # a run that placed nothing (NSE closed) says why, in its words
        return held_back.get(day) or "the bot did not run that day"
    return ("decided otherwise: the run saw the price at its own time, the backtest the close "
            "(or the books had already differed)")


def compare(paper_trades: Sequence[Mapping[str, Any]], paper_orders: Sequence[Mapping[str, Any]],
            run_days: Iterable[str], backtest: Sequence[Trade], days: Sequence[str],
            closes: Mapping[tuple[str, str], float],
            held_back: Mapping[str, str] | None = None) -> Comparison:
    """Pair paper and backtest trades by (day, symbol, side) over `days` and name each
    difference: slippage against the close, a partial or missing fill, a day without a run (or
    whose runs placed nothing: `held_back` maps such a day to why), a different decision.
    `run_days` are the days of runs that could place orders; `closes` maps (day, symbol) to the
    day's close."""
    wanted = set(days)
    bot_trades = [t for t in paper_trades if t["source"] == "bot" and paper_day(t) in wanted]
    paper = _by_day_symbol_side(bot_trades)
    tested = {(t.date, t.symbol, t.side): t for t in backtest if t.date in wanted}
    orders = {(paper_day({"trade_id": o["broker_order_id"] or "", "ts": o["created_at"]}),
               o["symbol"], o["side"]): o for o in paper_orders}
    ran = set(run_days) | {key[0] for key in paper}
    differences, matched = [], 0
    diverged: dict[str, str] = {}  # symbol → the first difference in what the books hold
    for key in sorted(set(paper) | set(tested)):
        day, symbol, side = key
        ours, theirs = paper.get(key), tested.get(key)
        earlier = diverged.get(symbol)
        if ours is None or theirs is None:
            reason = (f"follows from {earlier}: the books hold different {ticker(symbol)}"
                      if earlier else _missing_reason(day, symbol, side, ran, orders,
                                                      held_back or {})
                      if ours is None else "decided otherwise: the backtest did not (the close "
                      "vs the run's price, its cash, or books that differed)")
            diverged.setdefault(symbol, f"{day_label(day)}'s {side.lower()}")
            differences.append(Difference(day, ticker(symbol), side,
                                          _shown(ours["qty"], ours["price"]) if ours else "—",
                                          _shown(theirs.qty, theirs.price) if theirs else "—",
                                          reason))
            continue
        matched += 1
        reason = _fill_reason(ours, theirs, closes.get((day, symbol)), orders.get(key))
        if ours["qty"] != theirs.qty:
            diverged.setdefault(symbol, f"{day_label(day)}'s {side.lower()}")
        if reason:
            differences.append(Difference(day, ticker(symbol), side,
                                          _shown(ours["qty"], ours["price"]),
                                          _shown(theirs.qty, theirs.price), reason))
    paper_pnl, paper_costs = _net_of_charges(bot_trades)
    return Comparison(min(days, default=""), max(days, default=""), len(days), len(bot_trades),
                      len(tested), paper_pnl, round(sum(t.pnl or 0.0 for t in tested.values()), 2),
                      paper_costs, round(sum(t.costs for t in tested.values()), 2), matched,
                      differences)


def _net_of_charges(trades: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """(realized P&L net of charges, the charges) of paper `trades`, counted as the backtest
    engine counts its own: each fill's charges as the simulator took them (the DP charge on a
    scrip's first sale of its day), and a sale's P&L less its charges and those of its
    symbol's buys since the last sale."""
    pnl, charged = 0.0, 0.0
    unset: dict[str, float] = {}  # symbol → buy charges not yet set against a sale
    sold: set[tuple[str, str]] = set()  # (day, symbol) sold once already: no second DP charge
    for trade in sorted(trades, key=lambda t: (t["ts"], t["trade_id"])):
        symbol, day_symbol = trade["symbol"], (paper_day(trade), trade["symbol"])
        cost = paper_fills.charges(trade["side"], trade["qty"] * trade["price"],
                                   trade["side"] == "SELL" and day_symbol not in sold)
        charged += cost
        if trade["side"] == "BUY":
            unset[symbol] = unset.get(symbol, 0.0) + cost
            continue
        sold.add(day_symbol)
        pnl += (trade["pnl"] or 0.0) - cost - unset.pop(symbol, 0.0)
    return round(pnl, 2), round(charged, 2)


def _by_day_symbol_side(trades: Sequence[Mapping[str, Any]]
                        ) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The paper trades by (day, symbol, side), as the backtest trades once a day: two runs'
    buys of one symbol on one day are one buy of their quantities at their average price."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for trade in trades:
        key = (paper_day(trade), trade["symbol"], trade["side"])
        held = merged.get(key)
        if held is None:
            merged[key] = dict(trade)
            continue
        qty = held["qty"] + trade["qty"]
        held.update(price=(held["qty"] * held["price"] + trade["qty"] * trade["price"]) / qty,
                    qty=qty, pnl=None if held["pnl"] is None and trade["pnl"] is None
                    else (held["pnl"] or 0.0) + (trade["pnl"] or 0.0))
    return merged


def _fill_reason(ours: Mapping[str, Any], theirs: Trade, close: float | None,
                 order: Mapping[str, Any] | None) -> str:
    """Why a trade both made differs: a partial fill, or the price against the close."""
    if ours["qty"] != theirs.qty:
        said = f": {order['message']}" if order else ""
        return f"partly filled on paper, {ours['qty']} of {theirs.qty}{said}"
    if round(ours["price"], 2) == round(theirs.price, 2):
        return ""
    against = f"; the close {inr(close)}" if close is not None else ""
    return (f"slippage: paper filled at the price of its run's time{against}; the backtest "
            f"at the close ± its slippage")


# --- the replay: reads the store --------------------------------------------------------------
def replay(config: Config, store: Store) -> Comparison | None:
    """The paper book compared with the backtest over the paper days whose close is cached;
    None before the first paper run."""
    paper = store.for_book("paper")
    runs = [run for run in paper.list_runs(limit=10_000)
            if run["status"] in ("succeeded", "warning") and not run.get("dry_run")]
    trades = paper.list_trades()
    if not runs and not trades:
        return None
    days_and_why = [(india_time.date_of(run["started_at"]), nothing_placed(run)) for run in runs]
    run_days = {day for day, why in days_and_why if not why}
    held_back = {day: why for day, why in days_and_why if why}
    first = min(run_days | set(held_back) | {paper_day(t) for t in trades})
    config = strategy_settings.for_runs(config, store)
    since = date.fromisoformat(first) - timedelta(days=2 * config.ma_period + WARMUP_MARGIN_DAYS)
    cached = store.candles_of(nifty50_symbols(), since.isoformat())
    try:
        histories = {symbol: SymbolHistory.from_rows(symbol, rows) for symbol, rows in cached.items()}
        market = prepare_market(histories, config.ma_period)
    except DataError:
        return None
    days = [day for day in market.dates if day >= first]
    backtest: list[Trade] = []
    if days:
        capital = paper_mode.paper_money(config, store).capital  # the account's, not the setting's
        result = simulate(market, config.strategy_params(), Settings(capital=capital),
                          date.fromisoformat(days[0]), date.fromisoformat(days[-1]))
        backtest = result.trades
    closes = {(row["date"], symbol): row["close"] for symbol, rows in cached.items()
              for row in rows if row["date"] >= first}
    return compare(trades, paper.list_orders(), run_days, backtest, days, closes, held_back)
