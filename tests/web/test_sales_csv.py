"""The owner's books: every sale with its buy date, holding days and the bot's average-cost P&L,
downloaded from the Trading page."""
from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

import trade_books
from config import IST
from tests.web.conftest import AuthActions


def at(day: int, hour: int = 15, minute: int = 12) -> float:
    """Epoch seconds of a November 2026 IST time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=IST).timestamp()


def trade(trade_id: str, side: str, qty: int, price: float, ts: float, pnl: float | None = None,
          symbol: str = "NSE:ITC-EQ", source: str = "bot") -> dict:
    return {"trade_id": trade_id, "run_id": "r", "order_tag": None, "symbol": symbol,
            "side": side, "qty": qty, "price": price, "ts": ts, "pnl": pnl, "source": source}


HISTORY = [  # as the bot records them: pnl = (price - average buy price) × qty
    trade("b1", "BUY", 10, 100.0, at(2)),
    trade("b2", "BUY", 10, 90.0, at(4)),             # averaged down: 20 at 95
    trade("s1", "SELL", 20, 101.0, at(10), 120.0),   # the holding opened on the 2nd is closed
    trade("b3", "BUY", 5, 100.0, at(12)),
    trade("s2", "SELL", 2, 110.0, at(16), 20.0),      # part of the holding opened on the 12th
    trade("s3", "SELL", 3, 90.0, at(20, 23, 50), -30.0, source="manual"),
    trade("t1", "BUY", 1, 3500.0, at(3), symbol="NSE:TCS-EQ"),
]


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_one_row_per_sale_with_the_day_its_holding_was_opened():
    sales = [sale.csv_row() for sale in trade_books.sales(reversed(HISTORY))]  # newest first
    assert [(s["trade_id"], s["buy_date"], s["sell_date"], s["holding_days"]) for s in sales] == [
        ("s1", "2026-11-02", "2026-11-10", 8), ("s2", "2026-11-12", "2026-11-16", 4),
        ("s3", "2026-11-12", "2026-11-20", 8)]
    first = sales[0]
    assert (first["avg_buy_price"], first["sell_price"], first["buy_value"], first["sell_value"],
            first["pnl"]) == ("95.00", "101.00", "1900.00", "2020.00", "120.00")
    assert sales[2]["source"] == "manual" and sales[2]["pnl"] == "-30.00"


def test_dates_are_indian_dates():
    late_evening_utc = datetime(2026, 11, 26, 20, 0, tzinfo=IST).timestamp() + 5 * 3600
    [sale] = [sale.csv_row() for sale in trade_books.sales([
        trade("b", "BUY", 1, 10.0, at(25)), trade("s", "SELL", 1, 11.0, late_evening_utc, 1.0)])]
    assert sale["sell_date"] == "2026-11-27" and sale["holding_days"] == 2


def test_a_sale_without_a_recorded_buy_leaves_the_buy_date_empty():
    [sale] = [sale.csv_row() for sale in trade_books.sales([trade("s", "SELL", 2, 50.0, at(5), 4.0)])]
    assert (sale["buy_date"], sale["holding_days"], sale["avg_buy_price"]) == ("", "", "48.00")


@pytest.fixture
def auth(client) -> AuthActions:
    actions = AuthActions(client)
    actions.login()
    return actions


def test_the_trading_page_downloads_the_sales_as_csv(auth, db):
    for record in HISTORY:
        db.record_trade(record, None)
    page = auth.client.get("/trading").get_data(as_text=True)
    assert 'href="/trading/sales.csv" download' in page
    response = auth.client.get("/trading/sales.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="nifty-shop-sales-')
    downloaded = rows(response.get_data(as_text=True))
    assert [row["trade_id"] for row in downloaded] == ["s1", "s2", "s3"]
    assert downloaded[0]["holding_days"] == "8" and downloaded[0]["pnl"] == "120.00"


def test_the_download_needs_a_login(client):
    response = client.get("/trading/sales.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_latest_trades_pair_sales_with_their_buys():
    """The Trading page reads only the latest trades: a holding opened before them has no buy
    date, one opened among them has its own."""
    latest = sorted(HISTORY, key=lambda t: t["ts"], reverse=True)[:4]  # s3, s2, b3, s1
    held = trade_books.held_before(latest, [{"symbol": "NSE:TCS-EQ", "qty": 1}])
    assert held == {"NSE:ITC-EQ": 20, "NSE:TCS-EQ": 1}
    sales = trade_books.sales(latest, held_before=held)
    opened_12th = datetime.fromtimestamp(at(12), IST).date()
    assert [(s.trade_id, s.bought_on, s.holding_days) for s in sales] == [
        ("s1", None, None), ("s2", opened_12th, 4), ("s3", opened_12th, 8)]
    assert [s.trade_id for s in trade_books.sales(latest, held_before=held, last=2)] == [
        "s2", "s3"]
