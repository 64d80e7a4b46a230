"""The executor: run records, the lock, the token check, crash safety and the background start,
with the real CLI in child processes where a crash or a race is the point."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from cryptography.fernet import Fernet

import executor
import india_time
import strategy_settings
import trading_calendar
from config import PROJECT_DIR
from executor import LOCK_NAME, SKIPPED_BUSY, run_once, start_background_run
from messages import BAD_HOLIDAY_FILE, KEY_DIFFERS, LOGIN_NEEDED
from tests.alerts.fake_telegram import FakeTelegram
from tests.batch.conftest import FYERS_2026
from tests.batch.helpers import (
    calls_to,
    cli_env,
    fast_broker,
    run_cli,
    run_trades,
    store_tokens,
)

WAIT_S = 90


def wait_for(condition, what: str, timeout: float = WAIT_S):
    """Poll `condition` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_a_run_records_its_outcome(run_config, store, logged_in):
    run = run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)
    assert run["status"] == "succeeded" and run["trigger"] == "manual"
    assert run["finished_at"] >= run["started_at"] and run["error"] is None
    assert run["summary"].startswith("Bought ")
    assert len(run_trades(store, run["run_id"])) == 1
    assert store.acquire_lock(LOCK_NAME, "someone-else", 1), "the lock was released"


@pytest.mark.parametrize("sandbox", [FYERS_2026], indirect=True)
def test_expired_token_and_refused_refresh_fail_fast_placing_nothing(run_config, store,
                                                                     sandbox):
    store_tokens(run_config, store, sandbox, access_expires_at=time.time() - 60)
    result = run_cli(run_config, "executor.py", "--trigger", "scheduled", "--force")
    assert result.returncode == 1
    assert LOGIN_NEEDED.sentence in result.stdout and "Traceback" not in result.stderr
    [run] = store.list_runs()
    assert run["status"] == "failed" and run["summary"] == LOGIN_NEEDED.sentence
    assert "2FA once per trading day" in run["error"]
    assert calls_to(sandbox, "/orders/sync") == 0 and calls_to(sandbox, "/quotes") == 0


def test_token_ended_by_fyers_is_refreshed_before_the_run(run_config, store, sandbox):
    store_tokens(run_config, store, sandbox)
    sandbox.admin("faults", expire_tokens=True)  # still unexpired on paper
    run = run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)
    assert run["status"] == "succeeded"


def test_missing_token_fails_with_the_login_message(run_config, store, sandbox):
    run = run_once(run_config, trigger="scheduled", force=True, broker_factory=fast_broker)
    assert run["status"] == "failed" and run["summary"] == LOGIN_NEEDED.sentence
    assert calls_to(sandbox, "/quotes") == 0


def test_tokens_stored_under_another_key_fail_naming_the_key_not_a_login(run_config, store,
                                                                         sandbox):
    """The GitHub runner and the web host with different TOKEN_ENCRYPTION_KEY secrets."""
    store_tokens(run_config, store, sandbox)
    runner = run_config.with_overrides(token_encryption_key=Fernet.generate_key().decode())
    result = run_cli(runner, "executor.py", "--trigger", "scheduled", "--force")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [run] = store.list_runs()
    assert run["status"] == "failed" and run["summary"] == KEY_DIFFERS.sentence
    assert "TOKEN_ENCRYPTION_KEY differs" in run["error"]
    assert LOGIN_NEEDED.sentence not in run["summary"]
    assert calls_to(sandbox, "/quotes") == 0 and calls_to(sandbox, "/validate-refresh-token") == 0


def test_a_run_uses_the_strategy_settings_saved_in_the_store(run_config, store, logged_in):
    """The executor's own environment has the defaults; the store says otherwise and wins."""
    store.set_setting(strategy_settings.STORE_KEY, {"ma_period": 7, "max_trade_value": 2000.0})
    result = run_cli(run_config, "executor.py", "--dry-run", "--force")
    assert result.returncode == 0, result.stderr
    [run] = store.list_runs()
    [used] = store.search_logs(text="strategy settings", run_id=run["run_id"]).rows
    assert "MA_PERIOD=7," in used["message"] and "MAX_TRADE_VALUE=2000.0," in used["message"]
    entries = [row["message"] for row in store.search_logs(text="would BUY",
                                                            run_id=run["run_id"]).rows
               if "(entry)" in row["message"]]
    assert entries and all("below 7-day MA" in message for message in entries)


