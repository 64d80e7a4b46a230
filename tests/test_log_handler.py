"""Log records reach the store with their run id, never with a secret, even at process exit."""
from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys

import pytest

from config import PROJECT_DIR
from redaction import MASK, redact, register_secret
from store import open_store
from store.log_handler import CONSOLE_HANDLER, StoreLogHandler, run_context, setup_logging
from store.sqlite import SQLiteStore


@pytest.fixture
def log(store):
    """A logger writing only to a StoreLogHandler on the test store."""
    handler = StoreLogHandler(store)
    test_logger = logging.getLogger("nifty.test.handler")
    test_logger.addHandler(handler)
    test_logger.setLevel(logging.DEBUG)
    test_logger.propagate = False
    yield test_logger
    test_logger.removeHandler(handler)
    handler.close()


def stored(store) -> list[dict]:
    for handler in logging.getLogger("nifty.test.handler").handlers:
        handler.flush()
    return list(reversed(store.search_logs(limit=1000).rows))


def test_records_reach_the_store_with_run_id_and_extra(log, store):
    log.info("before any run")
    with run_context("run-42"):
        log.warning("bought %s x %d", "NSE:SBIN-EQ", 12, extra={"symbol": "NSE:SBIN-EQ",
                                                                "qty": 12, "obj": object()})
    log.info("after the run")
    rows = stored(store)
    assert [(r["message"], r["run_id"]) for r in rows] == [
        ("before any run", None), ("bought NSE:SBIN-EQ x 12", "run-42"), ("after the run", None)]
    bought = rows[1]
    assert bought["level"] == "WARNING" and bought["logger"] == "nifty.test.handler"
    assert bought["extra"]["symbol"] == "NSE:SBIN-EQ" and bought["extra"]["qty"] == 12
    assert bought["extra"]["obj"].startswith("<object")
    assert rows[0]["extra"] is None


def test_exceptions_are_stored_with_their_traceback(log, store):
    try:
        raise RuntimeError("broker said no")
    except RuntimeError:
        log.exception("order failed")
    (row,) = stored(store)
    assert row["level"] == "ERROR"
    assert row["message"].startswith("order failed\nTraceback")
    assert "RuntimeError: broker said no" in row["message"]


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJYQjEyMyIsImV4cCI6MTczMjYwMDAwMH0.c2lnbmF0dXJl"


def test_secrets_never_reach_the_store(log, store):
    register_secret("fyers-app-secret-value")
    log.info("validate %s", {"grant_type": "refresh_token", "appIdHash": "abc123hash",
                             "refresh_token": JWT, "pin": "4321"})
    log.info('payload {"access_token": "tok-plain-1", "secret_key": "s3cr3t"}')
    log.info("FYERS_SECRET_KEY=fyers-app-secret-value FYERS_PIN=9876 password: hunter22")
    log.info("Authorization: XB123-100:%s", JWT)
    log.info("ok", extra={"access_token": "tok-extra", "nested": {"password": "pw-nested"},
                          "note": "raw fyers-app-secret-value"})
    try:
        raise ValueError("login failed with pin=2468 and fyers-app-secret-value")
    except ValueError:
        log.exception("refresh failed")
    rows = stored(store)
    # What a log row says (its id and time are digits a 4-digit PIN may match by chance)
    text = json.dumps([{"message": row["message"], "extra": row["extra"]} for row in rows])
    for secret in ["fyers-app-secret-value", "abc123hash", JWT, "4321", "tok-plain-1", "s3cr3t",
                   "9876", "hunter22", "tok-extra", "pw-nested", "2468"]:
        assert secret not in text
    assert MASK in rows[0]["message"] and "grant_type" in rows[0]["message"]
    assert rows[3]["message"] == f"Authorization: XB123-100:{MASK}"


@pytest.mark.parametrize("text", ["shipping=2 spin: 3 pinned=yes", "qty=12 price=800.5",
                                  "secretary of state", "token refreshed for XB123-100"])
def test_ordinary_words_are_not_redacted(text):
    assert redact(text) == text


def test_a_full_queue_drops_instead_of_blocking_and_says_so(tmp_path, caplog):
    path = tmp_path / "shop.db"
    store = SQLiteStore(path, busy_timeout_s=5)
    handler = StoreLogHandler(store, capacity=5)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the writer thread now waits on its first batch
    record = logging.LogRecord("nifty.test", logging.INFO, __file__, 1, "line", None, None)
    for _ in range(50):
        handler.handle(record)
    blocker.execute("ROLLBACK")
    blocker.close()
    handler.close()
    assert handler.dropped > 0
    assert store.count_logs() + handler.dropped == 50
    assert f"{handler.dropped} log lines were not written to the store" in caplog.text
    assert "could not write" not in caplog.text
    store.close()


EXIT_SCRIPT = """
import logging, sys
from config import Config
from store import open_store
from store.log_handler import run_context, setup_logging
config = Config.from_mapping({"DATABASE_URL": sys.argv[1], "FYERS_PIN": "7531"})
store = open_store(config.store_url)
setup_logging(config, store, console=False)
log = logging.getLogger("nifty.exit")
with run_context("run-exit"):
    for i in range(300):
        log.info("line %d before exit, pin 7531", i)
log.debug("below INFO: not stored")
store.close()  # as the CLIs do, while the writer thread may still be busy
"""


def test_records_logged_just_before_exit_are_stored(tmp_path):
    url = f"sqlite:///{tmp_path}/shop.db"
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, url], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    store = open_store(url)
    rows = store.search_logs(limit=500).rows
    assert len(rows) == 300
    assert rows[0]["message"] == f"line 299 before exit, pin {MASK}"
    assert {r["run_id"] for r in rows} == {"run-exit"}
    store.close()


def test_setup_logging_is_idempotent_and_follows_the_store(config, tmp_path):
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    first_store = open_store(config.store_url)
    other_store = open_store(f"sqlite:///{tmp_path}/other.db")
    try:
        first = setup_logging(config, first_store)
        assert setup_logging(config, first_store) is first
        second = setup_logging(config, other_store)
        assert second is not first
        store_handlers = [h for h in root.handlers if isinstance(h, StoreLogHandler)]
        consoles = [h for h in root.handlers if h.get_name() == CONSOLE_HANDLER]
        assert store_handlers == [second] and len(consoles) == 1 and root.level == logging.INFO
        logging.getLogger("nifty.test.setup").info("to the second store, %s", "test-secret-key")
        second.flush()
        assert [r["message"] for r in other_store.search_logs().rows] == [
            f"to the second store, {MASK}"]
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
        first_store.close()
        other_store.close()


SCRIPT = """
import logging, sys
from config import Config
from store import open_store
from store.log_handler import setup_logging
config = Config.from_mapping({"DATABASE_URL": sys.argv[1]})
store = open_store(config.store_url)
setup_logging(config, store, console=False)
logging.getLogger(__name__).info("written by the script")
store.close()
"""


def test_a_script_logs_under_its_module_name_not_main(tmp_path):
    script = tmp_path / "nightly_job.py"
    script.write_text(SCRIPT)
    url = f"sqlite:///{tmp_path}/shop.db"
    result = subprocess.run([sys.executable, str(script), url], cwd=PROJECT_DIR,
                            env={"PYTHONPATH": str(PROJECT_DIR), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    store = open_store(url)
    [row] = store.search_logs().rows
    assert (row["logger"], row["message"]) == ("nightly_job", "written by the script")
    store.close()
