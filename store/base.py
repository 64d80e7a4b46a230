"""The store interface every backend implements, and the shapes of its records.

Records cross this interface as plain dicts with the fields listed per collection below.
All times are UTC epoch seconds (float); candle dates are IST trading dates 'YYYY-MM-DD'.
Money is float rupees, rounded to paise where it is an amount (MONEY_FIELDS in common.py; sums
are exact). Each backend passes the one contract suite in tests/store/; docs/store.md says how
each one keeps the records.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

BOOKS = ("real", "paper")
# The money collections, one set per book; everything else (users, sessions, tokens, settings,
# candles, logs, locks) is shared by both books.
BOOK_COLLECTIONS = ("runs", "orders", "trades", "positions", "closed_days")
RUNS_PAGE = 50  # runs read at a time by runs_since


class StoreError(RuntimeError):
    """The store cannot be reached or refused an operation; the run or request stops."""


class DuplicateKey(StoreError):
    """A record with the same unique key exists already; nothing was written."""


@dataclass(frozen=True)
class LogPage:
    """One page of log rows, newest first, and the cursor for the next (older) page."""

    rows: list[dict[str, Any]]
    next_before: str | None


@dataclass(frozen=True)
class TradeStats:
    """Aggregates over closed trades (SELL rows with a pnl)."""

    total_pnl: float
    wins: int
    losses: int
    avg_win: float
    avg_loss: float
    closed: int


@dataclass(frozen=True)
class ClosedDay:
    """The closed trades (SELL rows with a pnl) of one IST day, summed in whole paise: the
    Trading page's P&L figures and chart both come from these, read in one pass."""

    day: str  # IST date 'YYYY-MM-DD'
    closed: int  # break-even trades included
    wins: int
    win_paise: int
    losses: int
    loss_paise: int  # zero or negative

    @property
    def pnl_paise(self) -> int:
        """The day's realized P&L."""
        return self.win_paise + self.loss_paise


