"""run_live(): reconcile, candle cache, decide, place, verify and record, through the real SDK
against the sandbox and a real SQLite store."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

from broker import SIDE_BUY, STATUS_TRADED
from live_strategy import run_live
from order_flow import order_tag, window_wait_s
from order_outcomes import phrase
from portfolio import estimated_price, hand_sale, inr, signed_inr, ticker
from tests.batch.helpers import calls_to, expected_intents, run_trades
from universe import nifty50_symbols

DAY = date(2026, 10, 1)


def test_a_run_places_what_decide_wants_and_records_the_fill(run_config, store, broker,
                                                             caplog):
    expected = expected_intents(broker, store, run_config, DAY)
    assert expected, "the sandbox market at START should offer an entry"
    with caplog.at_level(logging.INFO):
        result = run_live(run_config, store, broker, run_id="r1")
    assert [(i.symbol, i.side, i.qty) for i in result.intents] == \
        [(i.symbol, i.side, i.qty) for i in expected]
    [trade] = run_trades(store, "r1")
    intent = expected[0]
    assert (trade["symbol"], trade["side"], trade["qty"], trade["source"]) == \
        (intent.symbol, "BUY", intent.qty, "bot")
    [order] = broker.orders(order_id=trade["trade_id"])
    assert order.status == STATUS_TRADED and order.filled_qty == trade["qty"]
    assert order.traded_price == trade["price"] and order.tag == order_tag("r1", intent.symbol, "BUY")
    [position] = store.get_positions()
    assert position["qty"] == intent.qty and position["avg_price"] == trade["price"]
    assert store.get_order(order.tag)["status"] == "traded"
    value = inr(trade["qty"] * trade["price"])
    assert result.summary == f"Bought {trade['qty']} {ticker(trade['symbol'])} for {value}."
    said = [r.getMessage() for r in caplog.records]
    assert f"filled: BUY {trade['qty']} {trade['symbol']} at {inr(trade['price'])}" in said
    assert any(line.startswith(f"decided BUY {trade['qty']} {trade['symbol']} at ₹")
               for line in said)


def test_warm_run_makes_one_data_call(run_config, store, broker, sandbox):
    run_live(run_config, store, broker, run_id="cold", dry_run=True)
    assert set(store.last_candle_dates()) == set(nifty50_symbols())
    history, quotes = calls_to(sandbox, "/history"), calls_to(sandbox, "/quotes")
    run_live(run_config, store, broker, run_id="warm", dry_run=True)
    assert calls_to(sandbox, "/history") == history
    assert calls_to(sandbox, "/quotes") == quotes + 1


def test_dry_run_places_nothing(run_config, store, broker, sandbox):
    result = run_live(run_config, store, broker, run_id="dry", dry_run=True)
    assert result.intents and result.summary.startswith("Dry run, nothing placed: would buy ")
    assert calls_to(sandbox, "/orders/sync") == 0
    assert store.list_trades() == [] and store.list_orders() == []


def test_rejected_order_is_recorded_with_the_brokers_message(run_config, store, broker,
                                                             sandbox, caplog):
    sandbox.admin("faults", reject_next_orders=1)
    with caplog.at_level(logging.WARNING):
        result = run_live(run_config, store, broker, run_id="rej")
    [order] = store.list_orders(run_id="rej")
    assert order["status"] == "rejected" and "RMS" in order["message"]
    assert store.list_trades() == [] and store.get_positions() == []
    assert result.incomplete and result.summary == \
        "Nothing bought or sold; 1 order rejected by Fyers."
    assert any("rejected by Fyers: RMS" in r.getMessage() for r in caplog.records
               if r.levelname == "WARNING")


def test_partial_fill_records_only_the_filled_quantity(run_config, store, broker, sandbox):
    sandbox.admin("faults", partial_fill_next=1, partial_fill_ratio=0.5)
    run_live(run_config, store, broker, run_id="part")
    [order] = store.list_orders(run_id="part")
    [trade] = run_trades(store, "part")
    assert order["status"] == "partial" and 0 < order["filled_qty"] < order["qty"]
    assert trade["qty"] == order["filled_qty"] == store.get_positions()[0]["qty"]
    [at_broker] = broker.orders(tag=order["tag"])
    assert at_broker.is_final and at_broker.filled_qty == trade["qty"]  # the rest was cancelled


def test_order_that_never_fills_is_cancelled_after_the_timeout(run_config, store, broker,
                                                               sandbox, monkeypatch):
    sandbox.admin("faults", pending_next_orders=1)
    written = []  # the order as the pages read it at each write, while its run runs
    upsert_order = store.upsert_order
    monkeypatch.setattr(store, "upsert_order", lambda order: (
        written.append(phrase(order, run_running=True)), upsert_order(order)))
    run_live(run_config, store, broker, run_id="slow")
    [order] = store.list_orders(run_id="slow")
    assert order["status"] == "unfilled" and order["filled_qty"] == 0
    assert store.list_trades() == []
    assert phrase(order) == "not filled in 2 s, cancelled"
    # while it waited: Fyers' own words, never why the rules bought ("… below 20-day MA")
    assert written == ["being placed", "waiting at Fyers: Order pending at exchange",
                       "not filled in 2 s, cancelled"]


def test_unacknowledged_order_is_found_by_its_tag_not_placed_again(run_config, store, broker,
                                                                   sandbox):
    sandbox.admin("faults", lost_ack_next=1)
    run_live(run_config, store, broker, run_id="lost")
    [order] = store.list_orders(run_id="lost")
    assert len(broker.orders(tag=order["tag"])) == 1
    assert calls_to(sandbox, "/orders/sync") == 1
    assert [t["trade_id"] for t in run_trades(store, "lost")] == [order["broker_order_id"]]


def test_holding_sold_by_hand_becomes_a_manual_trade(run_config, store, broker, sandbox,
                                                     caplog):
    run_live(run_config, store, broker, run_id="buy")
    [bought] = run_trades(store, "buy")
    sandbox.admin("clock", now="2026-10-05T15:45:00")
    sold = sandbox.admin("manual-sell", symbol=bought["symbol"])
    with caplog.at_level(logging.WARNING):
        result = run_live(run_config, store, broker, run_id="next")
    [manual] = [t for t in run_trades(store, "next") if t["source"] == "manual"]
    assert (manual["symbol"], manual["side"], manual["qty"]) == \
        (bought["symbol"], "SELL", bought["qty"])
    assert manual["price"] == sold["tradedPrice"]
    assert manual["pnl"] == round((sold["tradedPrice"] - bought["price"]) * bought["qty"], 2)
    assert "1 sale made by hand recorded" in result.summary
    assert any("sold by hand" in r.getMessage() for r in caplog.records)


def test_a_buy_today_is_not_mistaken_for_a_manual_sale(run_config, store, broker):
    run_live(run_config, store, broker, run_id="a")
    run_live(run_config, store, broker, run_id="b")  # same day: holdings show it as T1
    assert all(t["source"] == "bot" for t in store.list_trades())
    assert sum(t["side"] == "BUY" and t["run_id"] == "a" for t in store.list_trades()) == 1
    assert all(o.side == SIDE_BUY for o in broker.orders())


def test_a_stock_sold_by_hand_is_not_bought_back(run_config, store, broker, sandbox):
    config = run_config.with_overrides(max_new_entries_per_day=2)  # room for a second buy
    run_live(config, store, broker, run_id="buy")
    [bought] = run_trades(store, "buy")
    sandbox.admin("manual-sell", symbol=bought["symbol"])
    run_live(config, store, broker, run_id="after")
    trades = [(t["source"], t["side"], t["symbol"]) for t in run_trades(store, "after")]
    assert trades[0] == ("manual", "SELL", bought["symbol"])
    [(_, side, other)] = [t for t in trades if t[0] == "bot"]
    assert side == "BUY" and other != bought["symbol"]  # the next candidate instead


def test_after_a_429_an_order_waits_retry_after_else_the_rest_of_the_minute():
    assert window_wait_s(60.0, 7.0, now=135.0) == 7.0
    assert window_wait_s(60.0, None, now=135.0) == 45.0


def test_a_sale_by_hand_on_an_earlier_day_is_recorded_as_an_estimate(run_config, store,
                                                                     broker, sandbox, caplog):
    """Sold by hand on Thursday; the next run is on Monday, when Fyers' tradebook (today's
    trades only) no longer shows the sale: its price is today's last price, and said so."""
    run_live(run_config, store, broker, run_id="buy")
    [bought] = run_trades(store, "buy")
    sandbox.admin("manual-sell", symbol=bought["symbol"])
    sandbox.admin("clock", now="2026-10-05T15:10:00")  # Fri 2 Oct is a holiday
    assert broker.tradebook() == []
    ltp = broker.quotes([bought["symbol"]])[bought["symbol"]].ltp
    with caplog.at_level(logging.WARNING):
        result = run_live(run_config, store, broker, run_id="monday")
    [manual] = [t for t in run_trades(store, "monday") if t["source"] == "manual"]
    assert estimated_price(manual["trade_id"]) and manual["qty"] == bought["qty"]
    assert abs(manual["price"] - ltp) < 0.05 * ltp  # the last price, moved a few seconds on
    assert "1 sale made by hand before today recorded at an estimated price (not in today's " \
           "tradebook)" in result.summary
    assert any(r.getMessage().endswith(
        f"Sold {bought['qty']} {ticker(bought['symbol'])} by hand before today; the price is not "
        f"in today's tradebook, valued at today's last price {inr(manual['price'])}, "
        f"P&L {signed_inr(manual['pnl'])} (estimated)") for r in caplog.records)


