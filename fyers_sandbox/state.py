"""Mutable sandbox state (clock, faults, tokens, account) and its optional SQLite file.

With `--state FILE` the persistent part is saved as one JSON document per key after every
change and loaded at start, so orders, holdings, tokens, the clock offset and armed faults
survive a restart. Request counters are per process and not saved.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fyers_sandbox.book import Book
from fyers_sandbox.market import IST

DEFAULT_REFRESH_TTL_S = 15 * 24 * 3600
FAULT_COUNTERS = ("http_429_next", "http_5xx_next", "reject_next_orders", "pending_next_orders",
                  "partial_fill_next", "lost_ack_next", "html_200_next", "unknown_code_next",
                  "missing_field_next", "slow_cancel_next")


def default_faults() -> dict[str, Any]:
    """No faults armed."""
    faults: dict[str, Any] = dict.fromkeys(FAULT_COUNTERS, 0)
    faults.update(latency_ms=0, partial_fill_ratio=0.5, slow_cancel_reads=2, bare_tags=False)
    return faults


@dataclass
class SandboxState:
    """Everything the sandbox remembers; guard changes with `lock`."""

    clock_offset_s: float = 0.0
    faults: dict[str, Any] = field(default_factory=default_faults)
    access_ttl_s: int | None = None  # None: tokens end at the next 06:00 IST
    refresh_ttl_s: int = DEFAULT_REFRESH_TTL_S
    allow_refresh: bool | None = None  # None: as the options say
    tokens_valid_after: float = 0.0
    signing_key: str = field(default_factory=lambda: secrets.token_hex(32))
    refresh_tokens: dict[str, float] = field(default_factory=dict)
    auth_codes: dict[str, float] = field(default_factory=dict)
    book: Book = field(default_factory=Book)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.stats: Counter[str] = Counter()  # requests by path
        self.statuses: Counter[int] = Counter()  # replies by HTTP status

    def now(self) -> datetime:
        """The sandbox clock in IST: real time shifted by the admin-set offset."""
        return datetime.fromtimestamp(self.now_epoch(), IST)

    def now_epoch(self) -> float:
        return time.time() + self.clock_offset_s

    def take_fault(self, name: str) -> bool:
        """Consume one use of a counted fault; True when it was armed."""
        with self.lock:
            if self.faults.get(name, 0) > 0:
                self.faults[name] -= 1
                return True
            return False

    def reset(self) -> None:
        """Back to a fresh account, real clock and no faults (the signing key stays)."""
        with self.lock:
            fresh = SandboxState(signing_key=self.signing_key)
            for name in _PERSISTED:
                setattr(self, name, getattr(fresh, name))
            self.stats.clear()
            self.statuses.clear()

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _PERSISTED}
        data["book"] = self.book.to_dict()
        return data

    def load(self, data: dict[str, Any]) -> None:
        for name in _PERSISTED:
            if name in data:
                setattr(self, name, data[name])
        if isinstance(self.book, dict):
            self.book = Book.from_dict(self.book)
        self.faults = {**default_faults(), **self.faults}


_PERSISTED = ("clock_offset_s", "faults", "access_ttl_s", "refresh_ttl_s", "allow_refresh",
              "tokens_valid_after",
              "signing_key", "refresh_tokens", "auth_codes", "book")


class StateFile:
    """A SQLite file holding the state as JSON values by key."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS sandbox_state "
                       "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection committed on success and always closed."""
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def read(self) -> dict[str, Any]:
        with self._connect() as db:
            rows = db.execute("SELECT key, value FROM sandbox_state").fetchall()
        return {key: json.loads(value) for key, value in rows}

    def write(self, data: dict[str, Any]) -> None:
        rows = [(key, json.dumps(value)) for key, value in data.items()]
        with self._connect() as db:
            db.executemany("INSERT INTO sandbox_state (key, value) VALUES (?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value", rows)
