"""The sandbox's default is Fyers as it is since April 2026: no refresh sessions, MPP market
orders, static-IP orders, per-app rate limits with a day's block, start-of-day holdings,
prefixed tags and -51; its admin endpoints take loopback clients and valid input only."""
from __future__ import annotations

import time

import pytest
import requests

from config import SANDBOX_CLIENT_ID
from fyers_sandbox import SandboxOptions, create_app
from fyers_sandbox.testing import SESSION_MORNING, start_sandbox

SYMBOLS = ["NSE:INFY-EQ", "NSE:SBIN-EQ", "NSE:ITC-EQ", "NSE:TCS-EQ", "NSE:HDFCBANK-EQ"]


def order(symbol: str, tag: str | None = None, side: int = 1, qty: int = 10) -> dict:
    body = {"symbol": symbol, "qty": qty, "type": 2, "side": side, "productType": "CNC",
            "validity": "DAY"}
    return {**body, "orderTag": tag} if tag else body


class Api:
    """A requests session authorised on one sandbox."""

    def __init__(self, sandbox) -> None:
        self.url = sandbox.url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"{SANDBOX_CLIENT_ID}:{sandbox.login()[0]}"

    def get(self, path: str, **params: str) -> requests.Response:
        return self.http.get(f"{self.url}{path}", params=params, timeout=5)

    def place(self, body: dict) -> dict:
        return self.http.post(f"{self.url}/api/v3/orders/sync", json=body, timeout=5).json()

    def orders(self, **params: str) -> list[dict]:
        return self.get("/api/v3/orders", **params).json()["orderBook"]


RELAXED = ((1000, 1),)  # the order tests place forty orders at once


@pytest.fixture
def sandbox():
    """The default sandbox with relaxed rate limits, its clock at SESSION_MORNING."""
    with start_sandbox(rate_limits=RELAXED, start=SESSION_MORNING) as handle:
        yield handle


@pytest.fixture
def api(sandbox) -> Api:
    return Api(sandbox)


def test_refresh_is_refused_unless_allowed(sandbox):
    _, refresh = sandbox.login()
    body = {"grant_type": "refresh_token", "refresh_token": refresh, "pin": "1234"}
    reply = requests.post(f"{sandbox.url}/api/v3/validate-refresh-token", json=body, timeout=5)
    assert reply.json()["code"] == -501 and "2FA once every trading day" in reply.json()["message"]
    assert sandbox.admin("tokens", allow_refresh=True)["allow_refresh"] is True


def a_day_of_market_orders(api: Api) -> list[dict]:
    """Forty market buys across five symbols, then the orderbook."""
    for n in range(40):
        assert api.place(order(SYMBOLS[n % 5], f"mpp{n}", qty=10))["s"] == "ok"
    return api.orders()


def test_market_orders_are_mpp_orders_some_fill_some_partly_some_wait(sandbox, api):
    book = a_day_of_market_orders(api)
    traded = [o for o in book if o["status"] == 2]
    partly = [o for o in book if o["status"] == 6 and 0 < o["filledQty"] < o["qty"]]
    waiting = [o for o in book if o["status"] == 6 and o["filledQty"] == 0]
    assert len(traded) + len(partly) + len(waiting) == 40
    assert 16 <= len(traded) <= 32 and partly and waiting  # about 60 / 20 / 20 %
    assert all(o["limitPrice"] == pytest.approx(o["tradedPrice"] * 1.01, abs=0.02)
               for o in traded)
    with start_sandbox(rate_limits=RELAXED, start=SESSION_MORNING) as again:  # the same seed replays the same day
        assert [(o["status"], o["filledQty"]) for o in a_day_of_market_orders(Api(again))] == \
            [(o["status"], o["filledQty"]) for o in book]


def test_waiting_mpp_orders_fill_as_the_clock_moves_or_expire_at_the_close(sandbox, api):
    book = a_day_of_market_orders(api)
    open_ids = {o["id"] for o in book if o["status"] == 6}
    sandbox.admin("clock", now="2026-11-25T15:00:00")  # at least 4 h later: all came back
    later = {o["id"]: o for o in api.orders() if o["id"] in open_ids}
    assert {o["status"] for o in later.values()} == {2}
    assert all(o["tradedPrice"] <= o["limitPrice"] for o in later.values())  # within the band
    sandbox.admin("clock", now="2026-11-25T15:20:00")
    late = [o["id"] for o in a_day_of_market_orders(api) if o["status"] == 6]
    sandbox.admin("clock", now="2026-11-25T15:31:00")
    expired = [o for o in api.orders() if o["id"] in late and o["status"] != 2]
    assert expired and {o["status"] for o in expired} == {7}  # the rest came back in time
    assert all("Expired" in o["message"] for o in expired)


