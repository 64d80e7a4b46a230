"""What only the MongoDB store promises: an unreachable server is a clear StoreError."""
from __future__ import annotations

import socket
import uuid
from datetime import datetime

import pytest

from store import StoreError, open_store
from store.common import trade_stats
from store.mongo_documents import upgrade_documents

T0 = 1_732_600_000.0  # 2024-11-26 05:46:40 UTC


def test_an_unreachable_server_is_a_store_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError, match="MongoDB"):
        open_store(f"mongodb://127.0.0.1:{port}/?connectTimeoutMS=200", "nifty_test")


def test_a_malformed_url_is_a_store_error():
    with pytest.raises(StoreError):
        open_store("mongodb://user@:bad:port/", "nifty_test")


@pytest.fixture
def mongo_store():
    """The Mongo backend alone (a real server when TEST_MONGO_URI is set, else mongomock)."""
    from tests.store.conftest import MONGO_URI

    opened = open_store(MONGO_URI or "mongomock://", f"nifty_test_{uuid.uuid4().hex[:12]}")
    yield opened
    opened.close()


def buy(trade_id: str, ts: float, qty: int) -> dict:
    return {"trade_id": trade_id, "run_id": "r1", "order_tag": f"TAG{trade_id}",
            "symbol": "NSE:ITC-EQ", "side": "BUY", "qty": qty, "price": 400.0, "ts": ts,
            "pnl": None, "source": "bot"}


def position(qty: int) -> dict:
    return {"qty": qty, "avg_price": 400.0, "last_buy_price": 400.0, "opened_at": 1.0,
            "updated_at": 2.0}


def test_a_trade_stored_without_its_position_is_completed_when_recorded_again(mongo_store):
    # A crash between the two writes: the trade is stored, the position is not.
    mongo_store._db.trades.insert_one(dict(buy("B1", 100.0, 5)))
    assert mongo_store.get_positions() == []
    assert mongo_store.record_trade(buy("B1", 100.0, 5), position(5)) is False
    assert [p["qty"] for p in mongo_store.get_positions()] == [5]


def test_recording_a_completed_trade_again_changes_nothing(mongo_store):
    assert mongo_store.record_trade(buy("B1", 100.0, 5), position(5)) is True
    assert mongo_store.record_trade(buy("B1", 100.0, 5), position(10)) is False
    assert mongo_store.record_trade(buy("B2", 200.0, 5), position(10)) is True
    # B1 is no longer the newest trade: its stale position must not come back.
    mongo_store._db.positions.update_one({}, {"$unset": {"last_trade_id": ""}})
    assert mongo_store.record_trade(buy("B1", 100.0, 5), position(5)) is False
    assert [p["qty"] for p in mongo_store.get_positions()] == [10]


def test_documents_hold_bson_dates_and_whole_paise(mongo_store):
    mongo_store.record_trade({**buy("B1", T0, 3), "price": 1675.8699999999997},
                             {**position(3), "opened_at": T0})
    mongo_store.create_run({"run_id": "r1", "trigger": "manual", "status": "running",
                            "started_at": T0})
    mongo_store.insert_logs([{"ts": T0, "level": "INFO", "logger": "x", "message": "m",
                              "run_id": None, "extra": None}])
    stored = mongo_store._db.trades.find_one({}, {"_id": 0})
    assert stored["ts"] == datetime(2024, 11, 26, 5, 46, 40)  # UTC
    assert stored["price_paise"] == 167587 and "price" not in stored
    assert stored["pnl_paise"] is None
    held = mongo_store._db.positions.find_one({}, {"_id": 0})
    assert held["last_buy_price_paise"] == 40000 and held["avg_price"] == 400.0
    assert isinstance(held["opened_at"], datetime)
    assert isinstance(mongo_store._db.runs.find_one()["started_at"], datetime)
    assert isinstance(mongo_store._db.logs.find_one()["ts"], datetime)


LEGACY = {  # documents as versions before BSON dates and paise wrote them
    "trades": {"trade_id": "S1", "run_id": "r1", "order_tag": "TAGS1", "symbol": "NSE:ITC-EQ",
               "side": "SELL", "qty": 5, "price": 1675.8699999999997, "ts": T0,
               "pnl": 12.340000000000002, "source": "bot"},
    "orders": {"tag": "TAGS1", "run_id": "r1", "symbol": "NSE:ITC-EQ", "side": "SELL", "qty": 5,
               "status": "traded", "filled_qty": 5, "traded_price": 1675.87,
               "created_at": T0, "updated_at": T0 + 1.5},
    "positions": {"symbol": "NSE:TCS-EQ", "qty": 2, "avg_price": 3500.1234,
                  "last_buy_price": 3499.5, "opened_at": T0, "updated_at": T0},
    "runs": {"run_id": "r1", "trigger": "scheduled", "status": "succeeded", "started_at": T0,
             "finished_at": None, "summary": "", "error": None, "dry_run": False},
    "logs": {"ts": T0, "level": "INFO", "levelno": 20, "logger": "x", "message": "legacy",
             "run_id": "r1", "extra": None},
    "locks": {"name": "executor", "owner": "gone", "expires_at": T0},
}


def test_documents_of_older_versions_are_converted_once(mongo_store):
    db = mongo_store._db
    db.schema_version.delete_many({})
    for collection, document in LEGACY.items():
        db[collection].insert_one(dict(document))
    upgrade_documents(db)
    first = {name: db[name].find_one({}, {"_id": 0}) for name in LEGACY}
    db.schema_version.delete_many({})  # as if a second process had not seen the marker
    upgrade_documents(db)
    assert {name: db[name].find_one({}, {"_id": 0}) for name in LEGACY} == first
    assert first["trades"]["price_paise"] == 167587 and first["trades"]["pnl_paise"] == 1234
    assert "price" not in first["trades"] and "pnl" not in first["trades"]
    assert first["orders"]["updated_at"] == datetime(2024, 11, 26, 5, 46, 41, 500000)
    assert first["positions"]["avg_price"] == 3500.1234
    assert first["positions"]["last_buy_price_paise"] == 349950
    assert first["runs"]["finished_at"] is None
    [sold] = mongo_store.list_trades()
    assert (sold["price"], sold["pnl"], sold["ts"]) == (1675.87, 12.34, T0)
    assert mongo_store.get_order("TAGS1")["traded_price"] == 1675.87
    assert trade_stats(mongo_store.closed_trade_days()).total_pnl == 12.34
    assert [row["message"] for row in mongo_store.search_logs(since=T0).rows] == ["legacy"]
    assert mongo_store.acquire_lock("executor", "next", ttl_s=60)  # the old lock had expired


def test_login_times_are_bson_dates_and_a_lock_ends_after_an_upgrade(mongo_store):
    mongo_store.create_user("alice", "hash")
    assert mongo_store.record_login_failure("alice", T0, 1, T0 + 60) is True
    mongo_store.create_login_step({"token_hash": "h", "username": "alice", "created_at": T0,
                                   "expires_at": T0 + 300})
    mongo_store.acquire_lock("run", "a", 60)
    assert isinstance(mongo_store._db.users.find_one()["locked_until"], datetime)
    assert isinstance(mongo_store._db.login_steps.find_one()["expires_at"], datetime)
    assert mongo_store.get_login_step("h")["expires_at"] == T0 + 300
    upgrade_documents(mongo_store._db)  # what a restart does: the lock must still end on time
    assert mongo_store.clear_login_failures("alice", T0 + 30) is False  # still locked
    assert mongo_store.clear_login_failures("alice", T0 + 61) is True
    assert mongo_store.lock_owner("run") == "a"
