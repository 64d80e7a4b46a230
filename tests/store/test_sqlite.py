"""What only the SQLite file store promises: it survives reopening and reports a bad file."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from store import ClosedDay, StoreError, open_store
from store.common import trade_stats
from store.migrations import MIGRATIONS
from store.sqlite import SQLiteStore


def database_at(path, version: int) -> sqlite3.Connection:
    """A database file migrated up to `version` only, as an older release left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, statements in enumerate(MIGRATIONS[:version], start=1):
        for statement in statements:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?)", (number,))
    return conn


def test_reopening_keeps_data_and_applies_migrations_once(tmp_path):
    path = tmp_path / "nested" / "folder" / "shop.db"
    first = SQLiteStore(path)
    first.create_user("owner", "hash")
    first.insert_logs([{"ts": 1.0, "level": "INFO", "logger": "x", "message": "kept",
                        "run_id": None, "extra": None}])
    first.close()
    for _ in range(2):
        reopened = open_store(f"sqlite:///{path}")
        assert reopened.get_user("owner")["password_hash"] == "hash"
        assert [r["message"] for r in reopened.search_logs(text="kept").rows] == ["kept"]
        reopened.close()
    with sqlite3.connect(path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version")]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert versions == list(range(1, len(MIGRATIONS) + 1))


def test_migration_2_rekeys_existing_logs_by_time(tmp_path):
    path = tmp_path / "shop.db"
    with database_at(path, 1) as conn:
        conn.executemany("INSERT INTO logs (ts, level, levelno, logger, message) "
                         "VALUES (?, 'INFO', 20, 'x', ?)",
                         [(1000.5, "late arrival"), (2000.25, "newest"), (1000.5, "same time"),
                          (999.0, "oldest")])
    store = SQLiteStore(path)
    rows = store.search_logs().rows
    assert [r["message"] for r in rows] == ["newest", "same time", "late arrival", "oldest"]
    assert [r["ts"] for r in rows] == [2000.25, 1000.5, 1000.5, 999.0]
    assert [r["message"] for r in store.search_logs(text="time").rows] == ["same time"]
    store.insert_logs([{"ts": 1000.5, "level": "INFO", "logger": "x", "message": "third",
                        "run_id": None, "extra": None}])
    assert [r["message"] for r in store.search_logs(since=1000.0, until=1001.0).rows] == [
        "third", "same time", "late arrival"]
    store.close()


def test_an_unwritable_location_is_a_store_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(StoreError, match="not-a-folder"):
        open_store(f"sqlite:///{blocker}/shop.db")


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path):
    path = tmp_path / "shop.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="shop.db"):
        SQLiteStore(path)