def test_faults_override_the_mpp_outcome(sandbox, api):
    sandbox.admin("faults", pending_next_orders=1, partial_fill_next=1, partial_fill_ratio=0.3)
    api.place(order("NSE:SBIN-EQ", "f1"))
    api.place(order("NSE:SBIN-EQ", "f2"))
    assert [(o["status"], o["filledQty"]) for o in api.orders()] == [(6, 0), (6, 3)]


def test_demo_mode_fills_every_market_order_at_once():
    with start_sandbox(demo=True, rate_limits=RELAXED, start=SESSION_MORNING) as sandbox:
        api = Api(sandbox)
        assert {o["status"] for o in a_day_of_market_orders(api)} == {2}


def test_orders_come_only_from_the_static_ip_while_reads_stay_open():
    with start_sandbox(allowed_ips=("203.0.113.9",), start=SESSION_MORNING) as sandbox:
        api = Api(sandbox)
        reply = api.http.post(f"{api.url}/api/v3/orders/sync", json=order("NSE:SBIN-EQ", "ip1"),
                              timeout=5)
        assert reply.status_code == 403 and reply.json()["code"] == -392
        assert "static IP" in reply.json()["message"]
        cancel = api.http.delete(f"{api.url}/api/v3/orders/sync", json={"id": "1"}, timeout=5)
        assert cancel.json()["code"] == -392
        assert api.orders() == [] and api.get("/api/v3/holdings").json()["s"] == "ok"
    with start_sandbox(allowed_ips=("127.0.0.1",), start=SESSION_MORNING) as sandbox:
        assert Api(sandbox).place(order("NSE:SBIN-EQ", "ip2"))["s"] == "ok"


def test_rate_limits_are_per_app_and_a_new_token_resets_nothing():
    with start_sandbox(rate_limits=((5, 1),)) as sandbox:
        first, second = Api(sandbox), Api(sandbox)
        codes = [api.get("/api/v3/funds").status_code for api in (first, second) * 3]
        stats = sandbox.admin("stats", method="GET")
    assert codes.count(200) == 5 and codes[-1] == 429
    assert stats["apps"][SANDBOX_CLIENT_ID]["calls"] == 5


def test_more_than_three_minute_breaches_block_the_app_until_the_next_day():
    # a 2-second window plays the per-minute limit (any window longer than a second does)
    with start_sandbox(rate_limits=((2, 2),), start=SESSION_MORNING) as sandbox:
        api = Api(sandbox)
        codes = [api.get("/api/v3/funds").status_code for _ in range(6)]
        assert codes == [200, 200, 429, 429, 429, 429]
        blocked = api.get("/api/v3/funds")
        stats = sandbox.admin("stats", method="GET")["apps"][SANDBOX_CLIENT_ID]
        sandbox.admin("clock", advance_days=1)
        time.sleep(3)  # the 2-second window empties (a refusal inside it is a new breach)
        next_day = api.get("/api/v3/funds")
    assert blocked.status_code == 429 and "blocked for the rest of the day" in blocked.json()["message"]
    assert int(blocked.headers["Retry-After"]) > 3600  # until midnight, from 11:00
    assert (stats["breaches"], stats["blocked"]) == (4, True)
    assert next_day.status_code == 200


def test_holdings_show_the_start_of_day_and_what_remains():
    with start_sandbox(demo=True, start=SESSION_MORNING) as demo:
        api = Api(demo)
        api.place(order("NSE:SBIN-EQ", "b1", qty=10))
        assert api.get("/api/v3/holdings").json()["holdings"] == []  # today's buys: positions
        demo.admin("clock", advance_days=1)
        [t1] = api.get("/api/v3/holdings").json()["holdings"]
        demo.admin("manual-sell", symbol="NSE:SBIN-EQ", qty=4)
        [sold] = api.get("/api/v3/holdings").json()["holdings"]
        demo.admin("clock", advance_days=1)
        [hld] = api.get("/api/v3/holdings").json()["holdings"]
    assert (t1["holdingType"], t1["quantity"], t1["remainingQuantity"]) == ("T1", 10, 10)
    assert (sold["quantity"], sold["remainingQuantity"]) == (10, 6)
    assert (hld["holdingType"], hld["quantity"], hld["remainingQuantity"]) == ("HLD", 6, 6)