class Store(ABC):
    """Collections: users, sessions, login_steps, fyers_tokens, runs, logs, orders, trades,
    positions, candles, locks. Field lists are given per method group."""

    book: str = "real"  # whose runs, orders, trades and positions this store object reads

    def for_book(self, book: str) -> Store:
        """This store seen through one book ("real" or "paper"): the same connection, with its
        runs, orders, trades and positions those of `book` (docs/paper.md), never mixed."""
        if book not in BOOKS:
            raise ValueError(f"unknown book {book!r}: use one of {', '.join(BOOKS)}")
        if book == self.book:
            return self
        view = copy.copy(self)
        view.book = book
        return view

    def find_run(self, run_id: str) -> tuple[Store, dict[str, Any]] | None:
        """Run `run_id` and this store seen through the book that holds it (this one first),
        or None: the logs and the run lock are shared, so a run id may be the other book's."""
        for view in map(self.for_book, dict.fromkeys((self.book, *BOOKS))):
            if (run := view.get_run(run_id)) is not None:
                return view, run
        return None

    def collection(self, name: str) -> str:
        """The stored name of collection `name` in this store's book (`paper_trades`, …)."""
        return f"paper_{name}" if self.book == "paper" and name in BOOK_COLLECTIONS else name

    # --- lifecycle ----------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None:
        """Release connections; using the store afterwards reconnects (the log handler may
        still write at interpreter exit, after a CLI closed its store)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreError when the store cannot be reached."""

    # --- users: {username, password_hash, totp_secret, failed_logins, locked_until,
    #             created_at, totp_last_step} ---------------------------------------------
    @abstractmethod
    def create_user(self, username: str, password_hash: str) -> None:
        """Insert a user; DuplicateKey when the name is taken."""

    @abstractmethod
    def get_user(self, username: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def update_user(self, username: str, **fields: Any) -> bool:
        """Set fields on a user; False when no such user."""

    @abstractmethod
    def record_login_failure(self, username: str, now: float, max_failures: int,
                             locked_until: float) -> bool:
        """Count one failed login of a user not locked at `now`, atomically however many
        requests race; the failure that reaches `max_failures` locks the user until
        `locked_until` and restarts the count. True when this call locked the user."""

    @abstractmethod
    def clear_login_failures(self, username: str, now: float) -> bool:
        """Reset the failure count of a user not locked at `now`, atomically; False (nothing
        changed) when the user is locked or unknown."""

    @abstractmethod
    def claim_totp_step(self, username: str, step: int) -> bool:
        """Record TOTP time step `step` as used by the user when it is later than the last one
        used, atomically; False when it is not (a replayed or older code) or no such user."""

    @abstractmethod
    def count_users(self) -> int: ...

    @abstractmethod
    def list_users(self) -> list[dict[str, Any]]:
        """Every user, by name (hashes included: strip them before showing)."""

    # --- sessions: {token_hash, username, created_at, last_seen, expires_at} --------------
    @abstractmethod
    def create_session(self, session: dict[str, Any]) -> None: ...

    @abstractmethod
    def get_session(self, token_hash: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def touch_session(self, token_hash: str, last_seen: float) -> None: ...

    @abstractmethod
    def delete_session(self, token_hash: str) -> None: ...

    @abstractmethod
    def list_sessions(self, username: str) -> list[dict[str, Any]]:
        """A user's sessions, oldest first."""

    # --- login_steps: {token_hash, username, created_at, expires_at}: a password accepted,
    #     its TOTP code still to come ---------------------------------------------------------
    @abstractmethod
    def create_login_step(self, step: dict[str, Any]) -> None:
        """Insert a pending login step; DuplicateKey on the same token_hash."""

    @abstractmethod
    def get_login_step(self, token_hash: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def delete_login_steps(self, username: str) -> None:
        """End every pending login step of a user (none is fine)."""

    # --- fyers_tokens: {client_id, access_token, refresh_token (both encrypted text),
    #                    access_expires_at, refresh_expires_at, updated_at} ---------------
    @abstractmethod
    def save_token(self, token: dict[str, Any]) -> None:
        """Upsert keyed by client_id."""

    @abstractmethod
    def get_token(self, client_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def list_tokens(self) -> list[dict[str, Any]]:
        """Every app's token record, by client_id."""

    # --- runs: {run_id, trigger, status, started_at, finished_at, summary, error,
    #            dry_run, steps, book (real|paper)} -- status: running | succeeded | warning (succeeded with
    #            warnings: an order was refused or not wholly filled) | failed | skipped;
    #            steps: None or a JSON-able list the run rewrites as it goes (run_steps.py) --
    @abstractmethod
    def create_run(self, run: dict[str, Any]) -> None:
        """Insert; DuplicateKey on the same run_id."""

    @abstractmethod
    def update_run(self, run_id: str, **fields: Any) -> None: ...

    @abstractmethod
    def get_run(self, run_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def list_runs(self, limit: int = 50, before: float | None = None) -> list[dict[str, Any]]:
        """Newest first by started_at; `before` = started_at of the last row seen."""

    def runs_since(self, since: float) -> Iterator[dict[str, Any]]:
        """This book's runs started at or after `since`, newest first, read a page at a time."""
        before = None
        while page := self.list_runs(limit=RUNS_PAGE, before=before):
            for run in page:
                if run["started_at"] < since:
                    return
                yield run
            before = page[-1]["started_at"]

    # --- logs: {id (str, assigned), ts, level, logger, message, run_id, extra (dict)} ----
    @abstractmethod
    def insert_logs(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append log rows in one batch. A level is stored as the standard level at or below
        it (WARN → WARNING, a custom 25 → INFO); ids are opaque strings."""

    @abstractmethod
    def search_logs(self, *, text: str | None = None, level: str | None = None,
                    since: float | None = None, until: float | None = None,
                    run_id: str | None = None, before: str | None = None,
                    limit: int = 50) -> LogPage:
        """Newest first (ts, then id). `text` matches words of the message, ignoring case
        (SQLite also ignores accents), all of them, the last one as a prefix when it has two
        letters or more; anything but letters and digits only separates words, so user input
        is never query syntax, and text with no word at all ("%%") matches nothing. `level` is
        a minimum level name (WARNING → WARNING, ERROR, CRITICAL), `since`/`until` bound ts
        (until exclusive), `before` is the `next_before` cursor of a previous page (keyset,
        never OFFSET). Malformed cursors raise ValueError."""

    @abstractmethod
    def count_logs(self) -> int: ...

    @abstractmethod
    def delete_logs_before(self, ts: float, limit: int) -> int:
        """Remove up to `limit` of the oldest log rows with ts before `ts`; returns how many
        went. Retention calls it in small batches, so no run or page waits behind one long
        write. Nothing but logs is ever removed."""

    # --- orders: {tag, run_id, symbol, side (BUY|SELL), qty, reason, broker_order_id,
    #              status (order_outcomes.py: pending|placed|traded|partial|unfilled|expired|
    #              rejected|cancelled|cancelled_at_broker|not_placed|unknown), filled_qty,
    #              traded_price, message, created_at, updated_at, wait_s (the fill wait
    #              before the bot cancelled), rest (a partial's remainder: bot|broker|expired|
    #              rejected)} --------------------------------------------------------------
    @abstractmethod
    def upsert_order(self, order: dict[str, Any]) -> None:
        """Insert or update keyed by tag."""

    @abstractmethod
    def get_order(self, tag: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def list_orders(self, *, run_id: str | None = None, since: float | None = None,
                    statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Newest first by created_at."""

    # --- trades: {trade_id, run_id, order_tag, symbol, side (BUY|SELL), qty, price, ts,
    #              pnl (SELL only, else None), source (bot|manual)} ----------------------
    # --- positions: {symbol, qty, avg_price, last_buy_price, opened_at, updated_at} -----
    @abstractmethod
    def record_trade(self, trade: dict[str, Any], position: dict[str, Any] | None) -> bool:
        """Insert the trade and set the symbol's position to `position` (None removes it),
        together. Returns False and changes nothing when trade_id exists already."""

    @abstractmethod
    def list_trades(self, *, since: float | None = None, until: float | None = None,
                    symbol: str | None = None, limit: int | None = None
                    ) -> list[dict[str, Any]]:
        """Newest first by ts."""

    @abstractmethod
    def closed_trade_days(self) -> list[ClosedDay]:
        """Closed trades summed per IST day, ascending by day (one pass over them)."""

    @abstractmethod
    def get_positions(self) -> list[dict[str, Any]]:
        """Open positions ordered by symbol."""

    # --- candles: {symbol, date, open, high, low, close, volume}, key (symbol, date) ------
    # A day whose close came from a quote's previous close has open, high, low and volume None.
    @abstractmethod
    def upsert_candles_of(self, candles: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        """Insert or replace the daily candles of every symbol in `candles` (symbol → its
        candles), keyed by (symbol, date), in one write."""

    @abstractmethod
    def candles_of(self, symbols: Sequence[str], since: str = "",
                   until: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """symbol → its candles dated from `since` to `until` (both inclusive, None: no end),
        ascending, read in one query; symbols without any are left out."""

    def upsert_candles(self, symbol: str, candles: Sequence[dict[str, Any]]) -> None:
        """Insert or replace one symbol's daily candles."""
        self.upsert_candles_of({symbol: candles})

    def get_candles(self, symbol: str, since: str | None = None) -> list[dict[str, Any]]:
        """Ascending by date; `since` inclusive."""
        return self.candles_of([symbol], since or "").get(symbol, [])

    @abstractmethod
    def last_candle_dates(self) -> dict[str, str]:
        """{symbol: newest cached date}."""

    @abstractmethod
    def latest_candles(self, symbols: Sequence[str]) -> dict[str, dict[str, Any]]:
        """{symbol: its newest cached candle} for those of `symbols` that have one, read in
        one go however many symbols are asked for (pages value holdings at these closes)."""

    # --- locks: {name, owner, expires_at} -----------------------------------------------
    @abstractmethod
    def acquire_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the lock when free or expired; True when `owner` now holds it. Atomic across
        processes."""

    @abstractmethod
    def release_lock(self, name: str, owner: str) -> None:
        """Release only when `owner` holds it."""

    @abstractmethod
    def refresh_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        """Extend a held lock; False when it was lost."""

    @abstractmethod
    def lock_owner(self, name: str) -> str | None:
        """Who holds the lock now; None when it is free or expired."""

    # --- settings: small key → JSON-able value map (alert status, etc.) ----------------
    @abstractmethod
    def get_setting(self, key: str, default: Any = None) -> Any: ...

    @abstractmethod
    def set_setting(self, key: str, value: Any) -> None: ...

    @abstractmethod
    def modify_setting(self, key: str, change: Callable[[Any], tuple[Any, T]]) -> T:
        """Atomically replace the value under `key` (None when unset) with `change(value)[0]`
        and return `change(value)[1]`, atomically across processes (e.g. the shared Fyers
        rate budget). `change` must be pure and quick: other writers of `key` wait for it."""
