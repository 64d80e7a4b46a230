"""The embedded store: one SQLite file in WAL mode, real columns, FTS5 over log messages."""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from config import make_private_folder
from store.base import ClosedDay, DuplicateKey, Store, StoreError, T
from store.common import (
    FIELDS,
    by_symbol,
    checked,
    complete,
    has_word_prefix,
    money_to_paise,
    money_to_rupees,
)
from store.migrations import MIGRATIONS
from store.sql import Where
from store.sqlite_logs import SQLiteLogs

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 5.0
_JSON_COLUMNS = {"runs": ("summary", "steps"), "logs": ("extra",)}
_BOOL_COLUMNS = {"runs": ("dry_run",)}


def _names(columns: Iterable[str]) -> str:
    """Column names quoted for SQL (they come from FIELDS, never from user input)."""
    return ", ".join(f'"{name}"' for name in columns)


def _encode(table: str, record: dict[str, Any]) -> dict[str, Any]:
    """Values as SQLite stores them: JSON text for the free-form columns, money in paise."""
    encoded = money_to_paise(table, record)
    for name in _JSON_COLUMNS.get(table, ()):
        if encoded.get(name) is not None:
            encoded[name] = json.dumps(encoded[name])
    return encoded


def _decode(table: str, row: sqlite3.Row) -> dict[str, Any]:
    """A row as the record the interface promises."""
    stored = money_to_rupees(table, dict(row))
    record = {name: stored[name] for name in FIELDS[table] if name in stored}
    for name in _JSON_COLUMNS.get(table, ()):
        if record.get(name) is not None:
            record[name] = json.loads(record[name])
    for name in _BOOL_COLUMNS.get(table, ()):
        if record.get(name) is not None:
            record[name] = bool(record[name])
    if table == "logs":
        record["id"] = str(record["id"])
    return record