def test_tags_are_shown_prefixed_and_untagged_rows_say_so(sandbox, api):
    api.place(order("NSE:SBIN-EQ", "tag1"))
    api.place(order("NSE:SBIN-EQ"))
    sandbox.admin("fill-pending")
    assert [o["orderTag"] for o in api.orders()] == ["1:tag1", "2:Untagged"]
    trades = api.get("/api/v3/tradebook").json()["tradeBook"]
    assert {t["orderTag"] for t in trades} == {"1:tag1", "1:Untagged"}
    assert all({"exchange", "segment", "orderType", "exchangeOrderNo", "fyToken", "clientId",
                "row"} <= set(t) for t in trades)
    assert [o["orderTag"] for o in api.orders(order_tag="1:tag1")] == ["1:tag1"]
    assert api.orders(order_tag="tag1") == []  # only the documented, prefixed filter works
    sandbox.admin("faults", bare_tags=True)
    assert [o["orderTag"] for o in api.orders()] == ["tag1", ""]


def test_an_unknown_order_id_is_minus_51_and_only_pending_orders_cancel(sandbox, api):
    assert api.get("/api/v3/orders", id="999").json()["code"] == -51
    placed = api.place(order("NSE:SBIN-EQ", "c1"))
    sandbox.admin("fill-pending")
    cancel = api.http.delete(f"{api.url}/api/v3/orders/sync", json={"id": placed["id"]},
                             timeout=5).json()
    assert cancel["s"] == "error" and "not pending" in cancel["message"]


@pytest.mark.parametrize("body", [{"advance_days": "1e300"}, {"advance_days": "nan"},
                                  {"advance_seconds": [1]}, {"now": "yesterday"},
                                  {"now": "1900-01-01T00:00"}])
def test_bad_admin_input_is_a_400_that_changes_nothing(sandbox, body):
    before = sandbox.admin("clock", method="GET")["now"][:16]
    reply = requests.post(f"{sandbox.url}/admin/clock", json=body, timeout=5)
    assert reply.status_code == 400 and reply.json()["error"]
    assert sandbox.admin("clock", method="GET")["now"][:16] == before
    bad = requests.post(f"{sandbox.url}/admin/faults", json={"latency_ms": 1e9}, timeout=5)
    assert bad.status_code == 400


def test_admin_endpoints_answer_loopback_clients_only():
    client = create_app(SandboxOptions()).test_client()
    remote = client.post("/admin/reset", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    local = client.post("/admin/reset", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert (remote.status_code, local.status_code) == (403, 200)


SATURDAY_NIGHT = "2026-11-28T22:00:00"


def test_outside_hours_offline_false_is_refused_as_fyers_does(sandbox, api):
    sandbox.admin("clock", now=SATURDAY_NIGHT)
    reply = api.place({**order("NSE:SBIN-EQ", "h1"), "offlineOrder": False})
    assert (reply["s"], reply["code"]) == ("error", -99) and reply["id"]
    assert reply["message"].startswith("RMS: market is closed: orders with offlineOrder false")
    [row] = api.orders()
    assert (row["status"], row["filledQty"]) == (5, 0)  # in the book as rejected, like Fyers
    assert api.place(order("NSE:SBIN-EQ", "h2"))["code"] == -99  # absent means false


def test_an_amo_waits_for_the_next_open_and_fills_there(sandbox, api):
    sandbox.admin("clock", now=SATURDAY_NIGHT)
    reply = api.place({**order("NSE:SBIN-EQ", "amo1"), "offlineOrder": True})
    assert reply["s"] == "ok" and reply["code"] == 1101
    [row] = api.orders()
    assert (row["status"], row["message"]) == (6, "AMO: waits for the next open")
    sandbox.admin("clock", now="2026-11-30T09:14:00")  # Monday, a minute before the open
    assert api.orders()[0]["status"] == 6
    sandbox.admin("clock", now="2026-11-30T09:16:00")
    [row] = api.orders()
    assert (row["status"], row["filledQty"]) == (2, 10)


def test_demo_fills_at_any_hour_and_offline_order_must_be_a_boolean():
    with start_sandbox(demo=True, rate_limits=RELAXED, start=SATURDAY_NIGHT) as sandbox:
        api = Api(sandbox)
        assert api.place(order("NSE:SBIN-EQ", "d1"))["code"] == 1101
        assert api.orders()[0]["status"] == 2
        bad = api.place({**order("NSE:SBIN-EQ", "d2"), "offlineOrder": "yes"})
        assert (bad["code"], bad["message"]) == (-50, "Invalid offlineOrder: use true (AMO) or "
                                                       "false")


def test_a_faults_pending_order_expires_at_the_close(sandbox, api):
    sandbox.admin("faults", pending_next_orders=1)
    api.place(order("NSE:SBIN-EQ", "p1"))
    sandbox.admin("clock", now="2026-11-25T15:31:00")
    [row] = api.orders()
    assert (row["status"], row["message"]) == (7, "Expired: not filled by the close")
