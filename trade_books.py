"""The owner's books: one row per sale, with the buy date, sell date, holding days and P&L, as
CSV (the Trading page's download and `verify_db.py --collection trades --csv`).

P&L is the bot's own, by average cost: a sale's P&L is (sale price − average buy price) × qty,
the average over the buys of the holding it sells from (averaging down raises the quantity and
moves the average). The buy date is the day that holding was opened: its first buy after it was
last empty. Dates are IST; amounts are rupees to the paisa.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from config import IST
from store.common import to_paise

COLUMNS = ("symbol", "qty", "buy_date", "sell_date", "holding_days", "avg_buy_price",
           "sell_price", "buy_value", "sell_value", "pnl", "source", "trade_id")


def _ist_date(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, IST)


def _rupees(paise: int) -> str:
    return f"{paise / 100:.2f}"


def sales(trades: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per SELL, oldest first, from every trade of the store (in any order)."""
    opened: dict[str, float] = {}
    held: dict[str, int] = {}
    rows = []
    for trade in sorted(trades, key=lambda t: (t["ts"], t["trade_id"])):
        symbol = trade["symbol"]
        if trade["side"] == "BUY":
            if held.get(symbol, 0) <= 0:
                opened[symbol] = trade["ts"]
            held[symbol] = held.get(symbol, 0) + trade["qty"]
            continue
        rows.append(_sale_row(trade, opened.get(symbol)))
        held[symbol] = held.get(symbol, 0) - trade["qty"]
        if held[symbol] <= 0:
            opened.pop(symbol, None)
    return rows


def _sale_row(trade: Mapping[str, Any], opened_at: float | None) -> dict[str, Any]:
    """A sale's row; the buy side follows from its P&L, so the two always agree."""
    qty, sell_price = trade["qty"], to_paise(trade["price"])
    sell_value = sell_price * qty
    buy_value = sell_value - to_paise(trade["pnl"] or 0.0)
    sold_on = _ist_date(trade["ts"]).date()
    bought_on = _ist_date(opened_at).date() if opened_at is not None else None
    return {"symbol": trade["symbol"], "qty": qty,
            "buy_date": bought_on.isoformat() if bought_on else "",
            "sell_date": sold_on.isoformat(),
            "holding_days": (sold_on - bought_on).days if bought_on else "",
            "avg_buy_price": _rupees(round(buy_value / qty)), "sell_price": _rupees(sell_price),
            "buy_value": _rupees(buy_value), "sell_value": _rupees(sell_value),
            "pnl": _rupees(sell_value - buy_value), "source": trade["source"] or "",
            "trade_id": trade["trade_id"]}


def sales_csv(trades: Iterable[Mapping[str, Any]]) -> str:
    """The sales as CSV text with a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sales(trades))
    return out.getvalue()
