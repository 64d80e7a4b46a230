"""The sandbox's HTTP surface as any Fyers client sees it: error shapes, limits, admin
endpoints, and state kept across a restart of the real process."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import requests

from config import SANDBOX_CLIENT_ID
from fyers_sandbox.market import ist_midnight_epoch
from fyers_sandbox.testing import SESSION_MORNING, start_sandbox

BUY = {"symbol": "NSE:INFY-EQ", "qty": 2, "type": 2, "side": 1, "productType": "CNC",
       "validity": "DAY", "orderTag": "t1"}


@pytest.fixture
def api(sandbox):
    """A requests session authorised on the sandbox, clock at SESSION_MORNING."""
    sandbox.admin("clock", now=SESSION_MORNING)
    access, _ = sandbox.login()
    with requests.Session() as session:
        session.headers["Authorization"] = f"{SANDBOX_CLIENT_ID}:{access}"
        yield session


def test_missing_or_forged_tokens_get_401_with_fyers_codes(sandbox):
    reply = requests.get(f"{sandbox.url}/api/v3/profile", timeout=5)
    assert reply.status_code == 401 and reply.json()["code"] == -16
    forged = {"Authorization": f"{SANDBOX_CLIENT_ID}:a.b.c"}
    reply = requests.get(f"{sandbox.url}/api/v3/profile", headers=forged, timeout=5)
    assert reply.status_code == 401 and reply.json() == {"s": "error", "code": -15,
                                                         "message": "Invalid token"}


def test_history_refuses_more_than_366_days_and_unknown_symbols(sandbox, api):
    query = {"symbol": "NSE:INFY-EQ", "resolution": "D", "date_format": "1",
             "range_from": "2024-01-01", "range_to": "2025-01-02", "cont_flag": "1"}
    reply = api.get(f"{sandbox.url}/data/history", params=query, timeout=5).json()
    assert (reply["s"], reply["code"]) == ("error", -50)
    query.update(symbol="NSE:NOPE-EQ", range_to="2024-02-01")
    assert api.get(f"{sandbox.url}/data/history", params=query, timeout=5).json()["code"] == -300


def test_history_takes_epoch_bounds_and_answers_no_data_on_a_holiday(sandbox, api):
    holiday = ist_midnight_epoch(date(2026, 11, 24))  # Guru Nanak Jayanti
    query = {"symbol": "NSE:INFY-EQ", "resolution": "D", "date_format": "0",
             "range_from": str(holiday), "range_to": str(holiday), "cont_flag": "1"}
    reply = api.get(f"{sandbox.url}/data/history", params=query, timeout=5).json()
    assert reply == {"s": "no_data", "code": 200, "message": "", "candles": []}
    query["range_to"] = str(holiday + 86400)
    [candle] = api.get(f"{sandbox.url}/data/history", params=query, timeout=5).json()["candles"]
    assert candle[0] == holiday + 86400  # epoch of IST midnight of the 25th


def test_quotes_refuse_more_than_50_symbols(sandbox, api):
    symbols = ",".join(f"NSE:S{i}-EQ" for i in range(51))
    reply = api.get(f"{sandbox.url}/data/quotes", params={"symbols": symbols}, timeout=5)
    assert reply.json()["code"] == -50


MOMENTS = timedelta(seconds=5)  # the sandbox clock runs on from the time it was set to


def served(reply: requests.Response) -> datetime:
    """A reply's Date header."""
    return parsedate_to_datetime(reply.headers["Date"])


def test_replies_carry_the_sandbox_clock_and_quotes_the_session_date_as_fyers_documents(
        sandbox, api):
    """Fyers' time is on its replies (HTTP Date); a quote's `tt` is the session's date at
    00:00 UTC, as in Fyers' documented sample, so a client reading `tt` as the time fails."""
    reply = api.get(f"{sandbox.url}/data/quotes", params={"symbols": "NSE:INFY-EQ"}, timeout=5)
    assert abs(served(reply) - datetime(2026, 11, 25, 5, 30, tzinfo=UTC)) < MOMENTS
    [quote] = reply.json()["d"]
    assert quote["v"]["tt"] == str(int(datetime(2026, 11, 25, tzinfo=UTC).timestamp()))
    sandbox.admin("clock", now="2026-11-28T22:00:00")  # Saturday night: Friday's session
    reply = api.get(f"{sandbox.url}/data/quotes", params={"symbols": "NSE:INFY-EQ"}, timeout=5)
    assert abs(served(reply) - datetime(2026, 11, 28, 16, 30, tzinfo=UTC)) < MOMENTS
    assert reply.json()["d"][0]["v"]["tt"] == str(
        int(datetime(2026, 11, 27, tzinfo=UTC).timestamp()))