def test_a_holding_fyers_gives_no_price_for_is_valued_at_cost_and_said_so(run_config, store,
                                                                          broker, sandbox):
    """A holding the bot bought that has since left the index (here: a symbol Fyers no longer
    quotes) is gone at the broker: the run asks its price apart, gets none, and records the
    sale at the average buy price, saying that, not 'today's last price'."""
    store.record_trade({"trade_id": "old-buy", "run_id": "old", "order_tag": "oldbuy",
                        "symbol": "NSE:OLDCO-EQ", "side": "BUY", "qty": 3, "price": 250.0,
                        "ts": time.time() - 30 * 86400, "pnl": None, "source": "bot"},
                       {"qty": 3, "avg_price": 250.0, "last_buy_price": 250.0,
                        "opened_at": time.time() - 30 * 86400, "updated_at": time.time()})
    result = run_live(run_config, store, broker, run_id="after")
    [manual] = [t for t in run_trades(store, "after") if t["source"] == "manual"]
    assert (manual["symbol"], manual["qty"], manual["price"], manual["pnl"]) == (
        "NSE:OLDCO-EQ", 3, 250.0, 0.0)
    assert hand_sale(manual) == ("Sold 3 OLDCO by hand before today; the price is not in "
                                 "today's tradebook, valued at its average buy price (Fyers "
                                 "gave no price for it) ₹250.00")
    assert "1 sale made by hand before today recorded at an estimated price" in result.summary