def test_a_database_locked_by_another_writer_is_a_store_error(tmp_path):
    store = SQLiteStore(tmp_path / "shop.db", busy_timeout_s=0.1)
    other = sqlite3.connect(tmp_path / "shop.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            store.create_user("owner", "hash")
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.create_user("owner", "hash")
    assert store.count_users() == 1
    store.close()


def test_log_queries_search_indexes_instead_of_scanning(tmp_path):
    store = SQLiteStore(tmp_path / "shop.db")
    store.insert_logs([{"ts": 1000.0 + i, "level": "INFO", "logger": "x", "run_id": "r1",
                        "message": f"order {i}", "extra": None} for i in range(10)])
    cursor = store.search_logs(limit=3).next_before
    statements: list[str] = []
    store._conn().set_trace_callback(statements.append)
    for filters in [{}, {"before": cursor}, {"level": "ERROR"}, {"run_id": "r1"},
                    {"since": 1002.0, "until": 1005.0}, {"text": "order"},
                    {"text": "order 3", "level": "INFO", "run_id": "r1", "before": cursor}]:
        store.search_logs(**filters)
    store._conn().set_trace_callback(None)
    queries = [sql for sql in statements if sql.startswith("SELECT logs.*")]
    assert len(queries) == 7
    for sql in queries:
        plan = [row[-1] for row in store._conn().execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert not [step for step in plan if step.startswith("SCAN logs ")], (sql, plan)
    store.close()


def test_rows_of_one_microsecond_keep_their_order_up_to_the_limit(tmp_path):
    store = SQLiteStore(tmp_path / "shop.db")
    row = {"ts": 5.0, "level": "INFO", "logger": "x", "run_id": None, "extra": None}
    store.insert_logs([{**row, "message": f"m{i}"} for i in range(600)])
    store.insert_logs([{**row, "message": f"m{i}"} for i in range(600, 1000)])
    assert [r["message"] for r in store.search_logs(limit=2).rows] == ["m999", "m998"]
    with pytest.raises(StoreError, match="microsecond"):
        store.insert_logs([{**row, "message": "one too many"}])
    with pytest.raises(ValueError, match="years"):
        store.insert_logs([{**row, "ts": 1e13, "message": "year 318857"}])
    assert store.count_logs() == 1000
    store.close()


def test_closing_from_one_thread_leaves_other_threads_working(tmp_path):
    store = SQLiteStore(tmp_path / "shop.db")
    store.create_user("main", "h")
    used, closed, done = threading.Event(), threading.Event(), threading.Event()

    def worker() -> None:
        store.create_user("worker", "h")
        used.set()
        closed.wait(10)
        store.update_user("worker", failed_logins=1)
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    used.wait(10)
    store.close()
    closed.set()
    thread.join(10)
    assert done.is_set()
    assert store.get_user("worker")["failed_logins"] == 1
    store.close()


def test_migration_4_keeps_money_as_whole_paise(tmp_path):
    path = tmp_path / "shop.db"
    with database_at(path, 3) as conn:
        conn.executemany("INSERT INTO trades (trade_id, symbol, side, qty, price, ts, pnl) "
                         "VALUES (?, 'NSE:ITC-EQ', ?, 5, ?, ?, ?)",
                         [("B1", "BUY", 1675.8699999999997, 1.0, None),
                          ("S1", "SELL", 1700.1, 2.0, 0.1), ("S2", "SELL", 1700.2, 3.0, 0.2)])
        conn.execute("INSERT INTO orders (tag, traded_price) VALUES ('T', 99.99)")
        conn.execute("INSERT INTO positions (symbol, qty, avg_price, last_buy_price) "
                     "VALUES ('NSE:TCS-EQ', 2, 3500.1234, 3499.5)")
    store = SQLiteStore(path)
    assert [(t["price"], t["pnl"]) for t in store.list_trades()] == [
        (1700.2, 0.2), (1700.1, 0.1), (1675.87, None)]
    assert trade_stats(store.closed_trade_days()).total_pnl == 0.3  # not 0.30000000000000004
    assert store.get_order("T")["traded_price"] == 99.99
    assert [(p["avg_price"], p["last_buy_price"]) for p in store.get_positions()] == [
        (3500.1234, 3499.5)]
    columns = {row[1]: row[2] for row in store._conn().execute("PRAGMA table_info(trades)")}
    assert columns["price_paise"] == columns["pnl_paise"] == "INTEGER" and "price" not in columns
    store.close()


def test_migration_8_sums_the_closed_trades_already_there_and_every_later_sale(tmp_path):
    path = tmp_path / "shop.db"
    ist_midnight = 1_764_441_000  # 2025-11-30 00:00 IST
    with database_at(path, 7) as conn:
        conn.executemany("INSERT INTO trades (trade_id, symbol, side, qty, price_paise, ts, "
                         "pnl_paise) VALUES (?, 'NSE:ITC-EQ', ?, 5, 40000, ?, ?)",
                         [("B1", "BUY", ist_midnight - 1, None),  # 29 Nov, a buy: not closed
                          ("S1", "SELL", ist_midnight - 1, 1500),  # 29 Nov, 23:59:59 IST
                          ("S2", "SELL", ist_midnight, -700), ("S3", "SELL", ist_midnight + 60, 0)])
    store = SQLiteStore(path)
    assert store.closed_trade_days() == [
        ClosedDay("2025-11-29", closed=1, wins=1, win_paise=1500, losses=0, loss_paise=0),
        ClosedDay("2025-11-30", closed=2, wins=0, win_paise=0, losses=1, loss_paise=-700)]
    store.record_trade({"trade_id": "S4", "run_id": None, "order_tag": "S4", "symbol": "NSE:ITC-EQ",
                        "side": "SELL", "qty": 5, "price": 410.0, "ts": ist_midnight + 120,
                        "pnl": 12.34, "source": "bot"}, None)
    assert store.closed_trade_days()[-1] == ClosedDay(
        "2025-11-30", closed=3, wins=1, win_paise=1234, losses=1, loss_paise=-700)
    store.close()
