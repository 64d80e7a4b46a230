"""The sandbox account: orders, trades, holdings lots and cash, as plain JSON-able data.

Matching is simple on purpose: orders fill at the prices the caller passes in (orders.py
decides when and how much). Holdings are kept as lots (symbol, qty, price, trade date)
consumed first-in first-out by sells; a lot remembers what was sold of it today, so holdings
can show both the start-of-day quantity and what remains. Today's lots are positions, not
holdings; yesterday's are T1 (bought, not yet settled), older ones HLD.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from fyers_sandbox.market import IST, MARKET_CLOSE, previous_session

STATUS_CANCELLED = 1
STATUS_TRADED = 2
STATUS_TRANSIT = 4
STATUS_REJECTED = 5
STATUS_PENDING = 6
STATUS_EXPIRED = 7
STARTING_CASH = 1_000_000.0


ORDER_TIME = "%d-%b-%Y %H:%M:%S"  # the orderbook's, e.g. '26-Nov-2026 10:15:02' (IST)


def fyers_time(moment: datetime) -> str:
    """A moment in the orderbook's time format."""
    return moment.astimezone(IST).strftime(ORDER_TIME)


def placed_at(order: dict) -> datetime:
    """When an order was placed, from its orderbook time."""
    return datetime.strptime(order["orderDateTime"], ORDER_TIME).replace(tzinfo=IST)


def partial_qty(qty: int, ratio: float) -> int:
    """How much of `qty` a partial fill trades: at least 1, less than all when possible."""
    return max(1, min(qty - 1, math.floor(qty * ratio))) if qty > 1 else qty