def test_two_executors_started_together_make_one_run(run_config, store, logged_in):
    children = [subprocess.Popen([sys.executable, "executor.py", "--force"], cwd=PROJECT_DIR,
                                 env={**os.environ, **cli_env(run_config)},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    codes = [child.wait(timeout=WAIT_S) for child in children]
    printed = sorted(child.stdout.read().strip() for child in children)
    assert codes == [0, 0]
    runs = store.list_runs()
    assert sorted(run["status"] for run in runs) == ["skipped", "succeeded"]
    [skipped] = [run for run in runs if run["status"] == "skipped"]
    [done] = [run for run in runs if run["status"] == "succeeded"]
    assert skipped["summary"] == SKIPPED_BUSY
    assert printed == sorted([f"run {skipped['run_id']} skipped: {SKIPPED_BUSY}",
                              f"run {done['run_id']} succeeded: {done['summary']}"])
    logged = store.search_logs(run_id=done["run_id"], limit=200).rows
    assert logged and all(row["run_id"] == done["run_id"] for row in logged)


def test_killed_between_placing_and_recording_records_the_fill_once(run_config, store,
                                                                    sandbox, broker):
    sandbox.admin("faults", pending_next_orders=1)
    child = subprocess.Popen(
        [sys.executable, "executor.py", "--force", "--run-id", "killed"], cwd=PROJECT_DIR,
        env={**os.environ, **cli_env(run_config.with_overrides(order_fill_timeout_s=120))},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        placed = wait_for(lambda: [o for o in store.list_orders(run_id="killed")
                                   if o["status"] == "placed"], "the order to be placed")[0]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert store.list_trades() == []
    sandbox.admin("fill-pending")  # the exchange fills it while no executor watches
    store.release_lock(LOCK_NAME, "killed")  # what the lock's TTL does after ten minutes
    for _ in range(2):
        run = run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)
        assert run["status"] == "succeeded"
        assert len(broker.orders(tag=placed["tag"])) == 1
        fills = [t for t in store.list_trades() if t["order_tag"] == placed["tag"]]
        assert [t["trade_id"] for t in fills] == [placed["broker_order_id"]]
        assert store.get_order(placed["tag"])["status"] == "traded"
    assert store.get_run("killed")["status"] == "failed"


def test_double_click_starts_one_background_run(run_config, store, sandbox, logged_in,
                                                monkeypatch):
    for key, value in cli_env(run_config).items():
        monkeypatch.setenv(key, value)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: start_background_run(run_config, dry_run=True),
                                range(2)))
    assert len({run_id for run_id, _ in results}) == 1
    assert sorted(started for _, started in results) == [False, True]
    run_id = results[0][0]
    run = wait_for(lambda: (r := store.get_run(run_id)) and r["status"] != "running" and r,
                   "the background run to finish")
    assert run["status"] == "succeeded" and run["dry_run"]
    assert run["summary"].startswith("Dry run, nothing placed: would buy")
    assert [r["run_id"] for r in store.list_runs()] == [run_id]
    assert calls_to(sandbox, "/orders/sync") == 0


def test_a_failed_run_alerts_the_owner_with_what_to_do(run_config, store):
    telegram = FakeTelegram("123:batch-test-bot-token")
    try:
        config = run_config.with_overrides(telegram_bot_token="123:batch-test-bot-token",
                                           telegram_chat_id="1", telegram_api_url=telegram.url)
        run_once(config, trigger="scheduled", force=True, broker_factory=fast_broker)
        [text] = telegram.texts
    finally:
        telegram.stop()
    assert "run failed" in text and LOGIN_NEEDED.sentence in text


@pytest.mark.parametrize("day", [date(2026, 11, 28), date(2026, 11, 24)],
                         ids=["saturday", "guru-nanak-jayanti"])
def test_no_nse_session_skips_the_run_unless_forced(run_config, store, sandbox, logged_in,
                                                    monkeypatch, day):
    monkeypatch.setattr(executor, "ist_today", lambda: day)
    run = run_once(run_config, trigger="scheduled", broker_factory=fast_broker)
    assert run["status"] == "skipped"
    assert "not an NSE trading day" in run["summary"]
    assert calls_to(sandbox, "/api/v3/orders/sync") == 0
    forced = run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)
    assert forced["status"] == "succeeded"


