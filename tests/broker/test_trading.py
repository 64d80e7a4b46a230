"""Orders, holdings, positions and market data through FyersBroker and the real SDK."""
from __future__ import annotations

from datetime import date

import pytest

from broker import (
    SIDE_BUY,
    SIDE_SELL,
    STATUS_CANCELLED,
    STATUS_PENDING,
    STATUS_REJECTED,
    STATUS_TRADED,
    InvalidRequest,
    OrderRejected,
)
from universe import nifty50_symbols

SBIN = "NSE:SBIN-EQ"


def test_a_filled_buy_is_a_position_today_t1_next_session_then_hld(filled, demo):
    ltp = filled.quotes([SBIN])[SBIN].ltp
    cash_before = filled.funds()["Available Balance"]

    result = filled.place_market_order(SBIN, 5, SIDE_BUY, "run1SBINbuy")

    assert result.acknowledged and result.order_id
    [order] = filled.orders(tag="run1SBINbuy")
    assert (order.id, order.status, order.filled_qty, order.traded_price) == \
        (result.order_id, STATUS_TRADED, 5, ltp)
    assert order.is_final and order.side == SIDE_BUY and order.tag == "run1SBINbuy"
    assert filled.holdings() == []  # today's buys are positions, not holdings
    [position] = filled.positions()
    assert (position.symbol, position.net_qty, position.avg_price) == (SBIN, 5, ltp)
    assert filled.funds()["Available Balance"] == pytest.approx(cash_before - 5 * ltp)
    demo.admin("clock", advance_days=1)
    [holding] = filled.holdings()
    assert (holding.symbol, holding.start_qty, holding.remaining_qty, holding.avg_price,
            holding.holding_type) == (SBIN, 5, 5, ltp, "T1")
    assert filled.positions() == []  # positions are today's trades only
    demo.admin("clock", advance_days=1)
    assert [(h.holding_type, h.start_qty) for h in filled.holdings()] == [("HLD", 5)]


def test_sell_of_a_holding_fills_and_realizes_profit(filled, demo):
    buy = filled.place_market_order(SBIN, 4, SIDE_BUY, "buy1")
    bought_at = filled.orders(order_id=buy.order_id)[0].traded_price
    demo.admin("clock", advance_days=1)
    assert filled.orders() == []  # Fyers' order book starts afresh each day
    sell = filled.place_market_order(SBIN, 4, SIDE_SELL, "sell1")

    assert sell.acknowledged
    [order] = filled.orders(order_id=sell.order_id)
    assert (order.status, order.filled_qty, order.side) == (STATUS_TRADED, 4, SIDE_SELL)
    [holding] = filled.holdings()  # held when the day began, all of it sold since
    assert (holding.start_qty, holding.remaining_qty) == (4, 0)
    [position] = filled.positions()
    assert position.net_qty == -4
    assert position.realized == pytest.approx((order.traded_price - bought_at) * 4)
    assert [(f.tag, f.side, f.qty) for f in filled.tradebook()] == [("sell1", SIDE_SELL, 4)]


def test_sell_without_holdings_is_rejected_and_shows_rejected(broker):
    with pytest.raises(OrderRejected, match="insufficient holdings"):
        broker.place_market_order(SBIN, 1, SIDE_SELL, "nosell")

    [order] = broker.orders(tag="nosell")
    assert order.status == STATUS_REJECTED and "insufficient holdings" in order.message


def test_pending_order_can_be_cancelled(broker, market):
    market.admin("faults", pending_next_orders=1)
    result = broker.place_market_order(SBIN, 3, SIDE_BUY, "pend1")
    assert result.acknowledged
    assert broker.orders(tag="pend1")[0].status == STATUS_PENDING

    broker.cancel_order(result.order_id)

    [order] = broker.orders(tag="pend1")
    assert (order.status, order.filled_qty, order.is_final) == (STATUS_CANCELLED, 0, True)
    with pytest.raises(InvalidRequest, match="not pending"):
        broker.cancel_order(result.order_id)


