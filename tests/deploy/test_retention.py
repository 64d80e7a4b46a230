"""Log retention: old log rows go in small batches, by the daily job or `python retention.py`;
trades, orders and runs stay."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import pytest
from flask import Flask

import retention
import scheduler
from config import IST, PROJECT_DIR

DAY_S = 24 * 3600
NOW = time.time()


def log_row(age_days: float, message: str) -> dict:
    return {"ts": NOW - age_days * DAY_S, "level": "INFO", "logger": "x", "message": message,
            "run_id": None, "extra": None}


@pytest.fixture
def aged(store):
    """25 rows older than a year, 5 from last week, and a trade, an order and a run of 2 years
    ago."""
    store.insert_logs([log_row(400 + i, f"ancient {i}") for i in range(25)])
    store.insert_logs([log_row(7 - i, f"recent {i}") for i in range(5)])
    old = NOW - 730 * DAY_S
    store.record_trade({"trade_id": "T1", "run_id": "r1", "order_tag": "TAG", "symbol":
                        "NSE:SBIN-EQ", "side": "BUY", "qty": 1, "price": 800.0, "ts": old,
                        "pnl": None, "source": "bot"},
                       {"qty": 1, "avg_price": 800.0, "last_buy_price": 800.0, "opened_at": old,
                        "updated_at": old})
    store.upsert_order({"tag": "TAG", "run_id": "r1", "status": "traded", "created_at": old})
    store.create_run({"run_id": "r1", "trigger": "scheduled", "status": "succeeded",
                      "started_at": old})
    return store


class CountingStore:
    """The real store, counting the batches retention asks it to delete."""

    def __init__(self, store) -> None:
        self.store, self.batches = store, []

    def delete_logs_before(self, ts: float, limit: int) -> int:
        removed = self.store.delete_logs_before(ts, limit)
        self.batches.append(removed)
        return removed


def test_logs_past_the_retention_go_in_batches_and_nothing_else(config, aged):
    counting = CountingStore(aged)
    removed = retention.purge_old_logs(config, counting, now=NOW, batch_rows=10, pause_s=0)
    assert removed == 25 and counting.batches == [10, 10, 5]
    assert [row["message"] for row in aged.search_logs().rows] == [
        f"recent {i}" for i in reversed(range(5))]
    assert len(aged.list_trades()) == 1 and aged.get_order("TAG") is not None
    assert aged.get_run("r1") is not None and len(aged.get_positions()) == 1


def test_a_shorter_retention_keeps_less(config, aged):
    removed = retention.purge_old_logs(config.with_overrides(log_retention_days=5), aged,
                                       now=NOW, pause_s=0)
    assert removed == 27  # ages 7 and 6 days go; 5 days is not older than 5
    assert [row["message"] for row in aged.search_logs().rows] == [
        f"recent {i}" for i in reversed(range(2, 5))]


def test_the_cli_says_what_it_removed(config, aged):
    result = subprocess.run([sys.executable, "retention.py"], cwd=PROJECT_DIR, timeout=60,
                            capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": config.database_url,
                                 "TOKEN_ENCRYPTION_KEY": config.token_encryption_key,
                                 "LOG_RETENTION_DAYS": "30"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "removed 25 log rows older than 30 days\n"
    assert not any(row["message"].startswith("ancient") for row in aged.search_logs().rows)


def test_the_in_process_scheduler_purges_daily_at_night(config, store, monkeypatch):
    monkeypatch.setattr(scheduler, "_scheduler", None)
    app = Flask(__name__)
    app.extensions["store"] = store
    scheduler.init_scheduler(app, config.with_overrides(scheduler_enabled=True))
    try:
        job = app.extensions["scheduler"].get_job("log-retention")
        saturday = datetime(2026, 11, 28, 12, 0, tzinfo=IST)
        assert job.trigger.get_next_fire_time(None, saturday) == datetime(2026, 11, 29, 3, 0,
                                                                         tzinfo=IST)
        store.insert_logs([log_row(400, "ancient")])
        job.func(*job.args)
        assert store.search_logs(text="ancient").rows == []
    finally:
        app.extensions["scheduler"].shutdown(wait=False)