def test_a_listed_nse_holiday_beyond_the_calendar_skips_and_a_bad_list_fails_naming_the_line(
        run_config, store, sandbox, logged_in, monkeypatch, holidays_file):
    monkeypatch.setattr(executor, "ist_today", lambda: date(2027, 1, 26))  # Republic Day, Tue
    holidays_file.write_text("2027-01-26  # Republic Day\n")
    run = run_once(run_config, trigger="scheduled", broker_factory=fast_broker)
    assert run["status"] == "skipped" and "Tue 26 Jan is not an NSE trading day" in run["summary"]
    holidays_file.write_text("2027-01-26\n2027-02-30\n")
    trading_calendar.added_holidays.cache_clear()  # as a new run's process would read it
    run = run_once(run_config, trigger="scheduled", broker_factory=fast_broker)
    assert run["status"] == "failed" and run["summary"] == BAD_HOLIDAY_FILE.sentence
    assert "nse_holidays.txt line 2: '2027-02-30' is not a date" in run["error"]
    assert calls_to(sandbox, "/api/v3/orders/sync") == 0


def test_one_scheduled_run_a_day_trades_when_both_triggers_are_on(run_config, store, sandbox,
                                                                  logged_in, monkeypatch):
    """The host's scheduler and the GitHub workflow both on: the late one places nothing. A
    failed scheduled run leaves the day to the next; Run now and --force still run."""
    monkeypatch.setattr(executor, "skipped_day", lambda force: None)  # a weekend too, unforced
    store.create_run({"run_id": "failed-earlier", "trigger": "scheduled", "status": "failed",
                      "started_at": time.time() - 60, "finished_at": time.time() - 50,
                      "summary": "failed", "error": "x", "dry_run": False})
    first = run_once(run_config, trigger="scheduled", broker_factory=fast_broker)
    assert first["status"] == "succeeded"
    placed = calls_to(sandbox, "/api/v3/orders/sync")
    second = run_once(run_config, trigger="scheduled", broker_factory=fast_broker)
    started = time.strftime("%H:%M", time.gmtime(first["started_at"] + 19800))  # IST
    assert (second["status"], second["summary"]) == (
        "skipped", f"skipped: today's scheduled run already ran at {started} IST "
                   f"({first['run_id']}); one scheduled run a day trades")
    assert calls_to(sandbox, "/api/v3/orders/sync") == placed
    manual = run_once(run_config, trigger="manual", broker_factory=fast_broker)
    assert manual["status"] == "succeeded"
    forced = run_once(run_config, trigger="scheduled", force=True, broker_factory=fast_broker)
    assert forced["status"] == "succeeded"


@pytest.mark.parametrize("status,order,held_back", [
    ("warning", None, False),  # found NSE closed: placed nothing
    ("failed", "rejected", False),  # its orders refused (a runner's unregistered IP)
    ("failed", "traded", True),  # failed after an order filled: the day was traded
], ids=["closed", "all refused", "filled then failed"])
def test_an_earlier_scheduled_run_holds_the_day_only_if_it_traded(run_config, store, logged_in,
                                                                  monkeypatch, status, order,
                                                                  held_back):
    monkeypatch.setattr(executor, "skipped_day", lambda force: None)
    started = max(time.time() - 60, india_time.midnight(time.time()))
    store.create_run({"run_id": "earlier", "trigger": "scheduled", "status": status,
                      "started_at": started, "finished_at": started + 5, "summary": "",
                      "error": None, "dry_run": False})
    if order:
        store.upsert_order({"tag": "e1", "run_id": "earlier", "symbol": "NSE:ITC-EQ",
                            "side": "BUY", "qty": 1, "reason": "entry", "status": order,
                            "broker_order_id": "B1", "filled_qty": 0, "traded_price": 0.0,
                            "message": "", "created_at": started, "updated_at": started})
    run = run_once(run_config, trigger="scheduled", broker_factory=fast_broker)
    assert (run["status"] == "skipped") is held_back, run["summary"]


def test_four_quick_runs_buy_one_new_stock_that_day(run_config, store, logged_in):
    runs = [run_once(run_config, trigger="manual", force=True, broker_factory=fast_broker)
            for _ in range(4)]
    assert [run["status"] for run in runs] == ["succeeded"] * 4
    entries = [order for order in store.list_orders() if order["reason"] == "entry"]
    assert len(entries) == 1 and len(store.get_positions()) == 1
    for later in runs[1:]:
        # No entry was looked for, so none is said to have been missed.
        assert later["summary"] == ("No order: nothing met the exit or averaging rules; today's "
                                    "new-entry budget is spent: 1 of 1.")
