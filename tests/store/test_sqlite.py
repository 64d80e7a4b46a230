"""What only the SQLite file store promises: it survives reopening and reports a bad file."""
from __future__ import annotations

import sqlite3

import pytest

from store import StoreError, open_store
from store.migrations import MIGRATIONS
from store.sqlite import SQLiteStore


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


def test_search_uses_the_indexes(tmp_path):
    store = SQLiteStore(tmp_path / "shop.db")
    conn = sqlite3.connect(tmp_path / "shop.db")
    plan = " ".join(row[-1] for row in conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM logs WHERE (ts, id) < (?, ?) "
        "ORDER BY ts DESC, id DESC LIMIT 51", (1.0, 5)))
    assert "USING INDEX logs_ts" in plan and "TEMP B-TREE" not in plan
    conn.close()
    store.close()