@contextmanager
def owner_cancels_once(broker, ready: Callable[[], list]) -> Iterator[None]:
    """The owner, in the Fyers app, cancelling the run's order once `ready()` lists something,
    while the body runs (the run waits for its fill meanwhile)."""

    def cancel() -> None:
        deadline = time.monotonic() + 20
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.1)
        broker.cancel_order(broker.orders()[0].id)

    owner = threading.Thread(target=cancel, daemon=True)
    owner.start()
    yield
    owner.join()


def test_an_order_the_owner_cancels_in_the_fyers_app_reads_cancelled_at_fyers(
        run_config, store, broker, sandbox):
    """While the run waits for a fill, the owner cancels the order in the Fyers app: the bot
    did not cancel it, and its words say who did, with Fyers' own message."""
    sandbox.admin("faults", pending_next_orders=1)
    config = run_config.with_overrides(order_fill_timeout_s=20.0)
    with owner_cancels_once(broker, broker.orders):  # placed
        result = run_live(config, store, broker, run_id="owner")
    [order] = store.list_orders(run_id="owner")
    [at_fyers] = broker.orders(tag=order["tag"])
    assert phrase(order) == f"cancelled at Fyers (not by the bot): {at_fyers.message}"
    assert result.summary == "Nothing bought or sold; 1 order cancelled at Fyers (not by the bot)."
    assert order["wait_s"] is None and store.list_trades() == []