def test_partial_fill_then_fill_pending_completes_the_order(broker, market):
    market.admin("faults", partial_fill_next=1, partial_fill_ratio=0.4)
    broker.place_market_order(SBIN, 10, SIDE_BUY, "part1")
    [order] = broker.orders(tag="part1")
    assert (order.status, order.filled_qty) == (STATUS_PENDING, 4)

    market.admin("fill-pending")

    [order] = broker.orders(tag="part1")
    assert (order.status, order.filled_qty) == (STATUS_TRADED, 10)
    assert sum(p.net_qty for p in broker.positions()) == 10


def test_orderbook_shows_every_status(filled, demo):
    filled.place_market_order(SBIN, 1, SIDE_BUY, "st2")
    demo.admin("faults", pending_next_orders=2)
    filled.place_market_order(SBIN, 1, SIDE_BUY, "st6")
    filled.cancel_order(filled.place_market_order(SBIN, 1, SIDE_BUY, "st1").order_id)
    with pytest.raises(OrderRejected):
        filled.place_market_order(SBIN, 99, SIDE_SELL, "st5")

    statuses = {order.tag: order.status for order in filled.orders()}
    assert statuses == {"st2": STATUS_TRADED, "st6": STATUS_PENDING, "st1": STATUS_CANCELLED,
                        "st5": STATUS_REJECTED}


def test_manual_sell_on_the_app_shows_in_holdings_and_tradebook(filled, demo):
    filled.place_market_order(SBIN, 6, SIDE_BUY, "man1")
    demo.admin("clock", advance_days=1)

    demo.admin("manual-sell", symbol=SBIN, qty=4)

    assert [(h.symbol, h.start_qty, h.remaining_qty) for h in filled.holdings()] == \
        [(SBIN, 6, 2)]
    [fill] = filled.tradebook()
    assert (fill.symbol, fill.side, fill.qty, fill.tag) == (SBIN, SIDE_SELL, 4, "")


def test_bad_order_parameters_raise_invalid_request(broker):
    with pytest.raises(InvalidRequest, match="orderTag"):
        broker.place_market_order(SBIN, 1, SIDE_BUY, "not-alnum!")
    with pytest.raises(InvalidRequest, match="symbol"):
        broker.place_market_order("NSE:NOPE-EQ", 1, SIDE_BUY, "bad1")


def test_history_over_two_years_comes_in_366_day_chunks(broker, market):
    before = market.requests_to("/data/history")

    candles = broker.history(SBIN, date(2024, 11, 4), date(2026, 11, 25))

    assert market.requests_to("/data/history") - before == 3
    days = [candle.date for candle in candles]
    assert days == sorted(set(days))
    assert days[0] == "2024-11-04" and days[-1] == "2026-11-25"  # today's partial candle
    assert "2026-11-24" not in days  # an NSE holiday
    assert all(date.fromisoformat(day).weekday() < 5 for day in days)
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)
    assert 480 < len(candles) < 510


def test_quotes_for_the_nifty_50_take_one_call_and_60_take_two(broker, market):
    symbols = nifty50_symbols()
    before = broker.call_count

    quotes = broker.quotes(symbols)

    assert broker.call_count - before == 1
    assert sorted(quotes) == sorted(symbols)
    sbin = quotes[SBIN]
    assert sbin.change_pct == pytest.approx((sbin.ltp - sbin.prev_close) / sbin.prev_close * 100,
                                            abs=0.01)
    more = [f"NSE:FAKE{i}-EQ" for i in range(10)] + symbols
    assert sorted(broker.quotes(more)) == sorted(symbols)  # unknown symbols are left out
    assert broker.call_count - before == 3
    with pytest.raises(InvalidRequest, match="valid symbol"):
        broker.quotes(["NSE:FAKE-EQ"])


def test_quotes_move_during_the_session(broker, market):
    first = broker.quotes([SBIN])[SBIN].ltp
    market.admin("clock", advance_seconds=20 * 60)
    assert broker.quotes([SBIN])[SBIN].ltp != first