class SQLiteStore(SQLiteLogs, Store):
    """Store on a SQLite file; one connection per thread, migrations applied at open."""

    def __init__(self, path: str | Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: dict[sqlite3.Connection, threading.Thread] = {}
        self._connections_guard = threading.Lock()
        self._generation = [0]  # shared with the store's book views (for_book)
        try:
            make_private_folder(self.path.parent)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of SQLite file {self.path}: "
                             f"{exc.strerror or exc}") from exc
        self._create_private_file()
        self._migrate()

    # --- plumbing ---------------------------------------------------------------------
    def _create_private_file(self) -> None:
        """Create the database file readable by this user only; SQLite gives its -wal and -shm
        files the same permissions."""
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create SQLite file {self.path}: {exc.strerror or exc}"
                             ) from exc

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite3 errors into the store's own."""
        try:
            yield
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise DuplicateKey(str(exc)) from exc
            raise StoreError(f"SQLite store {self.path} refused a write: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.generation == self._generation[0]:
            return conn
        if conn is not None:  # the store was closed since: reopen, as a new store would
            self._close_connections(lambda c, thread: c is conn)
        self._close_connections(lambda c, thread: not thread.is_alive())
        with self._errors():
            # timeout= is SQLite's busy_timeout: wait that long for another writer.
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s,
                                   isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.create_function("has_word_prefix", 2, has_word_prefix, deterministic=True)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        with self._connections_guard:
            self._connections[conn] = threading.current_thread()
        self._local.conn, self._local.generation = conn, self._generation[0]
        return conn

    def _close_connections(self, which: Callable[[sqlite3.Connection, threading.Thread], bool]
                           ) -> None:
        """Close the connections `which` picks by connection and owning thread."""
        with self._connections_guard:
            picked = [conn for conn, thread in self._connections.items() if which(conn, thread)]
            for conn in picked:
                del self._connections[conn]
        for conn in picked:
            conn.close()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._errors():
            return self._conn().execute(sql, params)

    def _rows(self, table: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [_decode(table, row) for row in self._execute(sql, params).fetchall()]

    def _one(self, table: str, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(table, sql, params)
        return rows[0] if rows else None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT: takes the write lock up front, so read-then-write is atomic
        across processes."""
        conn = self._conn()
        with self._errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        """Apply the migrations this file has not seen yet, each with its version bump."""
        with self._transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                logger.info("SQLite store %s migrated to schema version %d", self.path, version)

    def _insert(self, table: str, record: dict[str, Any], conflict: str = "") -> int:
        """INSERT one record (DuplicateKey on a taken key); returns the number of rows written."""
        row = _encode(table, checked(table, record))
        sql = (f"INSERT INTO {self.collection(table)} ({_names(row)}) VALUES ({', '.join('?' * len(row))}) "
               f"{conflict}")
        return self._execute(sql, list(row.values())).rowcount

    def _upsert(self, table: str, keys: tuple[str, ...], record: dict[str, Any]) -> None:
        """Insert, or set the given fields of the record with the same key."""
        updates = [name for name in money_to_paise(table, record) if name not in keys]
        action = ("UPDATE SET " + ", ".join(f'"{n}" = excluded."{n}"' for n in updates)
                  if updates else "NOTHING")
        self._insert(table, record, f"ON CONFLICT ({_names(keys)}) DO {action}")

    def _update(self, table: str, key: str, value: Any, fields: dict[str, Any]) -> bool:
        """Set fields on the row whose `key` is `value`; False when there is none."""
        if not fields:
            found = self._execute(f"SELECT 1 FROM {self.collection(table)} WHERE {key} = ?",
                                  (value,)).fetchone()
            return found is not None
        row = _encode(table, checked(table, fields))
        assignments = ", ".join(f'"{name}" = ?' for name in row)
        cursor = self._execute(f"UPDATE {self.collection(table)} SET {assignments} "
                               f"WHERE {key} = ?",
                               [*row.values(), value])
        return cursor.rowcount > 0

    # --- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        """Close this thread's connection and those of finished threads.

        A live thread's connection is closed by that thread when it next uses the store
        (which reopens it): closing a connection another thread is using can crash the
        interpreter, e.g. under the log handler's writer at exit.
        """
        current = threading.current_thread()
        with self._connections_guard:
            self._generation[0] += 1
        self._close_connections(lambda conn, thread: thread is current or not thread.is_alive())

    def ping(self) -> None:
        """Raise StoreError when the file cannot be read."""
        self._execute("SELECT count(*) FROM schema_version").fetchone()

    # --- users ------------------------------------------------------------------------
    def create_user(self, username: str, password_hash: str) -> None:
        """Insert a user; DuplicateKey when the name is taken."""
        self._insert("users", {"username": username, "password_hash": password_hash,
                               "failed_logins": 0, "created_at": time.time()})

    def get_user(self, username: str) -> dict[str, Any] | None:
        """The user, or None."""
        return self._one("users", "SELECT * FROM users WHERE username = ?", (username,))

    def update_user(self, username: str, **fields: Any) -> bool:
        """Set fields on a user; False when no such user."""
        return self._update("users", "username", username, fields)

    # One statement each: SQLite runs it atomically, and SET sees the row as it was.
    _UNLOCKED = "username = ? AND (locked_until IS NULL OR locked_until <= ?)"

    def record_login_failure(self, username: str, now: float, max_failures: int,
                             locked_until: float) -> bool:
        """Count one failure of an unlocked user; the one reaching the limit locks."""
        rows = self._execute(
            "UPDATE users SET "
            "locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END, "
            "failed_logins = CASE WHEN failed_logins + 1 >= ? THEN 0 ELSE failed_logins + 1 END "
            f"WHERE {self._UNLOCKED} RETURNING locked_until",
            (max_failures, locked_until, max_failures, username, now)).fetchall()
        return bool(rows) and rows[0][0] == locked_until

    def clear_login_failures(self, username: str, now: float) -> bool:
        """Reset the failure count of an unlocked user; False when locked or unknown."""
        cursor = self._execute("UPDATE users SET failed_logins = 0, locked_until = NULL "
                               f"WHERE {self._UNLOCKED}", (username, now))
        return cursor.rowcount > 0

    def claim_totp_step(self, username: str, step: int) -> bool:
        """Record a TOTP time step as used when later than the last one; one statement."""
        cursor = self._execute("UPDATE users SET totp_last_step = ? WHERE username = ? AND "
                               "(totp_last_step IS NULL OR totp_last_step < ?)",
                               (step, username, step))
        return cursor.rowcount > 0

    def count_users(self) -> int:
        """How many users exist."""
        return self._execute("SELECT count(*) FROM users").fetchone()[0]

    def list_users(self) -> list[dict[str, Any]]:
        """Every user, by name."""
        return self._rows("users", "SELECT * FROM users ORDER BY username")

    # --- sessions ---------------------------------------------------------------------
    def create_session(self, session: dict[str, Any]) -> None:
        """Insert a session; DuplicateKey on the same token_hash."""
        self._insert("sessions", session)

    def get_session(self, token_hash: str) -> dict[str, Any] | None:
        """The session, or None."""
        return self._one("sessions", "SELECT * FROM sessions WHERE token_hash = ?", (token_hash,))

    def touch_session(self, token_hash: str, last_seen: float) -> None:
        """Record activity on a session."""
        self._update("sessions", "token_hash", token_hash, {"last_seen": last_seen})

    def delete_session(self, token_hash: str) -> None:
        """End a session (no error when it is gone already)."""
        self._execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def list_sessions(self, username: str) -> list[dict[str, Any]]:
        """A user's sessions, oldest first."""
        return self._rows("sessions", "SELECT * FROM sessions WHERE username = ? "
                          "ORDER BY created_at, token_hash", (username,))

    # --- login_steps ------------------------------------------------------------------
    def create_login_step(self, step: dict[str, Any]) -> None:
        """Insert a pending login step; DuplicateKey on the same token_hash."""
        self._insert("login_steps", step)

    def get_login_step(self, token_hash: str) -> dict[str, Any] | None:
        """The pending login step, or None."""
        return self._one("login_steps", "SELECT * FROM login_steps WHERE token_hash = ?",
                         (token_hash,))

    def delete_login_steps(self, username: str) -> None:
        """End every pending login step of a user."""
        self._execute("DELETE FROM login_steps WHERE username = ?", (username,))

    # --- fyers_tokens -----------------------------------------------------------------
    def save_token(self, token: dict[str, Any]) -> None:
        """Upsert keyed by client_id."""
        self._upsert("fyers_tokens", ("client_id",), token)

    def get_token(self, client_id: str) -> dict[str, Any] | None:
        """The token record of an app, or None."""
        return self._one("fyers_tokens", "SELECT * FROM fyers_tokens WHERE client_id = ?",
                         (client_id,))

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every app's token record, by client_id."""
        return self._rows("fyers_tokens", "SELECT * FROM fyers_tokens ORDER BY client_id")

    # --- runs -------------------------------------------------------------------------
    def create_run(self, run: dict[str, Any]) -> None:
        """Insert; DuplicateKey on the same run_id."""
        self._insert("runs", run)

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set fields on a run."""
        self._update("runs", "run_id", run_id, fields)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run, or None."""
        return self._one("runs", f"SELECT * FROM {self.collection('runs')} WHERE run_id = ?", (run_id,))

    def list_runs(self, limit: int = 50, before: float | None = None) -> list[dict[str, Any]]:
        """Newest first by started_at; `before` = started_at of the last row seen."""
        where, params = ("WHERE started_at < ?", [before]) if before is not None else ("", [])
        return self._rows("runs", f"SELECT * FROM {self.collection('runs')} {where} "
                          "ORDER BY started_at DESC LIMIT ?",
                          [*params, limit])

    # --- orders -----------------------------------------------------------------------
    def upsert_order(self, order: dict[str, Any]) -> None:
        """Insert or update keyed by tag."""
        self._upsert("orders", ("tag",), order)

    def get_order(self, tag: str) -> dict[str, Any] | None:
        """The order with this tag, or None."""
        return self._one("orders", f"SELECT * FROM {self.collection('orders')} WHERE tag = ?", (tag,))

    def list_orders(self, *, run_id: str | None = None, since: float | None = None,
                    statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Newest first by created_at."""
        where = (Where().add("run_id = ?", run_id).add("created_at >= ?", since)
                 .one_of("status", statuses))
        return self._rows("orders", f"SELECT * FROM {self.collection('orders')} {where.sql} "
                          "ORDER BY created_at DESC, tag DESC", where.params)

    # --- trades and positions ---------------------------------------------------------
    def record_trade(self, trade: dict[str, Any], position: dict[str, Any] | None) -> bool:
        """Insert the trade and set or remove its symbol's position in one transaction."""
        with self._transaction() as conn:
            if not self._insert("trades", trade, "ON CONFLICT (trade_id) DO NOTHING"):
                return False
            if position is None:
                conn.execute(f"DELETE FROM {self.collection('positions')} WHERE symbol = ?",
                             (trade["symbol"],))
            else:
                self._upsert("positions", ("symbol",),
                             complete("positions", {**position, "symbol": trade["symbol"]}))
        return True

    def list_trades(self, *, since: float | None = None, until: float | None = None,
                    symbol: str | None = None, limit: int | None = None
                    ) -> list[dict[str, Any]]:
        """Newest first by ts; `until` exclusive."""
        where = Where().add("ts >= ?", since).add("ts < ?", until).add("symbol = ?", symbol)
        return self._rows("trades", f"SELECT * FROM {self.collection('trades')} {where.sql} "
                          "ORDER BY ts DESC, trade_id DESC LIMIT ?",
                          [*where.params, -1 if limit is None else limit])

    _EPOCH_DAY = date(1970, 1, 1).toordinal()

    def closed_trade_days(self) -> list[ClosedDay]:
        """Closed trades (SELL rows with a pnl) summed per IST day in whole paise, ascending:
        the closed_days table a trigger keeps as trades are recorded (migration 8)."""
        rows = self._execute("SELECT day, closed, wins, win_paise, losses, loss_paise "
                             f"FROM {self.collection('closed_days')} ORDER BY day").fetchall()
        return [ClosedDay(date.fromordinal(self._EPOCH_DAY + day).isoformat(), *sums)
                for day, *sums in rows]

    def get_positions(self) -> list[dict[str, Any]]:
        """Open positions ordered by symbol."""
        return self._rows("positions", f"SELECT * FROM {self.collection('positions')} ORDER BY symbol")

    # --- candles ----------------------------------------------------------------------
    def upsert_candles_of(self, candles: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        """Insert or replace daily candles keyed by (symbol, date), in one transaction."""
        names = FIELDS["candles"]
        values = [[{**checked("candles", c), "symbol": symbol}.get(n) for n in names]
                  for symbol, rows in candles.items() for c in rows]
        if not values:
            return
        updates = ", ".join(f'"{n}" = excluded."{n}"' for n in names[2:])
        with self._transaction() as conn:
            conn.executemany(f"INSERT INTO candles ({_names(names)}) VALUES "
                             f"({', '.join('?' * len(names))}) ON CONFLICT (symbol, date) "
                             f"DO UPDATE SET {updates}", values)

    def candles_of(self, symbols: Sequence[str], since: str = "",
                   until: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """symbol → its candles from `since` to `until`, ascending: one query along the
        (symbol, date) key."""
        where = Where().one_of("symbol", symbols).add("date >= ?", since).add("date <= ?", until)
        return by_symbol(self._rows("candles", f"SELECT * FROM candles {where.sql} "
                                    "ORDER BY symbol, date", where.params))

    def last_candle_dates(self) -> dict[str, str]:
        """{symbol: newest cached date}."""
        rows = self._execute("SELECT symbol, max(date) FROM candles GROUP BY symbol").fetchall()
        return {symbol: date for symbol, date in rows}

    def latest_candles(self, symbols: Sequence[str]) -> dict[str, dict[str, Any]]:
        """{symbol: newest cached candle}: one query, one index probe per symbol."""
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}
        rows = self._rows("candles", "WITH wanted (symbol) AS (VALUES "
                          f"{', '.join(['(?)'] * len(wanted))}) SELECT candles.* FROM wanted "
                          "JOIN candles ON candles.symbol = wanted.symbol AND candles.date = "
                          "(SELECT max(date) FROM candles AS newest "
                          "WHERE newest.symbol = wanted.symbol)", wanted)
        return {row["symbol"]: row for row in rows}

    # --- locks ------------------------------------------------------------------------
    def acquire_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the lock when free, expired or already ours; atomic across processes."""
        with self._transaction() as conn:
            now = time.time()
            row = conn.execute("SELECT owner, expires_at FROM locks WHERE name = ?",
                               (name,)).fetchone()
            if row is not None and row["owner"] != owner and row["expires_at"] > now:
                return False
            conn.execute("INSERT INTO locks (name, owner, expires_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                         "expires_at = excluded.expires_at", (name, owner, now + ttl_s))
        return True

    def release_lock(self, name: str, owner: str) -> None:
        """Release only when `owner` holds it."""
        self._execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    def refresh_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        """Extend a lock `owner` still holds; False when another took it or it is gone."""
        cursor = self._execute("UPDATE locks SET expires_at = ? WHERE name = ? AND owner = ?",
                               (time.time() + ttl_s, name, owner))
        return cursor.rowcount > 0

    def lock_owner(self, name: str) -> str | None:
        """Who holds the lock now; None when it is free or expired."""
        row = self._execute("SELECT owner FROM locks WHERE name = ? AND expires_at > ?",
                            (name, time.time())).fetchone()
        return row["owner"] if row is not None else None

    # --- settings ---------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        """The stored JSON value, or `default`."""
        row = self._execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row is not None else default

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-able value under `key`."""
        self._execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) "
                      "DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def modify_setting(self, key: str, change: Callable[[Any], tuple[Any, T]]) -> T:
        """Read, change and write the value in one write transaction."""
        with self._transaction() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            value, result = change(json.loads(row["value"]) if row is not None else None)
            conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) "
                         "DO UPDATE SET value = excluded.value", (key, json.dumps(value)))
        return result