def test_a_partly_filled_order_whose_rest_the_owner_cancels_says_who_cancelled(
        run_config, store, broker, sandbox):
    """Half filled, the rest waiting; the owner cancels the rest in the Fyers app: the half is
    recorded, and the rest reads cancelled at Fyers, not by the bot's timeout."""
    sandbox.admin("faults", partial_fill_next=1, partial_fill_ratio=0.5)
    config = run_config.with_overrides(order_fill_timeout_s=20.0)
    with owner_cancels_once(broker, broker.tradebook):  # part filled
        run_live(config, store, broker, run_id="owner-rest")
    [order] = store.list_orders(run_id="owner-rest")
    assert 0 < order["filled_qty"] < order["qty"]
    assert phrase(order) == (f"partly filled ({order['filled_qty']} of {order['qty']}; the rest "
                             f"cancelled at Fyers (not by the bot))")
    [trade] = run_trades(store, "owner-rest")
    assert trade["qty"] == order["filled_qty"]


def test_an_order_rejected_after_a_partial_fill_reads_and_counts_as_partly_filled():
    """Fyers' status 5 on an order that had filled 2 of 5 (the sandbox has no fault for it):
    the 2 are spent and recorded, so it is partly filled, the rest rejected, with Fyers' words."""
    from broker import STATUS_REJECTED, Order
    from order_flow import _outcome
    from order_outcomes import FILLED, counted

    order = Order("26100100000007", "NSE:SBIN-EQ", SIDE_BUY, 5, 2, 801.5, STATUS_REJECTED,
                  "NSrej", "RMS: margin shortfall")
    status, rest = _outcome(order, cancelled_by_bot=False)
    record = {"side": "BUY", "qty": 5, "filled_qty": 2, "status": status, "rest": rest,
              "message": order.message}
    assert status in FILLED
    assert phrase(record) == \
        "partly filled (2 of 5; the rest rejected by Fyers: RMS: margin shortfall)"
    assert counted([record]) == ["1 order partly filled, the rest rejected by Fyers"]


def test_an_order_an_earlier_run_left_open_reads_how_long_it_really_waited(
        run_config, store, broker, sandbox):
    """An order left open ten minutes ago (its run stopped) is cancelled by the next run after
    its own fill timeout: it waited ten minutes, not the timeout's 2 s."""
    sandbox.admin("faults", pending_next_orders=1)
    placed = broker.place_market_order("NSE:SBIN-EQ", 3, SIDE_BUY, "NSleft1")
    store.upsert_order({"tag": "NSleft1", "run_id": "stopped", "symbol": "NSE:SBIN-EQ",
                        "side": "BUY", "qty": 3, "reason": "entry",
                        "broker_order_id": placed.order_id, "status": "placed", "filled_qty": 0,
                        "traded_price": None, "message": None,
                        "created_at": time.time() - 600, "updated_at": time.time() - 600})
    result = run_live(run_config, store, broker, run_id="later")
    order = store.get_order("NSleft1")
    assert phrase(order) == "not filled in 10 min, cancelled"
    assert "1 order not filled in 10 min, cancelled" in result.summary
