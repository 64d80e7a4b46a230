"""Profile, funds, holdings and positions of the sandbox account (Fyers v3 paths)."""
from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from fyers_sandbox.book import STARTING_CASH
from fyers_sandbox.core import ok, sandbox
from fyers_sandbox.market import previous_session

bp = Blueprint("portfolio", __name__, url_prefix="/api/v3")


@bp.get("/profile")
def profile() -> ResponseReturnValue:
    """The sandbox trader's profile."""
    return ok(data={"fy_id": "XS0001", "name": "Sandbox Trader", "display_name": "Sandbox",
                    "email_id": "trader@sandbox.invalid", "mobile_number": "9999999999",
                    "pan": "ABCDE1234F", "totp": False, "pin_change_date": "",
                    "pwd_to_expire": 90, "ddpi_enabled": True, "mtf_enabled": False})


@bp.get("/funds")
def funds() -> ResponseReturnValue:
    """Cash: total, available and realized profit, as Fyers' fund_limit rows."""
    box = sandbox()
    with box.state.lock:
        cash = round(box.state.book.cash, 2)
        realized = round(sum(trade["realized"] for trade in box.state.book.trades), 2)
    rows = [(1, "Total Balance", cash), (2, "Utilized Amount", 0.0),
            (3, "Clear Balance", cash), (4, "Realized Profit and Loss", realized),
            (9, "Limit at start of the day", STARTING_CASH), (10, "Available Balance", cash)]
    return ok(fund_limit=[{"id": row_id, "title": title, "equityAmount": amount,
                           "commodityAmount": 0.0} for row_id, title, amount in rows])


@bp.get("/holdings")
def holdings() -> ResponseReturnValue:
    """Holdings per symbol and type, as Fyers shows them since April 2026: `quantity` is what
    was held at the start of the day, `remainingQuantity` that minus today's sales; today's
    buys are positions, the previous session's are T1 until settled, older ones HLD."""
    box = sandbox()
    now = box.state.now()
    with box.state.lock:
        rows = box.state.book.holding_rows(now.date(), previous_session(now.date()))
    items = []
    for number, (symbol, kind, start, remaining, cost) in enumerate(rows, start=1):
        ltp = box.market.ltp(symbol, now)
        items.append({"id": number, "symbol": symbol, "holdingType": kind, "quantity": start,
                      "remainingQuantity": remaining, "costPrice": cost, "ltp": ltp,
                      "pl": round((ltp - cost) * remaining, 2),
                      "marketVal": round(ltp * remaining, 2), "segment": 10, "exchange": 10,
                      "qty_t1": start if kind == "T1" else 0})
    invested = round(sum(item["costPrice"] * item["remainingQuantity"] for item in items), 2)
    current = round(sum(item["marketVal"] for item in items), 2)
    overall = {"count_total": len(items), "total_investment": invested,
               "total_current_value": current, "total_pl": round(current - invested, 2),
               "pnl_perc": round((current - invested) / invested * 100, 2) if invested else 0.0}
    return ok(holdings=items, overall=overall)


def _average(trades: list[dict]) -> float:
    qty = sum(trade["tradedQty"] for trade in trades)
    return round(sum(t["tradedQty"] * t["tradePrice"] for t in trades) / qty, 2) if qty else 0.0


@bp.get("/positions")
def positions() -> ResponseReturnValue:
    """Today's net positions per symbol, from today's trades."""
    box = sandbox()
    now = box.state.now()
    with box.state.lock:
        trades = box.state.book.trades_on(now.date())
    rows = []
    for symbol in sorted({trade["symbol"] for trade in trades}):
        buys = [t for t in trades if t["symbol"] == symbol and t["side"] == 1]
        sells = [t for t in trades if t["symbol"] == symbol and t["side"] == -1]
        buy_qty = sum(t["tradedQty"] for t in buys)
        sell_qty = sum(t["tradedQty"] for t in sells)
        net_qty = buy_qty - sell_qty
        net_avg = _average(buys) if net_qty > 0 else _average(sells) if net_qty < 0 else 0.0
        ltp = box.market.ltp(symbol, now)
        realized = round(sum(t["realized"] for t in sells), 2)
        unrealized = round((ltp - net_avg) * net_qty, 2)
        rows.append({"symbol": symbol, "productType": "CNC", "buyQty": buy_qty,
                     "buyAvg": _average(buys), "sellQty": sell_qty, "sellAvg": _average(sells),
                     "netQty": net_qty, "netAvg": net_avg, "ltp": ltp,
                     "side": 1 if net_qty > 0 else -1 if net_qty < 0 else 0,
                     "realized_profit": realized, "unrealized_profit": unrealized,
                     "pl": round(realized + unrealized, 2), "segment": 10, "exchange": 10})
    overall = {"count_total": len(rows), "count_open": sum(1 for r in rows if r["netQty"]),
               "pl_realized": round(sum(r["realized_profit"] for r in rows), 2),
               "pl_unrealized": round(sum(r["unrealized_profit"] for r in rows), 2)}
    overall["pl_total"] = round(overall["pl_realized"] + overall["pl_unrealized"], 2)
    return ok(netPositions=rows, overall=overall)
