"""Runs whose store fails under them (the SQLite file locked by another writer): the run ends
failed with a plain sentence and an alert, never as a zombie holding the lock, and the next
run settles with the broker what the failed one left."""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config import sqlite_path
from executor import LOCK_NAME, as_shown, execute, run_once, running_run
from messages import INTERRUPTED, STORE_UNAVAILABLE
from store.sqlite import SQLiteStore
from tests.batch.helpers import run_cli
from tests.faults.helpers import (
    CLEAR_FAULTS,
    DONE,
    assert_books_agree,
    on_call,
    quick_broker,
    run,
)

SLOW_CALLS_MS = 300  # room to lock the database between the order and its recording
SHORT_BUSY_S = 0.2  # how long the run's store waits for the other writer before failing
FINAL_WRITE_FAILED = "could not record the run's end"


class OtherWriter:
    """Another program holding the SQLite file's write lock until it lets go."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def lock(self) -> None:
        self._conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")


class CallOnLog(logging.Handler):
    """Calls `action` when a record's message starts with `prefix`."""

    def __init__(self, prefix: str, action) -> None:
        super().__init__()
        self.prefix, self.action = prefix, action

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            self.action()


@contextmanager
def on_log(prefix: str, action) -> Iterator[None]:
    """Call `action` when the executor logs a line starting with `prefix`."""
    handler = CallOnLog(prefix, action)
    logging.getLogger("executor").addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger("executor").removeHandler(handler)


def locked_after_the_first_order(config, sandbox, writer: OtherWriter, release_on: str | None):
    """One scheduled run whose database another writer locks as its first order goes out
    (and releases when the executor logs `release_on`); the run's own store gives up after
    SHORT_BUSY_S. Returns the run's final record."""
    run_once(config, trigger="manual", dry_run=True, force=True, broker_factory=quick_broker)
    runner = SQLiteStore(sqlite_path(config.database_url), busy_timeout_s=SHORT_BUSY_S)
    sandbox.admin("faults", latency_ms=SLOW_CALLS_MS)
    try:
        with on_call(sandbox, "/api/v3/orders/sync", 1, lambda done: writer.lock()), \
                on_log(release_on or "\0", writer.release):
            return execute(config, runner, trigger="scheduled", force=True,
                           broker_factory=quick_broker)
    finally:
        writer.release()
        runner.close()
        sandbox.admin("faults", **CLEAR_FAULTS)


def test_a_store_failing_mid_run_fails_it_and_the_end_is_written_on_a_retry(
        alerting_config, store, sandbox, logged_in, telegram):
    writer = OtherWriter(sqlite_path(alerting_config.database_url))
    failed = locked_after_the_first_order(alerting_config, sandbox, writer,
                                          release_on=FINAL_WRITE_FAILED)
    assert failed["status"] == "failed" and failed["summary"] == STORE_UNAVAILABLE.sentence
    assert "locked" in failed["error"]
    assert store.get_run(failed["run_id"]) == failed  # the retry wrote the end
    assert store.lock_owner(LOCK_NAME) is None
    assert any(STORE_UNAVAILABLE.sentence in text for text in telegram.texts)

    assert run(alerting_config)["status"] in DONE  # records the order's outcome
    assert_books_agree(alerting_config, store)


def test_a_run_whose_end_cannot_be_written_is_recorded_failed_by_the_next_start(
        alerting_config, store, sandbox, logged_in, telegram):
    writer = OtherWriter(sqlite_path(alerting_config.database_url))
    failed = locked_after_the_first_order(alerting_config, sandbox, writer, release_on=None)
    assert failed["status"] == "failed" and failed["summary"] == STORE_UNAVAILABLE.sentence
    assert "could not be recorded" in failed["error"]
    assert any(STORE_UNAVAILABLE.sentence in text for text in telegram.texts)
    assert store.get_run(failed["run_id"])["status"] == "running"  # what the disk holds

    store.release_lock(LOCK_NAME, failed["run_id"])  # what the lock's TTL does a minute later
    assert running_run(store) is None
    [shown] = as_shown(store, [store.get_run(failed["run_id"])])
    assert (shown["status"], shown["summary"]) == ("failed", INTERRUPTED.sentence)
    assert run(alerting_config)["status"] in DONE
    assert store.get_run(failed["run_id"])["status"] == "failed"
    assert_books_agree(alerting_config, store)


def test_a_database_locked_at_start_alerts_and_exits_1_with_one_line(alerting_config, store,
                                                                     telegram):
    writer = OtherWriter(sqlite_path(alerting_config.database_url))
    writer.lock()
    try:
        result = run_cli(alerting_config, "executor.py", "--force")
    finally:
        writer.release()
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert STORE_UNAVAILABLE.sentence in result.stderr and "locked" in result.stderr
    [text] = telegram.texts
    assert "run failed" in text and STORE_UNAVAILABLE.sentence in text
    assert store.list_runs() == []
