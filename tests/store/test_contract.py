"""One contract every store backend passes: what the app and the executor rely on."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

import store.base as store_base
from config import IST, PROJECT_DIR
from store import ClosedDay, DuplicateKey, Store, TradeStats
from store.common import search_terms, trade_stats

T0 = 1_732_600_000.0  # 2024-11-26 05:46:40 UTC


def log_row(ts: float, message: str = "tick", level: str = "INFO", run_id: str | None = None,
            **extra: object) -> dict:
    return {"ts": ts, "level": level, "logger": "nifty.test", "message": message,
            "run_id": run_id, "extra": extra or None}


def trade(trade_id: str, symbol: str = "NSE:SBIN-EQ", side: str = "BUY", qty: int = 10,
          price: float = 800.0, ts: float = T0, pnl: float | None = None) -> dict:
    return {"trade_id": trade_id, "run_id": "run-1", "order_tag": f"TAG{trade_id}",
            "symbol": symbol, "side": side, "qty": qty, "price": price, "ts": ts, "pnl": pnl,
            "source": "bot"}


def position(qty: int = 10, avg: float = 800.0) -> dict:
    return {"qty": qty, "avg_price": avg, "last_buy_price": avg, "opened_at": T0,
            "updated_at": T0}


def walk_pages(store: Store, limit: int, **filters: object) -> list[dict]:
    """Every row of a log search, page after page through the keyset cursor."""
    rows, before = [], None
    while True:
        page = store.search_logs(limit=limit, before=before, **filters)
        rows += page.rows
        if page.next_before is None:
            return rows
        before = page.next_before


# --- users and sessions ---------------------------------------------------------------------
def test_users_round_trip_and_unique_names(store):
    store.create_user("owner", "hash-1")
    user = store.get_user("owner")
    assert user["password_hash"] == "hash-1"
    assert user["failed_logins"] == 0 and user["locked_until"] is None
    assert user["created_at"] == pytest.approx(time.time(), abs=60)
    with pytest.raises(DuplicateKey):
        store.create_user("owner", "hash-2")
    assert store.get_user("owner")["password_hash"] == "hash-1"
    assert store.get_user("nobody") is None
    assert store.count_users() == 1


def test_update_user_and_listing(store):
    store.create_user("zed", "h")
    store.create_user("amy", "h")
    assert store.update_user("amy", failed_logins=3, locked_until=T0) is True
    assert store.update_user("ghost", failed_logins=1) is False
    amy = store.get_user("amy")
    assert (amy["failed_logins"], amy["locked_until"]) == (3, T0)
    assert [u["username"] for u in store.list_users()] == ["amy", "zed"]
    with pytest.raises(ValueError, match="no field"):
        store.update_user("amy", is_admin=True)


def test_sessions(store):
    for i, token in enumerate(["t2", "t1", "t3"]):
        store.create_session({"token_hash": token, "username": "amy", "created_at": T0 + i,
                              "last_seen": T0 + i, "expires_at": T0 + 3600})
    store.create_session({"token_hash": "other", "username": "bob", "created_at": T0,
                          "last_seen": T0, "expires_at": T0 + 3600})
    with pytest.raises(DuplicateKey):
        store.create_session({"token_hash": "t1", "username": "eve", "created_at": T0})
    assert [s["token_hash"] for s in store.list_sessions("amy")] == ["t2", "t1", "t3"]
    store.touch_session("t1", T0 + 100)
    assert store.get_session("t1")["last_seen"] == T0 + 100
    store.delete_session("t1")
    store.delete_session("t1")
    assert store.get_session("t1") is None
    assert [s["token_hash"] for s in store.list_sessions("amy")] == ["t2", "t3"]


def test_login_failures_lock_at_the_limit_and_stop_counting_while_locked(store):
    store.create_user("amy", "h")
    assert [store.record_login_failure("amy", T0, 3, T0 + 900) for _ in range(3)] == [
        False, False, True]
    amy = store.get_user("amy")
    assert (amy["failed_logins"], amy["locked_until"]) == (0, T0 + 900)
    assert store.record_login_failure("amy", T0 + 1, 3, T0 + 901) is False  # locked: not counted
    assert store.clear_login_failures("amy", T0 + 899) is False
    assert store.get_user("amy")["locked_until"] == T0 + 900
    assert store.record_login_failure("amy", T0 + 900, 3, T0 + 1800) is False  # lock over
    assert store.clear_login_failures("amy", T0 + 900) is True
    amy = store.get_user("amy")
    assert (amy["failed_logins"], amy["locked_until"]) == (0, None)
    assert store.record_login_failure("ghost", T0, 3, T0 + 900) is False
    assert store.clear_login_failures("ghost", T0) is False


def test_simultaneous_login_failures_all_count_and_lock_once(store):
    store.create_user("amy", "h")
    store.create_user("bob", "h")
    barrier = threading.Barrier(8)

    def fail(username: str, limit: int) -> bool:
        barrier.wait(30)
        return store.record_login_failure(username, T0, limit, T0 + 900)

    with ThreadPoolExecutor(8) as pool:
        assert not any(pool.map(fail, ["amy"] * 8, [100] * 8))
        locks = list(pool.map(fail, ["bob"] * 8, [5] * 8))
    assert store.get_user("amy")["failed_logins"] == 8
    assert locks.count(True) == 1 and store.get_user("bob")["locked_until"] == T0 + 900


def test_a_totp_time_step_is_claimed_once_and_only_forward(store):
    store.create_user("amy", "h")
    assert store.get_user("amy")["totp_last_step"] is None
    assert [store.claim_totp_step("amy", step) for step in (100, 100, 99, 101)] == [
        True, False, False, True]
    assert store.get_user("amy")["totp_last_step"] == 101
    assert store.claim_totp_step("ghost", 5) is False


def test_simultaneous_claims_of_a_totp_step_have_one_winner(store):
    store.create_user("amy", "h")
    barrier = threading.Barrier(8)

    def claim(step: int) -> bool:
        barrier.wait(30)
        return store.claim_totp_step("amy", step)

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(claim, [57_000_000] * 8)).count(True) == 1


def test_login_steps_are_found_by_hash_and_ended_per_user(store):
    for token, username in [("s1", "amy"), ("s2", "amy"), ("s3", "bob")]:
        store.create_login_step({"token_hash": token, "username": username,
                                 "created_at": T0, "expires_at": T0 + 300})
    with pytest.raises(DuplicateKey):
        store.create_login_step({"token_hash": "s1", "username": "eve", "created_at": T0,
                                 "expires_at": T0 + 300})
    assert store.get_login_step("s1") == {"token_hash": "s1", "username": "amy",
                                          "created_at": T0, "expires_at": T0 + 300}
    store.delete_login_steps("amy")
    store.delete_login_steps("nobody")
    assert store.get_login_step("s1") is None and store.get_login_step("s2") is None
    assert store.get_login_step("s3")["username"] == "bob"


# --- tokens, runs, settings -----------------------------------------------------------------
def test_tokens_upsert_by_client_id(store):
    store.save_token({"client_id": "XB1-100", "access_token": "enc-a", "refresh_token": "enc-r",
                      "access_expires_at": T0, "refresh_expires_at": T0 + 99, "updated_at": T0})
    store.save_token({"client_id": "XB1-100", "access_token": "enc-a2", "updated_at": T0 + 1})
    store.save_token({"client_id": "AA1-100", "access_token": "x"})
    token = store.get_token("XB1-100")
    assert token["access_token"] == "enc-a2" and token["refresh_token"] == "enc-r"
    assert token["updated_at"] == T0 + 1
    assert store.get_token("missing") is None
    assert [t["client_id"] for t in store.list_tokens()] == ["AA1-100", "XB1-100"]


def test_runs(store):
    for i in range(5):
        store.create_run({"run_id": f"r{i}", "trigger": "manual", "status": "running",
                          "started_at": T0 + i, "dry_run": i == 0})
    with pytest.raises(DuplicateKey):
        store.create_run({"run_id": "r1", "trigger": "scheduled", "started_at": T0})
    store.update_run("r4", status="succeeded", finished_at=T0 + 60,
                     summary={"bought": ["NSE:SBIN-EQ"], "sold": []})
    run = store.get_run("r4")
    assert run["status"] == "succeeded" and run["summary"] == {"bought": ["NSE:SBIN-EQ"],
                                                               "sold": []}
    assert store.get_run("r0")["dry_run"] is True and run["dry_run"] is False
    assert [r["run_id"] for r in store.list_runs(limit=2)] == ["r4", "r3"]
    assert [r["run_id"] for r in store.list_runs(limit=10, before=T0 + 3)] == ["r2", "r1", "r0"]
    assert store.get_run("nope") is None


def test_runs_since_reads_past_a_page(store, monkeypatch):
    monkeypatch.setattr(store_base, "RUNS_PAGE", 2)  # five runs: three pages
    for i in range(5):
        store.create_run({"run_id": f"r{i}", "trigger": "scheduled", "status": "succeeded",
                          "started_at": T0 + i, "dry_run": False})
    assert [r["run_id"] for r in store.runs_since(T0 + 1)] == ["r4", "r3", "r2", "r1"]
    assert list(store.runs_since(T0 + 5)) == []


def test_a_run_keeps_the_steps_it_rewrites(store):
    store.create_run({"run_id": "r1", "trigger": "manual", "status": "running",
                      "started_at": T0, "dry_run": False})
    assert store.get_run("r1")["steps"] is None
    steps = [{"name": "login", "state": "done", "detail": "token accepted", "at": T0 + 1}]
    store.update_run("r1", steps=steps)
    steps += [{"name": "prices", "state": "running", "detail": "", "at": T0 + 2}]
    store.update_run("r1", steps=steps)
    assert store.get_run("r1")["steps"] == steps
    assert store.list_runs()[0]["steps"] == steps


@pytest.mark.parametrize("value", [{"status": "sent", "at": T0, "tries": [1, 2]}, [1, "a", None],
                                   42, 1.5, "text", True, None])
def test_settings_round_trip(store, value):
    assert store.get_setting("alert", default="unset") == "unset"
    store.set_setting("alert", "first")
    store.set_setting("alert", value)
    assert store.get_setting("alert", default="unset") == value


def count_up(value: object) -> tuple[dict, int]:
    """A modify_setting change: one more call in {"calls": n}; returns the new count."""
    calls = (value or {"calls": 0})["calls"] + 1
    return {"calls": calls}, calls


def test_modify_setting_changes_and_returns_in_one_step(store):
    assert store.modify_setting("budget", count_up) == 1
    assert store.modify_setting("budget", count_up) == 2
    assert store.get_setting("budget") == {"calls": 2}
    store.set_setting("budget", {"calls": 10})
    assert store.modify_setting("budget", count_up) == 11


def test_modify_setting_loses_no_update_between_threads(store):
    barrier = threading.Barrier(8)

    def spend(_: int) -> list[int]:
        barrier.wait()
        return [store.modify_setting("budget", count_up) for _ in range(25)]

    with ThreadPoolExecutor(8) as pool:
        seen = [n for counts in pool.map(spend, range(8)) for n in counts]
    assert sorted(seen) == list(range(1, 201))
    assert store.get_setting("budget") == {"calls": 200}


# --- orders ---------------------------------------------------------------------------------
def test_orders_upsert_by_tag_and_filters(store):
    store.upsert_order({"tag": "R1SBINB", "run_id": "r1", "symbol": "NSE:SBIN-EQ", "side": "BUY",
                        "qty": 12, "status": "pending", "created_at": T0, "updated_at": T0})
    store.upsert_order({"tag": "R1SBINB", "status": "traded", "filled_qty": 12,
                        "traded_price": 801.5, "broker_order_id": "B-1", "updated_at": T0 + 5})
    store.upsert_order({"tag": "R2TCSB", "run_id": "r2", "symbol": "NSE:TCS-EQ", "side": "BUY",
                        "qty": 2, "status": "rejected", "created_at": T0 + 10})
    order = store.get_order("R1SBINB")
    assert (order["qty"], order["status"], order["filled_qty"]) == (12, "traded", 12)
    assert order["traded_price"] == 801.5 and order["created_at"] == T0
    assert [o["tag"] for o in store.list_orders()] == ["R2TCSB", "R1SBINB"]
    assert [o["tag"] for o in store.list_orders(run_id="r1")] == ["R1SBINB"]
    assert [o["tag"] for o in store.list_orders(since=T0 + 1)] == ["R2TCSB"]
    assert [o["tag"] for o in store.list_orders(statuses=["traded", "partial"])] == ["R1SBINB"]
    assert store.list_orders(statuses=[]) == []
    assert store.get_order("none") is None


def test_an_orders_outcome_fields_round_trip_and_old_rows_still_read(store):
    from order_outcomes import phrase

    store.upsert_order({"tag": "R3INFYB", "run_id": "r3", "symbol": "NSE:INFY-EQ", "side": "BUY",
                        "qty": 5, "status": "partial", "filled_qty": 2, "wait_s": 30.0,
                        "rest": "bot", "created_at": T0})
    store.upsert_order({"tag": "R0OLDB", "run_id": "r0", "symbol": "NSE:ITC-EQ", "side": "BUY",
                        "qty": 9, "status": "cancelled", "filled_qty": 0,
                        "message": "Cancelled by user", "created_at": T0})  # before migration 10
    assert phrase(store.get_order("R3INFYB")) == \
        "partly filled (2 of 5; the rest cancelled after 30 s)"
    assert phrase(store.get_order("R0OLDB")) == "not filled, cancelled"


# --- trades and positions -------------------------------------------------------------------
def test_record_trade_sets_position_and_is_idempotent(store):
    assert store.record_trade(trade("t1"), position(10, 800.0)) is True
    assert store.record_trade(trade("t1", qty=99), position(99, 1.0)) is False
    assert [(p["symbol"], p["qty"], p["avg_price"]) for p in store.get_positions()] == [
        ("NSE:SBIN-EQ", 10, 800.0)]
    assert [t["qty"] for t in store.list_trades()] == [10]
    assert store.record_trade(trade("t2", ts=T0 + 1), position(20, 790.0)) is True
    assert store.record_trade(trade("t3", side="SELL", qty=20, ts=T0 + 2, pnl=300.0), None)
    assert store.get_positions() == []
    assert [t["trade_id"] for t in store.list_trades()] == ["t3", "t2", "t1"]


def test_record_trade_is_atomic(store):
    with pytest.raises(ValueError):
        store.record_trade(trade("t1"), {**position(), "bogus": 1})
    assert store.list_trades() == [] and store.get_positions() == []
    assert store.record_trade(trade("t1"), position()) is True


def test_positions_ordered_by_symbol(store):
    for i, symbol in enumerate(["NSE:TCS-EQ", "NSE:INFY-EQ", "NSE:SBIN-EQ"]):
        store.record_trade(trade(f"t{i}", symbol=symbol), position())
    assert [p["symbol"] for p in store.get_positions()] == [
        "NSE:INFY-EQ", "NSE:SBIN-EQ", "NSE:TCS-EQ"]


def test_list_trades_filters(store):
    for i, symbol in enumerate(["NSE:A-EQ", "NSE:B-EQ", "NSE:A-EQ", "NSE:B-EQ"]):
        store.record_trade(trade(f"t{i}", symbol=symbol, ts=T0 + i), position())
    assert [t["trade_id"] for t in store.list_trades(since=T0 + 1, until=T0 + 3)] == ["t2", "t1"]
    assert [t["trade_id"] for t in store.list_trades(symbol="NSE:A-EQ")] == ["t2", "t0"]
    assert [t["trade_id"] for t in store.list_trades(limit=3)] == ["t3", "t2", "t1"]


def test_closed_trades_summed_per_ist_day(store):
    assert store.closed_trade_days() == []
    evening_utc = datetime(2024, 11, 26, 20, 0, tzinfo=IST).timestamp()  # 14:30 UTC
    after_midnight_ist = datetime(2024, 11, 27, 0, 30, tzinfo=IST).timestamp()  # 19:00 UTC on 26
    store.record_trade(trade("b1", ts=T0 - 10), position())
    store.record_trade(trade("s1", side="SELL", ts=evening_utc, pnl=500.0), None)
    store.record_trade(trade("s2", side="SELL", ts=evening_utc + 60, pnl=-100.0), None)
    store.record_trade(trade("s3", side="SELL", ts=evening_utc + 90, pnl=0.0), None)
    store.record_trade(trade("s4", side="SELL", ts=after_midnight_ist, pnl=300.0), None)
    assert store.closed_trade_days() == [
        ClosedDay("2024-11-26", closed=3, wins=1, win_paise=50000, losses=1, loss_paise=-10000),
        ClosedDay("2024-11-27", closed=1, wins=1, win_paise=30000, losses=0, loss_paise=0)]
    assert trade_stats(store.closed_trade_days()) == TradeStats(
        total_pnl=700.0, wins=2, losses=1, avg_win=400.0, avg_loss=-100.0, closed=4)


def test_money_is_kept_to_the_paisa_and_summed_exactly(store):
    """A float price from arithmetic reads back as the amount; sums of paise have no drift."""
    store.record_trade(trade("b1", price=1675.8699999999997), position(10, 1675.8699999999997))
    for i, pnl in enumerate([0.1, 0.2, 0.1, -0.3, 1234.005, -0.004]):
        store.record_trade(trade(f"s{i}", side="SELL", ts=T0 + i + 1, pnl=pnl, price=0.07), None)
    bought = store.list_trades(since=T0, until=T0 + 1)[0]
    assert bought["price"] == 1675.87 and bought["pnl"] is None
    assert store.list_trades(limit=1)[0]["price"] == 0.07
    stats = trade_stats(store.closed_trade_days())
    assert stats.total_pnl == 1234.11  # 0.10 + 0.20 + 0.10 - 0.30 + 1234.01 - 0.00, in paise
    assert (stats.wins, stats.losses, stats.closed) == (4, 1, 6)
    assert stats.avg_win == 308.6 and stats.avg_loss == -0.3  # 1234.41 / 4 = 308.6025
    store.upsert_order({"tag": "T", "run_id": "r", "symbol": "NSE:SBIN-EQ", "side": "BUY",
                        "qty": 1, "status": "traded", "traded_price": 99.994999999,
                        "created_at": T0})
    assert store.get_order("T")["traded_price"] == 99.99


def test_an_average_cost_keeps_its_four_decimals(store):
    store.record_trade(trade("b1"), {**position(3, 801.5333), "last_buy_price": 801.6})
    [held] = store.get_positions()
    assert (held["avg_price"], held["last_buy_price"]) == (801.5333, 801.6)


def test_times_round_trip_to_the_millisecond(store):
    started = T0 + 0.123456
    store.create_run({"run_id": "r", "trigger": "manual", "status": "running",
                      "started_at": started, "finished_at": None})
    store.insert_logs([log_row(started, "at a fraction")])
    assert store.get_run("r")["started_at"] == pytest.approx(started, abs=1e-3)
    assert store.get_run("r")["finished_at"] is None
    [row] = store.search_logs(since=T0, until=T0 + 1).rows
    assert row["ts"] == pytest.approx(started, abs=1e-3)
    assert [r["run_id"] for r in store.list_runs(before=T0 + 1)] == ["r"]
    assert store.list_runs(before=T0) == []


# --- candles --------------------------------------------------------------------------------
def candle(date: str, close: float) -> dict:
    return {"date": date, "open": close - 1, "high": close + 2, "low": close - 2, "close": close,
            "volume": 1000}


def test_candles_upsert_by_symbol_and_date(store):
    store.upsert_candles("NSE:SBIN-EQ", [candle("2024-11-25", 800), candle("2024-11-26", 805)])
    store.upsert_candles("NSE:SBIN-EQ", [candle("2024-11-26", 810), candle("2024-11-27", 812)])
    store.upsert_candles("NSE:TCS-EQ", [candle("2024-11-22", 4000)])
    store.upsert_candles("NSE:TCS-EQ", [])
    closes = [(c["date"], c["close"]) for c in store.get_candles("NSE:SBIN-EQ")]
    assert closes == [("2024-11-25", 800), ("2024-11-26", 810), ("2024-11-27", 812)]
    assert store.get_candles("NSE:SBIN-EQ", since="2024-11-26")[0]["symbol"] == "NSE:SBIN-EQ"
    assert len(store.get_candles("NSE:SBIN-EQ", since="2024-11-26")) == 2
    assert store.last_candle_dates() == {"NSE:SBIN-EQ": "2024-11-27", "NSE:TCS-EQ": "2024-11-22"}
    assert store.get_candles("NSE:NONE-EQ") == []



def test_candles_of_many_symbols_are_read_and_written_at_once(store):
    store.upsert_candles_of({"NSE:SBIN-EQ": [candle("2024-11-25", 800), candle("2024-11-26", 805)],
                             "NSE:TCS-EQ": [candle("2024-11-26", 4000)], "NSE:INFY-EQ": []})
    store.upsert_candles_of({"NSE:SBIN-EQ": [candle("2024-11-26", 806)],
                             "NSE:TCS-EQ": [{"date": "2024-11-27", "close": 4010}]})
    found = store.candles_of(["NSE:SBIN-EQ", "NSE:TCS-EQ", "NSE:INFY-EQ"], since="2024-11-26")
    assert {symbol: [(c["date"], c["close"]) for c in rows] for symbol, rows in found.items()} \
        == {"NSE:SBIN-EQ": [("2024-11-26", 806)],
            "NSE:TCS-EQ": [("2024-11-26", 4000), ("2024-11-27", 4010)]}
    close_only = found["NSE:TCS-EQ"][-1]
    assert (close_only["open"], close_only["high"], close_only["low"], close_only["volume"]) \
        == (None, None, None, None)
    bounded = store.candles_of(["NSE:SBIN-EQ", "NSE:TCS-EQ"], "2024-11-25", until="2024-11-26")
    assert [c["date"] for c in bounded["NSE:SBIN-EQ"]] == ["2024-11-25", "2024-11-26"]
    assert [c["date"] for c in bounded["NSE:TCS-EQ"]] == ["2024-11-26"]
    assert store.candles_of([]) == {}

def test_latest_candles_of_some_symbols_at_once(store):
    today = datetime.now(IST).date()
    recent = [(today - timedelta(days=days)).isoformat() for days in (1, 3)]
    store.upsert_candles("NSE:SBIN-EQ", [candle("2024-11-25", 800), candle("2024-11-27", 812)])
    store.upsert_candles("NSE:TCS-EQ", [candle("2024-11-22", 4000), candle("2024-11-21", 3990)])
    store.upsert_candles("NSE:ITC-EQ", [candle(recent[1], 440), candle(recent[0], 450)])
    store.upsert_candles("NSE:INFY-EQ", [candle(recent[0], 1600)])
    latest = store.latest_candles(["NSE:TCS-EQ", "NSE:SBIN-EQ", "NSE:NONE-EQ", "NSE:TCS-EQ",
                                   "NSE:ITC-EQ"])
    assert {symbol: (c["date"], c["close"]) for symbol, c in latest.items()} == {
        "NSE:SBIN-EQ": ("2024-11-27", 812), "NSE:TCS-EQ": ("2024-11-22", 4000),
        "NSE:ITC-EQ": (recent[0], 450)}
    assert latest["NSE:SBIN-EQ"]["symbol"] == "NSE:SBIN-EQ"
    assert store.latest_candles([]) == {} and store.latest_candles(["NSE:NONE-EQ"]) == {}


# --- locks ----------------------------------------------------------------------------------
def test_lock_is_exclusive_until_released(store):
    assert store.acquire_lock("run", "a", ttl_s=60)
    assert not store.acquire_lock("run", "b", ttl_s=60)
    assert store.acquire_lock("run", "a", ttl_s=60)
    store.release_lock("run", "b")
    assert not store.acquire_lock("run", "b", ttl_s=60)
    assert store.refresh_lock("run", "a", ttl_s=60)
    assert not store.refresh_lock("run", "b", ttl_s=60)
    store.release_lock("run", "a")
    assert not store.refresh_lock("run", "a", ttl_s=60)
    assert store.acquire_lock("run", "b", ttl_s=60)
    assert store.acquire_lock("other", "a", ttl_s=60)


def test_lock_expires_after_ttl(store):
    assert store.acquire_lock("run", "crashed", ttl_s=0.2)
    time.sleep(0.3)
    assert store.acquire_lock("run", "next", ttl_s=60)
    assert not store.refresh_lock("run", "crashed", ttl_s=60)


def test_lock_owner_is_the_holder_until_release_or_expiry(store):
    assert store.lock_owner("run") is None
    assert store.acquire_lock("run", "a", ttl_s=60)
    assert store.lock_owner("run") == "a" and store.lock_owner("other") is None
    store.release_lock("run", "a")
    assert store.lock_owner("run") is None
    assert store.acquire_lock("run", "killed", ttl_s=0.2)
    time.sleep(0.3)
    assert store.lock_owner("run") is None


def test_lock_race_between_threads_has_one_winner(store):
    barrier = threading.Barrier(8)

    def contend(owner: str) -> bool:
        barrier.wait()
        return store.acquire_lock("run", owner, ttl_s=60)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(contend, [f"owner{i}" for i in range(8)]))
    assert results.count(True) == 1


LOCK_SCRIPT = """
import sys
from store import open_store
store = open_store(sys.argv[1], sys.argv[2])
print(store.acquire_lock("run", sys.argv[3], ttl_s=60))
"""


def acquire_in_processes(backend, owners: list[str]) -> list[bool]:
    """Start one process per owner, all at once; each tries the lock once."""
    procs = [subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, backend.url,
                               backend.database, owner], cwd=PROJECT_DIR,
                              stdout=subprocess.PIPE, text=True) for owner in owners]
    outputs = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    return [output == "True" for output in outputs]


def test_lock_is_exclusive_across_processes(backend, store):
    if not backend.shared_across_processes:
        pytest.skip("mongomock keeps its data inside one process")
    assert store.acquire_lock("run", "parent", ttl_s=60)
    assert acquire_in_processes(backend, ["child"]) == [False]
    store.release_lock("run", "parent")
    assert acquire_in_processes(backend, [f"child{i}" for i in range(4)]).count(True) == 1
    assert not store.acquire_lock("run", "parent", ttl_s=60)


# --- logs -----------------------------------------------------------------------------------
def test_logs_newest_first_with_string_ids_and_extra(store):
    store.insert_logs([log_row(T0, "first"), log_row(T0 + 1, "second", step=2)])
    store.insert_logs([])
    page = store.search_logs()
    assert [r["message"] for r in page.rows] == ["second", "first"]
    assert page.next_before is None
    newest = page.rows[0]
    assert isinstance(newest["id"], str) and newest["extra"] == {"step": 2}
    assert (newest["level"], newest["logger"], newest["ts"]) == ("INFO", "nifty.test", T0 + 1)
    assert store.count_logs() == 2


def test_logs_with_equal_ts_page_without_gaps(store):
    store.insert_logs([log_row(T0, f"same {i}") for i in range(7)])
    rows = walk_pages(store, limit=3)
    assert sorted(r["message"] for r in rows) == sorted(f"same {i}" for i in range(7))
    assert len({r["id"] for r in rows}) == 7


def test_log_pages_walk_every_row_once_in_order(store):
    store.insert_logs([log_row(T0 + (i * 7919) % 500, f"row {i}") for i in range(500)])
    rows = walk_pages(store, limit=37)
    assert len(rows) == 500 and len({r["id"] for r in rows}) == 500
    assert [r["ts"] for r in rows] == sorted((r["ts"] for r in rows), reverse=True)


def test_log_pages_stay_consistent_while_newer_rows_arrive(store):
    store.insert_logs([log_row(T0 + i, f"old {i}") for i in range(300)])
    stop = threading.Event()

    def keep_logging() -> None:
        for i in range(1000):
            if stop.is_set():
                return
            store.insert_logs([log_row(time.time(), f"new {i}")])
            time.sleep(0.001)

    writer = threading.Thread(target=keep_logging)
    first = store.search_logs(limit=10)
    writer.start()
    try:
        rows, before = list(first.rows), first.next_before
        while before is not None:
            page = store.search_logs(limit=10, before=before)
            rows += page.rows
            before = page.next_before
    finally:
        stop.set()
        writer.join()
    old = [r["message"] for r in rows if r["message"].startswith("old")]
    assert old == [f"old {i}" for i in reversed(range(300))]
    assert len({r["id"] for r in rows}) == len(rows)


def test_log_search_matches_words_case_insensitively_with_prefix_on_last(store):
    store.insert_logs([
        log_row(T0, "Placed BUY order for NSE:SBIN-EQ qty 12"),
        log_row(T0 + 1, "order rejected by broker: insufficient funds"),
        log_row(T0 + 2, "Token refreshed for client XB1-100"),
        log_row(T0 + 3, "ordering candles for NSE:TCS-EQ"),
    ])

    def found(text: str) -> list[float]:
        return [r["ts"] - T0 for r in store.search_logs(text=text).rows]

    assert found("order") == [3, 1, 0]
    assert found("order rejected") == [1]
    assert found("ORDER sbin") == [0]
    assert found("sbin ord") == [0]
    assert found("rejected order") == [1]
    assert found("refresh") == [2]
    assert found("orders placed") == []
    assert found("ord") == [3, 1, 0]
    assert found("insufficient fund") == [1]


def test_a_one_letter_last_word_matches_whole_words_only(store):
    store.insert_logs([log_row(T0, "plan a retry"), log_row(T0 + 1, "another attempt")])
    assert [r["message"] for r in store.search_logs(text="A").rows] == ["plan a retry"]


HOSTILE = ["' OR 1=1", '{"$gt": ""}', '"', "*", "NEAR(a b)", "a AND", "-x", "^y", "(", ")",
           "'; DROP TABLE logs; --", "\\", "[a-z]+", ".*", "$where", "OR", "NOT order", ":", "%",
           "ünïcödé ☃", "a" * 300]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_search_text_is_only_words(store, text):
    store.insert_logs([log_row(T0, "an ordinary line"), log_row(T0 + 1, f"said {text} here")])
    messages = [r["message"] for r in store.search_logs(text=text).rows]
    if search_terms(text):
        assert f"said {text} here" in messages
    else:  # nothing to search for: no line, not every line
        assert messages == []
    assert store.count_logs() == 2


def test_hostile_words_are_searched_for_literally(store):
    store.insert_logs([log_row(T0, "login failed"), log_row(T0 + 1, "query ' OR 1=1 refused"),
                       log_row(T0 + 2, 'filter {"$gt": ""} refused')])
    assert [r["ts"] - T0 for r in store.search_logs(text="' OR 1=1").rows] == [1]
    assert [r["ts"] - T0 for r in store.search_logs(text='{"$gt": ""}').rows] == [2]
    assert store.search_logs(text="!!! ").rows == []


@pytest.mark.parametrize("text", ["%%", "!!!", "—", "*"])
def test_a_search_with_no_word_in_it_matches_no_line(store, text):
    store.insert_logs([log_row(T0, "100% filled"), log_row(T0 + 1, f"said {text} here")])
    assert store.search_logs(text=text).rows == []
    assert len(store.search_logs(text="  ").rows) == 2  # a blank box filters nothing


def test_log_filters_minimum_level_dates_and_run(store):
    levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    store.insert_logs([log_row(T0 + i, f"m{i}", level=levels[i % 5], run_id=f"run{i % 2}")
                       for i in range(20)])

    def ts_of(**filters: object) -> list[int]:
        return [int(r["ts"] - T0) for r in walk_pages(store, limit=4, **filters)]

    assert ts_of(level="WARNING") == [i for i in reversed(range(20)) if i % 5 >= 2]
    assert ts_of(level="error") == [i for i in reversed(range(20)) if i % 5 >= 3]
    assert ts_of(since=T0 + 5, until=T0 + 8) == [7, 6, 5]
    assert ts_of(run_id="run1", level="ERROR", since=T0 + 10) == [19, 13]
    assert ts_of(text="m1", run_id="run1") == [19, 17, 15, 13, 11, 1]
    with pytest.raises(ValueError):
        store.search_logs(level="LOUD")


def test_level_aliases_are_stored_as_standard_names(store):
    store.insert_logs([log_row(T0, "a", level="WARN"), log_row(T0 + 1, "b", level="fatal")])
    assert [r["level"] for r in store.search_logs().rows] == ["CRITICAL", "WARNING"]
    assert len(store.search_logs(level="WARNING").rows) == 2


@pytest.mark.parametrize("cursor", ["", "garbage", "1.0", "1.0,", "x,1", ",5", "1.5,zz", "nan,5",
                                    "inf,5"])
def test_malformed_cursor_raises_value_error(store, cursor):
    store.insert_logs([log_row(T0, "x")])
    with pytest.raises(ValueError):
        store.search_logs(before=cursor)


def test_old_logs_are_deleted_oldest_first_in_batches(store):
    store.insert_logs([log_row(T0 + i, f"old {i}") for i in range(25)])
    store.insert_logs([log_row(T0 + 100 + i, f"kept {i}") for i in range(5)])
    store.record_trade(trade("t1", ts=T0), position())
    store.create_run({"run_id": "r", "trigger": "manual", "status": "succeeded",
                      "started_at": T0})
    assert store.delete_logs_before(T0 + 100, limit=10) == 10
    assert [r["message"] for r in walk_pages(store, limit=50)][-1] == "old 10"
    assert store.delete_logs_before(T0 + 100, limit=10) == 10
    assert store.delete_logs_before(T0 + 100, limit=10) == 5
    assert store.delete_logs_before(T0 + 100, limit=10) == 0
    assert [r["message"] for r in walk_pages(store, limit=50)] == [
        f"kept {i}" for i in reversed(range(5))]
    assert store.search_logs(text="old").rows == []
    assert store.get_run("r") is not None and len(store.list_trades()) == 1


def test_a_closed_store_reconnects_on_use(store):
    store.create_user("owner", "h")
    store.close()
    store.insert_logs([log_row(T0, "written after close")])
    assert store.get_user("owner") is not None and store.count_logs() == 1


def test_ping_and_unknown_fields(store):
    store.ping()
    with pytest.raises(ValueError, match="no field"):
        store.create_run({"run_id": "r", "color": "blue"})
    with pytest.raises(ValueError):
        store.insert_logs([{**log_row(T0), "colour": 1}])
    assert store.count_logs() == 0


# --- books: real and paper (docs/paper.md) --------------------------------------------------
def test_books_never_mix(store):
    paper = store.for_book("paper")
    assert (store.book, paper.book, store.for_book("real")) == ("real", "paper", store)
    store.create_run({"run_id": "real-1", "trigger": "manual", "status": "running",
                      "started_at": T0, "dry_run": False, "book": "real"})
    paper.create_run({"run_id": "paper-1", "trigger": "manual", "status": "running",
                      "started_at": T0 + 1, "dry_run": False, "book": "paper"})
    store.upsert_order({"tag": "REAL", "run_id": "real-1", "symbol": "NSE:SBIN-EQ",
                        "side": "BUY", "qty": 1, "status": "traded", "created_at": T0})
    paper.upsert_order({"tag": "PAPER", "run_id": "paper-1", "symbol": "NSE:TCS-EQ",
                        "side": "BUY", "qty": 2, "status": "traded", "created_at": T0})
    store.record_trade(trade("t-real"), position(10))
    paper.record_trade(trade("t-paper", symbol="NSE:TCS-EQ", qty=2), position(2))
    paper.record_trade(trade("t-paper-sell", symbol="NSE:TCS-EQ", side="SELL", qty=2,
                             ts=T0 + 5, pnl=40.0), None)
    assert [r["run_id"] for r in store.list_runs()] == ["real-1"]
    assert [(r["run_id"], r["book"]) for r in paper.list_runs()] == [("paper-1", "paper")]
    assert store.get_run("paper-1") is None and paper.get_run("real-1") is None
    assert [o["tag"] for o in store.list_orders()] == ["REAL"] and store.get_order("PAPER") is None
    assert [o["tag"] for o in paper.list_orders()] == ["PAPER"] and paper.get_order("REAL") is None
    assert [t["trade_id"] for t in store.list_trades()] == ["t-real"]
    assert [t["trade_id"] for t in paper.list_trades()] == ["t-paper-sell", "t-paper"]
    assert [p["symbol"] for p in store.get_positions()] == ["NSE:SBIN-EQ"]
    assert paper.get_positions() == []
    assert store.closed_trade_days() == []
    assert [day.pnl_paise for day in paper.closed_trade_days()] == [4000]


def test_books_share_everything_but_the_money(store):
    paper = store.for_book("paper")
    paper.set_setting("k", 1)
    paper.upsert_candles("NSE:SBIN-EQ", [{"date": "2024-11-26", "close": 800.0}])
    assert store.get_setting("k") == 1 and store.get_candles("NSE:SBIN-EQ")[0]["close"] == 800.0
    assert paper.acquire_lock("executor", "paper-run", 60)
    assert not store.acquire_lock("executor", "real-run", 60)
    store.create_user("owner", "hash")
    assert paper.get_user("owner")["password_hash"] == "hash"
    with pytest.raises(ValueError):
        store.for_book("demo")


def test_a_book_view_survives_its_store_closing(store):
    paper = store.for_book("paper")
    paper.record_trade(trade("t1"), position())
    store.close()
    assert [t["trade_id"] for t in paper.list_trades()] == ["t1"]
    paper.close()
    assert [t["trade_id"] for t in paper.list_trades()] == ["t1"] and store.list_trades() == []
