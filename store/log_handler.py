"""Logging into the store: a queued handler writing batches and the run-id context.

`setup_logging(config, store)` once per process; inside a run, `with run_context(run_id):`
tags every record. Secrets are masked (redaction.py) before a record reaches any handler
set up here.
"""
from __future__ import annotations

import atexit
import logging
import queue
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from config import Config
from redaction import MASK, RedactingFilter, is_secret_name, redact, register_secret
from store import configured_store
from store.base import Store
from store.common import standard_level

logger = logging.getLogger(__name__)

CONSOLE_HANDLER = "nifty_shop.console"
CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

current_run_id: ContextVar[str | None] = ContextVar("current_run_id", default=None)

_NOT_EXTRA = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "run_id"}

@contextmanager
def run_context(run_id: str) -> Iterator[None]:
    """Tag every record logged inside the block (this thread/task) with `run_id`."""
    token = current_run_id.set(run_id)
    try:
        yield
    finally:
        current_run_id.reset(token)


def _safe(key: str, value: Any) -> Any:
    """A JSON-able, redacted copy of a record's custom attribute."""
    if is_secret_name(key):
        return MASK
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _safe(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_safe("", item) for item in value]
    return redact(repr(value))


def script_name() -> str:
    """The module name of the script this process runs: 'executor' for `python executor.py`,
    'fyers_sandbox' for `python -m fyers_sandbox`."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return spec.name.removesuffix(".__main__")
    return Path(getattr(main, "__file__", None) or "main").stem


class ScriptNameFilter(logging.Filter):
    """Names a script's records after its module, not '__main__': the logs page says which
    part of the bot wrote a line (executor, backtest, run_prod...)."""

    def __init__(self) -> None:
        super().__init__()
        self.name_of_main = script_name()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rename the record in place; never drops it."""
        if record.name == "__main__":
            record.name = self.name_of_main
        return True


class StoreLogHandler(logging.Handler):
    """Queues records and writes them to the store's `logs` in batches from a thread.

    `emit` never waits: when the queue is full the record is dropped and counted in
    `dropped`, which `close()` reports. `flush()` waits for what is queued; `close()` (also at
    exit) flushes and stops.
    """

    def __init__(self, store: Store, *, capacity: int = 10_000, batch_size: int = 500) -> None:
        super().__init__()
        self.store = store
        self.dropped = 0
        self._batch_size = batch_size
        self._queue: queue.Queue[Any] = queue.Queue(capacity)
        self._closed = False
        self._stop = object()
        self.addFilter(RedactingFilter())
        self.addFilter(ScriptNameFilter())
        self.addFilter(lambda record: record.name != __name__)  # its own failures go elsewhere
        self._worker = threading.Thread(target=self._write_forever, name="store-log-writer",
                                        daemon=True)
        self._worker.start()
        atexit.register(self.close)

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record as a log row; drop it when the queue is full."""
        if self._closed:
            return
        try:
            row = self._row(record)
        except Exception:  # logging's contract: a bad record must not break the caller
            self.handleError(record)
            return
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.dropped += 1

    def _row(self, record: logging.LogRecord) -> dict[str, Any]:
        extra = {key: _safe(key, value) for key, value in vars(record).items()
                 if key not in _NOT_EXTRA}
        return {"ts": record.created, "level": logging.getLevelName(standard_level(record.levelno)),
                "logger": record.name, "message": self.format(record),
                "run_id": getattr(record, "run_id", None) or current_run_id.get(),
                "extra": extra or None}

    def _write_forever(self) -> None:
        """Take what is queued, up to a batch, write it, wake flushers; until stopped."""
        while True:
            items = [self._queue.get()]
            while len(items) < self._batch_size:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write([item for item in items if isinstance(item, dict)])
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if self._stop in items:
                return

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            self.store.insert_logs(rows)
        except Exception as exc:  # any store failure: say so, keep the worker alive
            logger.warning("could not write %d log rows to the store: %s", len(rows), exc)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every record queued before this call is written (or `timeout`)."""
        if not self._worker.is_alive():
            return
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return
        done.wait(timeout)

    def close(self) -> None:
        """Flush, stop the writer thread and detach from the exit hook; idempotent."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        with suppress(queue.Full):
            self._queue.put(self._stop, timeout=10.0)
        self._worker.join(timeout=10.0)
        if self.dropped:  # the store's logs miss these lines: say so where the console shows it
            logger.warning("%d log lines were not written to the store: they came faster than "
                           "it took them", self.dropped)
        atexit.unregister(self.close)
        super().close()


def setup_logging(config: Config, store: Store, *, console: bool = True) -> StoreLogHandler:
    """Route the root logger (INFO) to the store, and to stderr when `console`; idempotent.

    Also registers the configured secrets for redaction. Called again with another store,
    it replaces the store handler (tests build many apps in one process).
    """
    for value in (config.secret_key, config.token_encryption_key, config.fyers_secret_key,
                  config.fyers_pin, config.telegram_bot_token):
        register_secret(value)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = next((h for h in root.handlers if isinstance(h, StoreLogHandler)), None)
    if handler is not None and handler.store is not store:
        root.removeHandler(handler)
        handler.close()
        handler = None
    if handler is None:
        handler = StoreLogHandler(store)
        root.addHandler(handler)
    if console and not any(h.get_name() == CONSOLE_HANDLER for h in root.handlers):
        stream = logging.StreamHandler()
        stream.set_name(CONSOLE_HANDLER)
        stream.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        stream.addFilter(RedactingFilter())
        stream.addFilter(ScriptNameFilter())
        root.addHandler(stream)
    return handler


@contextmanager
def logged_store(config: Config) -> Iterator[Store]:
    """For CLIs: the configured store with logging routed to it; closed (logs flushed) after."""
    store = configured_store(config)
    try:
        setup_logging(config, store)
        yield store
    finally:
        store.close()