@dataclass
class Book:
    """Everything the sandbox account holds; `to_dict`/`from_dict` persist it."""

    cash: float = STARTING_CASH
    next_id: int = 1
    orders: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    lots: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Book:
        return cls(**data)

    # --- orders -------------------------------------------------------------------------
    def new_order(self, symbol: str, qty: int, side: int, tag: str, now: datetime) -> dict:
        """Record a new order in transit and return it."""
        order = {"id": f"{now.astimezone(IST):%y%m%d}{self.next_id:08d}", "symbol": symbol,
                 "qty": qty, "filledQty": 0, "remainingQuantity": qty, "tradedPrice": 0.0,
                 "status": STATUS_PENDING, "side": side, "type": 2, "productType": "CNC",
                 "limitPrice": 0.0, "stopPrice": 0.0, "orderValidity": "DAY",
                 "orderTag": tag, "message": "",
                 "orderDateTime": fyers_time(now), "segment": 10, "exchange": 10}
        self.next_id += 1
        self.orders.append(order)
        return order

    def orders_shown(self, now: datetime) -> list[dict]:
        """The order book at `now`: the orders placed since the close of the session before
        today, as Fyers' book starts afresh each day; those placed after a close (AMOs) are
        in the next session's book."""
        since = datetime.combine(previous_session(now.astimezone(IST).date()), MARKET_CLOSE, IST)
        return [order for order in self.orders if placed_at(order) >= since]

    def expire(self, order: dict) -> None:
        """A DAY order whose remainder did not fill by the close."""
        order.update(status=STATUS_EXPIRED, message="Expired: not filled by the close",
                     remainingQuantity=0)

    def reject(self, order: dict, message: str) -> None:
        order.update(status=STATUS_REJECTED, message=message, remainingQuantity=0)

    def cancel(self, order: dict) -> None:
        order.update(status=STATUS_CANCELLED, message="Cancelled by user", remainingQuantity=0)
        order.pop("_cancel_after_reads", None)

    def cancel_slowly(self, order: dict, reads: int) -> None:
        """A cancel the exchange has not confirmed yet: the order shows in transit (status 4)
        to the next `reads` orderbook reads of it, then cancelled."""
        order.update(status=STATUS_TRANSIT, message="Cancel request sent to exchange",
                     _cancel_after_reads=reads)

    def read_order(self, order: dict) -> None:
        """An orderbook read of `order`: a slow cancel comes one read nearer its end."""
        if "_cancel_after_reads" in order:
            order["_cancel_after_reads"] -= 1
            if order["_cancel_after_reads"] < 0:
                self.cancel(order)

    def sellable(self, symbol: str) -> int:
        """Quantity held (today's buys, T1 and HLD) minus what pending sells already claim."""
        held = sum(lot["qty"] for lot in self.lots if lot["symbol"] == symbol)
        claimed = sum(order["remainingQuantity"] for order in self.orders
                      if order["symbol"] == symbol and order["side"] == -1
                      and order["status"] == STATUS_PENDING)
        return held - claimed

    def fill(self, order: dict, qty: int, price: float, now: datetime) -> None:
        """Trade `qty` more of `order` at `price`; it is traded once nothing remains."""
        done = order["filledQty"]
        order["tradedPrice"] = round((order["tradedPrice"] * done + price * qty) / (done + qty), 2)
        order["filledQty"] = done + qty
        order["remainingQuantity"] = order["qty"] - order["filledQty"]
        if order["remainingQuantity"] == 0:
            order.update(status=STATUS_TRADED, message="TRADE CONFIRMED")
        self._trade(order["id"], order["symbol"], order["side"], qty, price,
                    order["orderTag"], now)

    def pending(self) -> list[dict]:
        return [order for order in self.orders if order["status"] == STATUS_PENDING]

    # --- trades and lots ----------------------------------------------------------------
    def _trade(self, order_id: str, symbol: str, side: int, qty: int, price: float,
               tag: str, now: datetime) -> None:
        today = now.astimezone(IST).date().isoformat()
        realized = 0.0
        if side == 1:
            self.cash -= qty * price
            self.lots.append({"symbol": symbol, "qty": qty, "price": price, "date": today})
        else:
            self.cash += qty * price
            realized = sum((price - cost) * taken
                           for taken, cost in self._take(symbol, qty, today))
        self.trades.append({"orderNumber": order_id, "symbol": symbol, "side": side,
                            "tradedQty": qty, "tradePrice": price, "tradeValue": qty * price,
                            "orderTag": tag, "orderDateTime": fyers_time(now),
                            "tradeNumber": f"{order_id}-{len(self.trades) + 1}",
                            "productType": "CNC", "date": today, "realized": realized})

    def _take(self, symbol: str, qty: int, today: str) -> list[tuple[int, float]]:
        """Remove `qty` from the symbol's lots, oldest first, noting today's sales on each
        lot; (qty, cost) per lot touched. Lots emptied on an earlier day are dropped."""
        self.lots = [lot for lot in self.lots if lot["qty"] > 0 or lot.get("sold_on") == today]
        taken = []
        for lot in [lot for lot in self.lots if lot["symbol"] == symbol and lot["qty"] > 0]:
            if qty == 0:
                break
            part = min(qty, lot["qty"])
            taken.append((part, lot["price"]))
            sold_before = lot.get("sold_today", 0) if lot.get("sold_on") == today else 0
            lot.update(qty=lot["qty"] - part, sold_on=today, sold_today=sold_before + part)
            qty -= part
        return taken

    def manual_sell(self, symbol: str, qty: int, price: float, now: datetime) -> dict:
        """The owner sells by hand in the Fyers app: an untagged order, filled at once."""
        order = self.new_order(symbol, qty, -1, "", now)
        self.fill(order, qty, price, now)
        return order

    def trades_on(self, day: date) -> list[dict]:
        return [trade for trade in self.trades if trade["date"] == day.isoformat()]

    def holding_rows(self, today: date, settled_before: date
                     ) -> list[tuple[str, str, int, int, float]]:
        """(symbol, T1|HLD, quantity at the start of `today`, quantity remaining, average
        cost) per symbol and type; lots bought `today` are positions and left out, lots of
        `settled_before` or later (the previous session) are T1."""
        groups: dict[tuple[str, str], list[dict]] = {}
        for lot in self.lots:
            if lot["date"] >= today.isoformat():
                continue
            kind = "T1" if lot["date"] >= settled_before.isoformat() else "HLD"
            groups.setdefault((lot["symbol"], kind), []).append(lot)
        rows = []
        for (symbol, kind), lots in sorted(groups.items()):
            start = sum(_start_qty(lot, today) for lot in lots)
            if start == 0:
                continue
            cost = sum(_start_qty(lot, today) * lot["price"] for lot in lots) / start
            rows.append((symbol, kind, start, sum(lot["qty"] for lot in lots), round(cost, 2)))
        return rows


def _start_qty(lot: dict[str, Any], today: date) -> int:
    """What the lot held when `today` began: what is left plus what was sold of it today."""
    return lot["qty"] + (lot.get("sold_today", 0) if lot.get("sold_on") == today.isoformat() else 0)
