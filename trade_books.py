"""The owner's books: one row per sale, with the buy date, sell date, holding days and P&L, as
CSV (the Trading page's download and `verify_db.py --collection trades --csv`).

P&L is the bot's own, by average cost: a sale's P&L is (sale price − average buy price) × qty,
the average over the buys of the holding it sells from (averaging down raises the quantity and
moves the average). The buy date is the day that holding was opened: its first buy after it was
last empty. Dates are IST; amounts are rupees to the paisa. Each row names its book as the
pages do (paper_mode.book_label: paper, sandbox or real-money; docs/paper.md), so a paper or
sandbox sale is never read as a real-money one.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import india_time
from store.common import to_paise

COLUMNS = ("book", "symbol", "qty", "buy_date", "sell_date", "holding_days", "avg_buy_price",
           "sell_price", "buy_value", "sell_value", "pnl", "source", "trade_id")


@dataclass(frozen=True)
class Sale:
    """One sale with its buy side; money in rupees exact to the paisa (from whole paise)."""

    symbol: str
    qty: int
    bought_on: date | None  # the day its holding was opened; None when not in the trades read
    sold_on: date
    avg_buy_price: float
    sell_price: float
    buy_value: float
    sell_value: float
    pnl: float
    source: str
    trade_id: str

    @property
    def holding_days(self) -> int | None:
        """Calendar days from the buy date to the sale."""
        return (self.sold_on - self.bought_on).days if self.bought_on else None

    def csv_row(self, book: str = "real-money") -> dict[str, Any]:
        """The sale as a row of the CSV of `book` (its name as the pages say it): ISO dates,
        amounts with two decimals."""
        money = {name: f"{getattr(self, name):.2f}" for name in
                 ("avg_buy_price", "sell_price", "buy_value", "sell_value", "pnl")}
        return {"book": book, "symbol": self.symbol, "qty": self.qty,
                "buy_date": self.bought_on.isoformat() if self.bought_on else "",
                "sell_date": self.sold_on.isoformat(),
                "holding_days": "" if self.holding_days is None else self.holding_days,
                **money, "source": self.source, "trade_id": self.trade_id}


def sales(trades: Iterable[Mapping[str, Any]],
          held_before: Mapping[str, int] | None = None, last: int | None = None) -> list[Sale]:
    """One Sale per SELL, oldest first, from trades in any order: every trade of the store, or
    the latest ones with `held_before`, the shares per symbol held before the oldest of them
    (a holding opened before then has no buy date); only the `last` few when given."""
    held = {symbol: qty for symbol, qty in (held_before or {}).items() if qty > 0}
    opened: dict[str, float] = {}
    found: list[tuple[Mapping[str, Any], float | None]] = []
    for trade in sorted(trades, key=lambda t: (t["ts"], t["trade_id"])):
        symbol = trade["symbol"]
        if trade["side"] == "BUY":
            if held.get(symbol, 0) <= 0:
                opened[symbol] = trade["ts"]
            held[symbol] = held.get(symbol, 0) + trade["qty"]
            continue
        found.append((trade, opened.get(symbol)))
        held[symbol] = held.get(symbol, 0) - trade["qty"]
        if held[symbol] <= 0:
            opened.pop(symbol, None)
    return [_sale(trade, opened_at) for trade, opened_at in found[-last if last else 0:]]


def held_before(trades: Iterable[Mapping[str, Any]],
                positions: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Shares per symbol held before `trades` (the latest ones): what is held now, minus what
    they bought, plus what they sold."""
    held = {position["symbol"]: int(position["qty"]) for position in positions}
    for trade in trades:
        change = trade["qty"] if trade["side"] == "BUY" else -trade["qty"]
        held[trade["symbol"]] = held.get(trade["symbol"], 0) - change
    return held


def _sale(trade: Mapping[str, Any], opened_at: float | None) -> Sale:
    """A sale with its buy side; the buy side follows from its P&L, so the two always agree."""
    qty, sell_price = trade["qty"], to_paise(trade["price"])
    sell_value = sell_price * qty
    buy_value = sell_value - to_paise(trade["pnl"] or 0.0)
    return Sale(symbol=trade["symbol"], qty=qty,
                bought_on=india_time.day_of(opened_at) if opened_at is not None else None,
                sold_on=india_time.day_of(trade["ts"]), avg_buy_price=round(buy_value / qty) / 100,
                sell_price=sell_price / 100, buy_value=buy_value / 100,
                sell_value=sell_value / 100, pnl=(sell_value - buy_value) / 100,
                source=trade["source"] or "", trade_id=trade["trade_id"])


def sales_csv(trades: Iterable[Mapping[str, Any]], book: str = "real-money") -> str:
    """Every sale of `trades` (all of one book's, named `book` as the pages say it) as CSV
    text with a header row."""
    return books_csv({book: trades})


def books_csv(trades_by_book: Mapping[str, Iterable[Mapping[str, Any]]]) -> str:
    """The sales of each book in turn (its name as the pages say it → all its trades), each row
    naming its book, under one header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for book, trades in trades_by_book.items():
        writer.writerows(sale.csv_row(book) for sale in sales(trades))
    return out.getvalue()
