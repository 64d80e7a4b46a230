"""Each alert reaches the (loopback) Telegram chat with the text the owner should read."""
from __future__ import annotations

from datetime import datetime

import pytest

from config import IST
from messages import LOGIN_NEEDED
from notifier import (
    LAST_ALERT,
    notify_manual_close,
    notify_order_outcome,
    notify_run_failed,
    notify_run_finished,
    send_test_alert,
)
from tests.alerts.conftest import CHAT_ID

RUN_START = datetime(2026, 11, 26, 15, 10, tzinfo=IST).timestamp()
WAIT_S = 30  # upper bound for the background sender; the tests never assert on speed


def rejected(symbol: str, side: str, qty: int, message: str) -> dict:
    """An order record Fyers rejected, as the run stores it."""
    return {"tag": "NSabc", "run_id": "run1", "symbol": symbol, "side": side, "qty": qty,
            "status": "rejected", "filled_qty": 0, "message": message}


def finished_run(store, run_id: str = "run1", **fields) -> dict:
    """A run record as the executor leaves it, stored."""
    run = {"run_id": run_id, "trigger": "scheduled", "status": "succeeded",
           "started_at": RUN_START, "finished_at": RUN_START + 42, "summary": "",
           "error": None, "dry_run": False, **fields}
    store.create_run(run)
    return run


def record_fill(store, run_id: str, symbol: str, side: str, qty: int, price: float,
                pnl: float | None, offset_s: float, source: str = "bot") -> None:
    """The order and the trade the executor records for one fill (a manual sale has no order)."""
    tag = f"{run_id}-{side}-{symbol}"
    if source == "bot":
        store.upsert_order({"tag": tag, "run_id": run_id, "symbol": symbol, "side": side,
                            "qty": qty, "reason": "entry", "broker_order_id": f"id-{tag}",
                            "status": "traded", "filled_qty": qty, "traded_price": price,
                            "message": "", "created_at": RUN_START + offset_s,
                            "updated_at": RUN_START + offset_s})
    position = None if side == "SELL" else {
        "symbol": symbol, "qty": qty, "avg_price": price, "last_buy_price": price,
        "opened_at": RUN_START + offset_s, "updated_at": RUN_START + offset_s}
    store.record_trade({"trade_id": f"t-{tag}", "run_id": run_id, "order_tag": tag,
                        "symbol": symbol, "side": side, "qty": qty, "price": price,
                        "ts": RUN_START + offset_s, "pnl": pnl, "source": source}, position)


def test_run_finished_lists_orders_fills_and_the_pnl_of_sells(alert_config, store, telegram):
    run = finished_run(store)
    record_fill(store, "run1", "NSE:TCS-EQ", "SELL", 5, 3512.0, 123456.5, offset_s=5)
    record_fill(store, "run1", "NSE:RELIANCE-EQ", "BUY", 12, 812.4, None, offset_s=9)
    record_fill(store, "run1", "NSE:ITC-EQ", "SELL", 3, 410.0, 12.0, offset_s=2, source="manual")
    assert notify_run_finished(alert_config, store, run).result(WAIT_S) is None
    assert telegram.texts == [
        "✅ Nifty Shop run done · 26 Nov 15:10 IST\n"
        "Orders placed: 2\n"
        "Sold 5 TCS @ ₹3,512.00, P&L +₹1,23,456.50\n"
        "Bought 12 RELIANCE @ ₹812.40\n"
        "P&L of sells: +₹1,23,456.50"]
    assert telegram.state.messages[0]["chat_id"] == CHAT_ID
    assert telegram.state.messages[0]["disable_web_page_preview"] is True


def test_run_finished_without_orders_says_so(alert_config, store, telegram):
    run = finished_run(store)
    notify_run_finished(alert_config, store, run).result(WAIT_S)
    assert telegram.texts == [
        "✅ Nifty Shop run done · 26 Nov 15:10 IST\nNo orders: nothing met the rules."]


def test_dry_run_says_what_it_would_have_done(alert_config, store, telegram):
    run = finished_run(store, dry_run=True, summary="dry run: would place 1 buy(s), 0 sell(s)")
    notify_run_finished(alert_config, store, run).result(WAIT_S)
    assert telegram.texts == [
        "✅ Nifty Shop dry run done · 26 Nov 15:10 IST\n"
        "dry run: would place 1 buy(s), 0 sell(s)"]