def test_the_order_book_is_the_days_as_fyers_and_an_amo_is_in_the_next_sessions(sandbox, api):
    placed = api.post(f"{sandbox.url}/api/v3/orders/sync", json=BUY, timeout=5).json()["id"]
    sandbox.admin("clock", now="2026-11-25T21:00:00")  # the same evening: still in the book
    assert [row["id"] for row in orderbook(sandbox, api)] == [placed]
    sandbox.admin("clock", now="2026-11-26T08:00:00")  # the next morning: a fresh book
    assert orderbook(sandbox, api) == []
    for reply in (api.get(f"{sandbox.url}/api/v3/orders", params={"id": placed}, timeout=5),
                  api.delete(f"{sandbox.url}/api/v3/orders/sync", json={"id": placed}, timeout=5)):
        assert reply.json()["code"] == -51
    sandbox.admin("clock", now="2026-11-28T22:00:00")  # Saturday night: an AMO for Monday
    amo = api.post(f"{sandbox.url}/api/v3/orders/sync", json={**BUY, "offlineOrder": True},
                   timeout=5).json()["id"]
    sandbox.admin("clock", now="2026-11-30T09:30:00")
    assert [(row["id"], row["status"]) for row in orderbook(sandbox, api)] == [(amo, 2)]


def orderbook(sandbox, api: requests.Session) -> list[dict]:
    return api.get(f"{sandbox.url}/api/v3/orders", timeout=5).json()["orderBook"]


def test_orders_with_bad_fields_get_minus_50(sandbox, api):
    for change in ({"qty": 0}, {"type": 1}, {"side": 2}, {"productType": "INTRADAY"},
                   {"validity": "IOC"}, {"orderTag": "x" * 31}, {"orderTag": "a_b"}):
        reply = api.post(f"{sandbox.url}/api/v3/orders/sync", json={**BUY, **change}, timeout=5)
        assert reply.json()["code"] == -50, change
    assert api.get(f"{sandbox.url}/api/v3/orders", timeout=5).json()["orderBook"] == []


def test_a_client_ignoring_the_rate_limit_gets_429_but_admin_calls_do_not(sandbox, api):
    codes = [api.get(f"{sandbox.url}/api/v3/funds", timeout=5).status_code for _ in range(15)]
    assert codes.count(200) == 10 and codes.count(429) == 5
    reply = api.get(f"{sandbox.url}/api/v3/funds", timeout=5)
    assert reply.json() == {"s": "error", "code": -429, "message": "request limit reached"}
    assert all(sandbox.admin("clock", method="GET") for _ in range(15))


def test_clock_can_be_set_and_advanced(sandbox):
    clock = sandbox.admin("clock", now="2026-11-27T15:00:00")
    assert clock["now"].startswith("2026-11-27T15:00") and clock["market_open"]
    clock = sandbox.admin("clock", advance_days=1)
    assert clock["now"].startswith("2026-11-28T15:00") and not clock["trading_day"]


def test_unknown_faults_are_refused(sandbox):
    reply = requests.post(f"{sandbox.url}/admin/faults", json={"meteor_strike": 1}, timeout=5)
    assert reply.status_code == 400 and "meteor_strike" in reply.json()["error"]


def test_by_default_orders_outside_the_session_are_rejected():
    with start_sandbox(start="2026-11-25T18:00:00") as sandbox:
        access, _ = sandbox.login()
        headers = {"Authorization": f"{SANDBOX_CLIENT_ID}:{access}"}
        reply = requests.post(f"{sandbox.url}/api/v3/orders/sync", json=BUY, headers=headers,
                              timeout=5).json()
    assert reply["s"] == "error" and "market is closed" in reply["message"] and reply["id"]


def test_state_survives_a_restart_of_the_process(tmp_path):
    state = tmp_path / "sandbox.db"
    with start_sandbox(process=True, state_file=str(state), start=SESSION_MORNING) as sandbox:
        access, _ = sandbox.login()
        headers = {"Authorization": f"{SANDBOX_CLIENT_ID}:{access}"}
        placed = requests.post(f"{sandbox.url}/api/v3/orders/sync", json=BUY, headers=headers,
                               timeout=5).json()
        before = requests.get(f"{sandbox.url}/api/v3/positions", headers=headers,
                              timeout=5).json()["netPositions"]
        sandbox.admin("faults", reject_next_orders=2)
    with start_sandbox(process=True, state_file=str(state)) as sandbox:
        orders = requests.get(f"{sandbox.url}/api/v3/orders", headers=headers,
                              timeout=5).json()["orderBook"]
        after = requests.get(f"{sandbox.url}/api/v3/positions", headers=headers,
                             timeout=5).json()["netPositions"]
        clock = sandbox.admin("clock", method="GET")
        faults = sandbox.admin("faults", method="GET")
    assert [order["id"] for order in orders] == [placed["id"]]
    assert [(p["symbol"], p["buyQty"]) for p in after] == \
        [(p["symbol"], p["buyQty"]) for p in before] == [("NSE:INFY-EQ", orders[0]["filledQty"])]
    assert clock["now"].startswith("2026-11-25T11:0")
    assert faults["reject_next_orders"] == 2
    # `make run SANDBOX_START=…`: a start given moves the saved clock, and keeps the account
    with start_sandbox(process=True, state_file=str(state), start="2026-12-08T11:00") as sandbox:
        clock = sandbox.admin("clock", method="GET")
        held = requests.get(f"{sandbox.url}/api/v3/holdings", headers=headers,
                            timeout=5).json()["holdings"]
    assert clock["now"].startswith("2026-12-08T11:00") and clock["market_open"]
    assert [h["symbol"] for h in held] == ["NSE:INFY-EQ"]  # the day's buy, held since
