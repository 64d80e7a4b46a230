"""What only the MongoDB store promises: an unreachable server is a clear StoreError."""
from __future__ import annotations

import socket
import uuid

import pytest

from store import StoreError, open_store


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
