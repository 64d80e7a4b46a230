"""Each fault the sandbox injects reaches the caller as the right exception or result."""
from __future__ import annotations

import re
import socket

import pytest

from broker import (
    SIDE_BUY,
    STATUS_TRADED,
    BrokerUnavailable,
    FyersBroker,
    OrderRejected,
    RateLimited,
    TokenExpired,
    error_for,
)

SBIN = "NSE:SBIN-EQ"
ORDERS_PATH = "/api/v3/orders/sync"


def test_expired_token_raises_token_expired(broker, market):
    market.admin("faults", expire_tokens=True)
    with pytest.raises(TokenExpired, match="expired"):
        broker.holdings()


def test_forged_token_raises_token_expired_without_echoing_it(sandbox_config, market):
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2lnbmF0dXJl"
    with pytest.raises(TokenExpired) as raised:
        FyersBroker(sandbox_config, forged).profile()
    assert forged not in str(raised.value) and "eyJ" not in str(raised.value)


def test_a_429_burst_is_retried_then_raises_rate_limited(broker, market):
    market.admin("faults", http_429_next=10)
    with pytest.raises(RateLimited):
        broker.funds()
    assert market.requests_to("/api/v3/funds") == 4  # the first try and three retries


def test_a_short_429_burst_is_absorbed_by_retries(broker, market):
    market.admin("faults", http_429_next=2)
    assert broker.funds()["Available Balance"] > 0


def test_a_5xx_burst_raises_broker_unavailable(broker, market):
    market.admin("faults", http_5xx_next=10)
    with pytest.raises(BrokerUnavailable):
        broker.quotes([SBIN])


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_server_raises_broker_unavailable_naming_the_address_tried(sandbox_config):
    """A command started without the web app's environment (`make run PORT=… SANDBOX_PORT=…`)
    looks for the sandbox at the default address: the error names it and its setting."""
    url = f"http://127.0.0.1:{_closed_port()}"
    dead = sandbox_config.with_overrides(fyers_sandbox_url=url)
    with pytest.raises(BrokerUnavailable, match=re.escape(
            f"no response from the Fyers sandbox at {url} (FYERS_SANDBOX_URL) (connection "
            f"failed or no answer within")):
        FyersBroker(dead, "token", backoff_s=0.01).holdings()


def test_rejected_order_raises_order_rejected(broker, market):
    market.admin("faults", reject_next_orders=1)
    with pytest.raises(OrderRejected, match="rejected"):
        broker.place_market_order(SBIN, 1, SIDE_BUY, "rej1")


def test_lost_acknowledgement_returns_unacknowledged_and_the_tag_finds_the_order(broker, market):
    market.admin("faults", lost_ack_next=1)

    result = broker.place_market_order(SBIN, 2, SIDE_BUY, "lost1")

    assert (result.acknowledged, result.order_id) == (False, None)
    [order] = broker.orders(tag="lost1")
    assert (order.status, order.filled_qty) == (STATUS_TRADED, 2)


def test_place_is_never_retried_on_5xx_and_reports_an_unknown_outcome(broker, market):
    market.admin("faults", http_5xx_next=1)

    result = broker.place_market_order(SBIN, 1, SIDE_BUY, "five1")

    assert market.requests_to(ORDERS_PATH) == 1
    assert (result.acknowledged, result.order_id) == (False, None)
    assert broker.orders(tag="five1") == []  # the 5xx came before the order was taken


def test_place_on_429_is_not_retried(broker, market):
    market.admin("faults", http_429_next=1)
    with pytest.raises(RateLimited):
        broker.place_market_order(SBIN, 1, SIDE_BUY, "lim1")
    assert market.requests_to(ORDERS_PATH) == 1


def test_latency_slows_calls_but_they_succeed(broker, market):
    market.admin("faults", latency_ms=50)
    assert broker.profile()["fy_id"]


def test_call_count_counts_sdk_calls_including_retries(broker, market):
    market.admin("faults", http_5xx_next=2)
    broker.funds()
    assert broker.call_count == 3


def test_an_error_message_echoing_a_token_is_redacted():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3OTU2NzA5MzR9.c2lnbmF0dXJlLXNpZ25lZA"
    error = error_for("profile", {"s": "error", "code": -16, "message": f"bad token {token}"})
    assert isinstance(error, TokenExpired) and token not in str(error)
