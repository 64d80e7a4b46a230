"""The paper account's rules, pure: how a simulated market order fills, what it costs, and how
the account (cash, holdings, the day's orders) changes. No I/O: PaperBroker (broker/paper.py)
keeps the account in the store and feeds it the quotes the run already read.

The fill model follows Fyers' 2026 rules as the sandbox models them (docs/paper.md): a market
order is an MPP order, a limit at a 1% protection band around the last price; most fill at once
near the last price, some only partly or not at all (the price left the band), decided from the
order's tag so a replay fills the same way. Costs are the delivery charges of
backtesting/costs.py plus the depository (DP) charge on the first sale of a scrip in a day.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from backtesting.costs import DeliveryCosts
from order_outcomes import PAPER_MARK

MPP_BAND = 0.01  # the sandbox's band (fyers_sandbox/orders.py): a limit 1% past the last price
FILLED_AT_ONCE = 0.90  # shares of paper market orders: fill at once / fill partly / none
FILLED_PARTLY = 0.05
SLIPPAGE_MAX = 0.0005  # a fill at most 0.05% worse than the last price read, within the band
# NSE's price step by price since 15 Apr 2025 (its cash-market circular, on Fyers' notice board):
# ₹0.01 below ₹250, then (up to and including this price, the step). NSE sets each stock's step
# monthly from the last month's close; the simulator takes the band of the price it rounds,
# which differs only near a band's edge.
BELOW_250 = 0.01
TICKS = ((1_000.0, 0.05), (5_000.0, 0.10), (10_000.0, 0.50), (20_000.0, 1.00), (math.inf, 5.00))
# Fyers' DP charge per scrip sold per day, plus 18% GST on it (fyers.in/pricing; CDSL's own fee
# is included in it). backtesting/costs.py has no DP charge: it prices one order, and the DP
# charge is per scrip and day, so it is added here.
DP_CHARGE = 12.0
DP_GST = 0.18
COSTS = DeliveryCosts()
STATUS_CANCELLED, STATUS_TRADED, STATUS_REJECTED = 1, 2, 5  # Fyers' orderbook codes


@dataclass(frozen=True)
class Fate:
    """How much of a market order fills, at what price, and what Fyers would say."""

    filled_qty: int
    price: float
    message: str


def _fraction(tag: str, purpose: str) -> float:
    """A number in [0, 1) fixed by the order's tag and `purpose`."""
    digest = hashlib.sha256(f"paper:{tag}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def tick_size(price: float) -> float:
    """NSE's price step at `price` (BELOW_250, TICKS)."""
    if price < 250.0:
        return BELOW_250
    return next(step for top, step in TICKS if price <= top)


def _tick(price: float) -> float:
    """`price` rounded to NSE's step for it."""
    step = tick_size(price)
    return round(round(price / step) * step, 2)


def fill_fate(tag: str, qty: int, side: int, ltp: float) -> Fate:
    """The simulated outcome of a market order for `qty` at last price `ltp` (side 1 buy, -1
    sell): a fill a little worse than `ltp`, within the MPP band, of all, part or none of it."""
    slipped = ltp * (1 + side * SLIPPAGE_MAX * _fraction(tag, "slippage"))
    limit = _tick(ltp * (1 + side * MPP_BAND))
    price = min(_tick(slipped), limit) if side == 1 else max(_tick(slipped), limit)
    fate = _fraction(tag, "fate")
    if fate >= FILLED_AT_ONCE + FILLED_PARTLY:
        return Fate(0, price, f"MPP: not filled, the price left the protection band (limit "
                              f"{limit:.2f}); cancelled {PAPER_MARK}")
    # A single share cannot part-fill: in the partial band it fills, so a 1-share order misses
    # only as often as a larger one (5%), not in both bands.
    if fate < FILLED_AT_ONCE or qty == 1:
        return Fate(qty, price, f"Traded {PAPER_MARK}")
    share = 0.25 + 0.5 * _fraction(tag, "share")
    part = max(1, min(qty - 1, math.floor(qty * share)))
    return Fate(part, price, f"MPP: {part} of {qty} filled, then the price left the "
                             f"protection band (limit {limit:.2f}); the rest cancelled {PAPER_MARK}")


def charges(side: str, value: float, first_sale_today: bool) -> float:
    """Rupees an order of `value` costs beyond its price: delivery charges, and the DP charge
    on the day's first sale of a scrip."""
    dp = DP_CHARGE * (1 + DP_GST) if side == "SELL" and first_sale_today else 0.0
    return round(COSTS.charges(side, value) + dp, 2)


# --- the account -------------------------------------------------------------------------------
def new_account(capital: float, day: str) -> dict[str, Any]:
    """An account holding `capital` rupees in cash and nothing else."""
    return {"capital": capital, "cash": capital, "charges": 0.0, "day": day, "holdings": {},
            "orders": [], "next_id": 1}


def as_of(account: dict[str, Any], day: str) -> dict[str, Any]:
    """The account on `day`: when it is later than the account's day, the fills of that day
    become holdings and its orderbook empties, as Fyers' does overnight."""
    if day <= account["day"]:
        return account
    return {**account, "day": day, "holdings": held_now(account), "orders": []}


def held_now(account: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-symbol {qty, avg} the account holds now: the day's start plus the day's fills."""
    holdings = {symbol: dict(held) for symbol, held in account["holdings"].items()}
    for order in account["orders"]:
        if order["filled_qty"]:
            _apply(holdings, order["symbol"], order["side"], order["filled_qty"], order["price"])
    return holdings


def _apply(holdings: dict[str, dict[str, Any]], symbol: str, side: int, qty: int,
           price: float) -> None:
    """Add a fill to per-symbol {qty, avg}: buys average in, sales take shares out."""
    held = holdings.get(symbol, {"qty": 0, "avg": 0.0})
    total = held["qty"] + side * qty
    avg = (held["qty"] * held["avg"] + qty * price) / total if side == 1 else held["avg"]
    if total > 0:
        holdings[symbol] = {"qty": total, "avg": round(avg, 4)}
    else:
        holdings.pop(symbol, None)


def sellable(account: dict[str, Any], symbol: str) -> int:
    """Shares of `symbol` the account holds now: the day's start plus the day's net fills."""
    held = account["holdings"].get(symbol, {}).get("qty", 0)
    return held + sum(order["side"] * order["filled_qty"] for order in account["orders"]
                      if order["symbol"] == symbol)


def refusal(account: dict[str, Any], symbol: str, qty: int, side: int, ltp: float | None,
            closed: str) -> str | None:
    """Why the RMS refuses the order now (`closed`: the market's closed sentence, '' when
    open), or None."""
    if closed:
        return f"RMS: market is closed ({closed}) {PAPER_MARK}"
    if ltp is None:
        return f"RMS: no price for {symbol} {PAPER_MARK}"
    if side == -1 and sellable(account, symbol) < qty:
        return f"RMS: insufficient holdings to sell {PAPER_MARK}"
    if side == 1 and account["cash"] < qty * ltp * (1 + MPP_BAND) + charges("BUY", qty * ltp, False):
        return f"RMS: insufficient funds {PAPER_MARK}"
    return None


def place(account: dict[str, Any], request: dict[str, Any], ltp: float | None, closed: str,
          at: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the account after, the order row) for a market order `request` {symbol, qty, side,
    tag} at Fyers time `at`: rejected, or filled as fill_fate() says, cash and charges taken."""
    symbol, qty, side, tag = request["symbol"], request["qty"], request["side"], request["tag"]
    order = {"id": f"P{account['day'].replace('-', '')[2:]}{account['next_id']:06d}",
             "symbol": symbol, "side": side, "qty": qty, "filled_qty": 0, "price": 0.0,
             "tag": tag, "at": at, "charges": 0.0}
    account = {**account, "next_id": account["next_id"] + 1}
    reason = refusal(account, symbol, qty, side, ltp, closed)
    if reason is not None:
        order.update(status=STATUS_REJECTED, message=reason)
        return {**account, "orders": [*account["orders"], order]}, order
    fate = fill_fate(tag, qty, side, ltp)
    first_sale = not any(o["symbol"] == symbol and o["side"] == -1 and o["filled_qty"]
                         for o in account["orders"])
    value = fate.filled_qty * fate.price
    cost = charges("BUY" if side == 1 else "SELL", value, first_sale) if fate.filled_qty else 0.0
    order.update(filled_qty=fate.filled_qty, price=fate.price, message=fate.message, charges=cost,
                 status=STATUS_TRADED if fate.filled_qty == qty else STATUS_CANCELLED)
    cash = round(account["cash"] - side * value - cost, 2)
    return {**account, "cash": cash, "charges": round(account["charges"] + cost, 2),
            "orders": [*account["orders"], order]}, order