def test_run_failed_says_why_and_what_to_do(alert_config, store, telegram):
    run = finished_run(store, status="failed", summary=LOGIN_NEEDED.sentence,
                       error="Token expired at 26 Nov 09:00 IST: log in to Fyers.")
    notify_run_failed(alert_config, store, run).result(WAIT_S)
    assert telegram.texts == [
        "❌ Nifty Shop run failed · 26 Nov 15:10 IST\n"
        "Fyers needs a new login (the access token expired or could not be refreshed): "
        "log in to Fyers on the Tokens page.\n"
        "Detail: Token expired at 26 Nov 09:00 IST: log in to Fyers."]


def test_order_rejected_names_the_order_and_the_reason(alert_config, store, telegram):
    notify_order_outcome(alert_config, store, rejected("NSE:HDFCBANK-EQ", "BUY", 6,
                                                       "Insufficient funds")).result(WAIT_S)
    assert telegram.texts == [
        "⚠️ Nifty Shop order rejected by Fyers\nBUY 6 HDFCBANK: rejected by Fyers: "
        "Insufficient funds"]


@pytest.mark.parametrize(("order", "text"), [
    ({"status": "unfilled", "wait_s": 30.0}, "order not filled\nBUY 6 HDFCBANK: not filled in "
                                              "30 s, cancelled"),
    ({"status": "expired"}, "order expired at the close\nBUY 6 HDFCBANK: expired at the close"),
    ({"status": "partial", "filled_qty": 2, "wait_s": 30.0, "rest": "bot"},
     "order partly filled\nBUY 6 HDFCBANK: partly filled (2 of 6; the rest cancelled after "
     "30 s)"),
    ({"status": "cancelled_at_broker", "message": "Cancelled by user"},  # in the Fyers app
     "order cancelled at Fyers\nBUY 6 HDFCBANK: cancelled at Fyers (not by the bot): "
     "Cancelled by user"),
    ({"status": "cancelled", "message": "Cancelled by user"},  # a row from before outcomes
     "order not filled\nBUY 6 HDFCBANK: not filled, cancelled"),
    ({"status": "unknown", "message": "Fyers no longer shows order 26120600001"},  # may have filled
     "order unknown to Fyers\nBUY 6 HDFCBANK: not recorded as filled: Fyers no longer shows "
     "order 26120600001"),
])
def test_an_unfilled_order_is_never_called_rejected(alert_config, store, telegram, order, text):
    record = {**rejected("NSE:HDFCBANK-EQ", "BUY", 6, "Cancelled by user"), **order}
    notify_order_outcome(alert_config, store, record).result(WAIT_S)
    assert telegram.texts == [f"⚠️ Nifty Shop {text}"]
    assert "reject" not in telegram.texts[0] and "refus" not in telegram.texts[0]


def test_manual_close_shows_price_and_a_loss(alert_config, store, telegram):
    sale = {"trade_id": "26100100000042", "symbol": "NSE:INFY-EQ", "side": "SELL", "qty": 7,
            "price": 1480.25, "pnl": -1234.5, "source": "manual"}
    notify_manual_close(alert_config, store, sale).result(WAIT_S)
    assert telegram.texts == [
        "ℹ️ Nifty Shop saw a manual sale\nSold 7 INFY @ ₹1,480.25 outside the bot\n"
        "P&L −₹1,234.50"]


def test_test_alert_is_sent_at_once_and_recorded(alert_config, store, telegram):
    assert send_test_alert(alert_config, store) is None
    assert len(telegram.texts) == 1
    assert telegram.texts[0].startswith("🔔 Nifty Shop test alert · ")
    last = store.get_setting(LAST_ALERT)
    assert (last["kind"], last["ok"], last["error"]) == ("test", True, None)


def test_every_message_stays_short_for_a_lock_screen(alert_config, store, telegram):
    run = finished_run(store)
    for index in range(10):
        record_fill(store, "run1", f"NSE:SYM{index}-EQ", "BUY", 1, 100.0, None, offset_s=index)
    notify_run_finished(alert_config, store, run).result(WAIT_S)
    notify_run_failed(alert_config, store, {**run, "status": "failed",
                                            "error": "Traceback line " * 200}).result(WAIT_S)
    lines = telegram.texts[0].splitlines()
    assert len(lines) <= 9
    assert lines[-1] == "…and 4 more fills"
    assert len(telegram.texts[1]) < 500 and telegram.texts[1].count("Traceback") < 30
