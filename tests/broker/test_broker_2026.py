"""FyersBroker under Fyers' 2026 rules: tags matched here in either form, timeouts, the rate
budget shared through the store (waiting out a 429's window, stopping on a blocked day), the
static-IP refusal, and a clear error for every reply Fyers does not document."""
from __future__ import annotations

import time

import pytest
import requests

from broker import (
    REGISTER_IP,
    SIDE_BUY,
    BrokerUnavailable,
    DailyLimitBlocked,
    FyersBroker,
    IPNotAllowed,
    UnexpectedReply,
)
from config import SANDBOX_CLIENT_ID
from fyers_sandbox.testing import SESSION_MORNING, start_sandbox
from store import open_store

SBIN = "NSE:SBIN-EQ"
DAY_S = 86400


@pytest.mark.parametrize("bare", [False, True], ids=["prefixed", "bare"])
def test_tags_match_in_either_form_and_untagged_is_no_tag(broker, market, bare):
    broker.place_market_order(SBIN, 1, SIDE_BUY, "form1")
    market.admin("faults", bare_tags=bare)
    [order] = broker.orders(tag="form1")
    assert order.tag == "form1"
    assert broker.orders(tag="1:form1") == []  # the caller names the tag as it wrote it
    assert market.requests_to("/api/v3/orders") == 2  # the whole book each time


def test_an_order_looked_up_by_id_needs_no_server_filter(broker):
    placed = broker.place_market_order(SBIN, 1, SIDE_BUY, "byid1")
    assert [o.id for o in broker.orders(order_id=placed.order_id)] == [placed.order_id]
    assert broker.orders(order_id="999") == []  # no -51: the book is matched here


def test_orders_from_an_ip_fyers_does_not_know_raise_ip_not_allowed(config):
    with start_sandbox(allowed_ips=("203.0.113.9",), start=SESSION_MORNING) as sandbox:
        broker = FyersBroker(config.with_overrides(fyers_sandbox_url=sandbox.url),
                             sandbox.login()[0])
        with pytest.raises(IPNotAllowed, match=REGISTER_IP):
            broker.place_market_order(SBIN, 1, SIDE_BUY, "ip1")
        with pytest.raises(IPNotAllowed):
            broker.cancel_order("26112500000001")
        assert broker.holdings() == []  # reads stay open


@pytest.mark.parametrize("fault,error,text", [
    ("html_200_next", UnexpectedReply, "not JSON"),
    ("unknown_code_next", UnexpectedReply, "-12345"),
    ("missing_field_next", UnexpectedReply, "lacks the field 'symbol'"),
    ("http_5xx_next", BrokerUnavailable, "503"),
])
def test_a_reply_fyers_does_not_document_is_a_clear_error(broker, market, fault, error, text):
    broker.place_market_order(SBIN, 1, SIDE_BUY, "odd1")
    market.admin("faults", **{fault: 10})
    with pytest.raises(error, match=text):
        broker.orders()


def test_a_call_that_takes_too_long_gives_up_at_the_timeout(sandbox_config, market):
    impatient = sandbox_config.with_overrides(broker_timeout_s=0.3)
    broker = FyersBroker(impatient, market.login()[0], attempts=1)
    market.admin("faults", latency_ms=3000)
    with pytest.raises(BrokerUnavailable, match=r"no answer within 0.3 s"):
        broker.funds()


def test_every_broker_on_one_store_spends_one_budget(sandbox_config, market, store):
    access, _ = market.login()
    brokers = [FyersBroker(sandbox_config, access, store=store, rate_limits=((4, 60),),
                           max_wait_s=0) for _ in range(2)]
    for broker in brokers:
        broker.profile()
        broker.profile()
    with pytest.raises(Exception, match="shared rate budget has no room"):
        brokers[0].profile()
    assert market.requests_to("/api/v3/profile") == 4


def test_a_429_pauses_every_process_for_its_window_instead_of_retrying_inside_it(config):
    # the server's 2-second window plays the per-minute one; the client's own budget is loose
    with start_sandbox(rate_limits=((3, 2),), start=SESSION_MORNING) as sandbox:
        settings = config.with_overrides(fyers_sandbox_url=sandbox.url)
        store = open_store(settings.store_url)
        try:
            broker = FyersBroker(settings, sandbox.login()[0], store=store,
                                 rate_limits=((100, 1),))
            for _ in range(6):
                broker.profile()
        finally:
            store.close()
        stats = sandbox.admin("stats", method="GET")
    assert stats["requests"]["/api/v3/profile"] == 7  # six answers and one 429
    assert stats["statuses"]["429"] == 1 and stats["apps"][SANDBOX_CLIENT_ID]["breaches"] == 1


def test_a_blocked_day_stops_every_process_calling_and_the_next_day_works(config):
    with start_sandbox(rate_limits=((2, 2),), start=SESSION_MORNING) as sandbox:
        settings = config.with_overrides(fyers_sandbox_url=sandbox.url)
        access, _ = sandbox.login()
        store = open_store(settings.store_url)
        try:
            crude = {"Authorization": f"{SANDBOX_CLIENT_ID}:{access}"}  # another tool, no budget
            for _ in range(8):
                requests.get(f"{sandbox.url}/api/v3/funds", headers=crude, timeout=5)
            broker = FyersBroker(settings, access, store=store)
            with pytest.raises(DailyLimitBlocked, match="rest of the day"):
                broker.funds()
            calls = sandbox.admin("stats", method="GET")["total"]
            with pytest.raises(DailyLimitBlocked):
                FyersBroker(settings, access, store=store).funds()  # "another process"
            assert sandbox.admin("stats", method="GET")["total"] == calls + 1  # stats only
            sandbox.admin("clock", advance_days=1)
            time.sleep(3)  # the server's 2-second window empties
            tomorrow = FyersBroker(settings, access, store=store,
                                   clock=lambda: time.time() + DAY_S)
            assert tomorrow.funds()["Available Balance"] > 0
        finally:
            store.close()
