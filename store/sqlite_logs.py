"""The SQLite store's logs: ids that follow time, FTS5 word search, pages without sorting.

A log id is its ts in microseconds x 1000 plus a sequence number within that microsecond, so
newest first is rowid order: FTS5 walks its doclists in that order and stops at the page
size, and every ts bound or cursor is a rowid range.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from store.base import LogPage, StoreError
from store.common import (
    checked,
    decode_cursor,
    levels_from,
    page_cursor,
    search_terms,
    stored_level,
    unsearchable,
)
from store.sql import Where

IDS_PER_MICROSECOND = 1000
_MIN_ID, _MAX_ID = -(2 ** 63), 2 ** 63 - 1  # SQLite's INTEGER range
LONGEST_PREFIX_INDEX = 3  # logs_fts has prefix='2 3'


def log_id(ts: float) -> int:
    """The first log id of ts's microsecond: ids sort like (ts, insertion order)."""
    return round(ts * 1_000_000) * IDS_PER_MICROSECOND


def _clamped(row_id: int) -> int:
    """`row_id` moved into SQLite's INTEGER range."""
    return max(_MIN_ID, min(row_id, _MAX_ID))


def fts_query(terms: Sequence[tuple[str, bool]]) -> tuple[str, str | None]:
    """An FTS5 query matching every term, quoted so user input stays literal; and the prefix
    left for has_word_prefix() to check, if any.

    FTS5 merges the whole doclist of a prefix longer than its prefix indexes before the
    first row; such a prefix is searched by its first characters through the index instead.
    """
    parts, residual = [], None
    for word, prefix in terms:
        if not prefix:
            parts.append(f'"{word}"')
        elif len(word) <= LONGEST_PREFIX_INDEX:
            parts.append(f'"{word}"*')
        else:
            parts.append(f'"{word[:LONGEST_PREFIX_INDEX]}"*')
            residual = word
    return " ".join(parts), residual


class _LogIds:
    """Hands out free log ids inside one write transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._newest = conn.execute("SELECT max(id) FROM logs").fetchone()[0]
        self._last: dict[int, int] = {}

    def next(self, micros: int) -> int:
        """The next unused id of a microsecond: micros x 1000 + rows it has already. Rows
        newer than every stored one (the usual case) need no lookup."""
        first = micros * IDS_PER_MICROSECOND
        if not _MIN_ID <= first <= _MAX_ID - IDS_PER_MICROSECOND:
            raise ValueError(f"log ts {micros / 1_000_000} is outside the years 1678-2262")
        if micros in self._last:
            row_id = self._last[micros] + 1
        elif self._newest is None or first > self._newest:
            row_id = first
        else:
            last = self._conn.execute("SELECT max(id) FROM logs WHERE id BETWEEN ? AND ?",
                                      (first, first + IDS_PER_MICROSECOND - 1)).fetchone()[0]
            row_id = first if last is None else last + 1
        if row_id >= first + IDS_PER_MICROSECOND:
            raise StoreError(f"more than {IDS_PER_MICROSECOND} log rows in one microsecond")
        self._last[micros] = row_id
        return row_id


class SQLiteLogs:
    """The log methods of SQLiteStore, which provides `_execute`, `_rows`, `_transaction`."""

    _execute: Any
    _rows: Any
    _transaction: Any

    def insert_logs(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append log rows in one transaction; each id follows its ts (see `log_id`)."""
        rows = [checked("logs", row) for row in rows]
        with self._transaction() as conn:
            ids = _LogIds(conn)
            values = []
            for row in rows:
                micros = round(row["ts"] * 1_000_000)
                level, levelno = stored_level(row["level"])
                extra = json.dumps(row["extra"]) if row.get("extra") is not None else None
                values.append((ids.next(micros), micros / 1_000_000, level, levelno,
                               row.get("logger"), row["message"], row.get("run_id"), extra))
            conn.executemany("INSERT INTO logs (id, ts, level, levelno, logger, message, "
                             "run_id, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)

    def search_logs(self, *, text: str | None = None, level: str | None = None,
                    since: float | None = None, until: float | None = None,
                    run_id: str | None = None, before: str | None = None,
                    limit: int = 50) -> LogPage:
        """Newest first, filtered; see Store.search_logs. Ids follow ts, so every bound is an
        id range and every page is a walk down the rowid (or an FTS5 doclist), never a sort."""
        lower, upper = self._id_range(since, until, run_id, before)
        if unsearchable(text):
            return LogPage([], None)
        terms = search_terms(text)
        id_column = "logs_fts.rowid" if terms else "logs.id"
        source, where = "logs", Where()
        if terms:
            source = "logs_fts JOIN logs ON logs.id = logs_fts.rowid"
            match, residual = fts_query(terms)
            where.add("logs_fts MATCH ?", match).add("has_word_prefix(logs.message, ?)", residual)
        where.add(f"{id_column} >= ?", lower).add(f"{id_column} < ?", upper)
        where.add("logs.run_id = ?", run_id)
        where.one_of("logs.levelno", levels_from(level) if level is not None else None)
        found = self._rows("logs", f"SELECT logs.* FROM {source} {where.sql} "
                           f"ORDER BY {id_column} DESC LIMIT ?", [*where.params, limit + 1])
        return LogPage(rows=found[:limit], next_before=page_cursor(found, limit))

    def _id_range(self, since: float | None, until: float | None, run_id: str | None,
                  before: str | None) -> tuple[int, int]:
        """[lower, upper) log ids the filters allow: ts bounds, the cursor, the run's span.
        Bounds past SQLite's 64-bit integers (a year 3000 date, a forged cursor) are clamped."""
        lower, upper = _MIN_ID, _MAX_ID
        if since is not None:
            lower = _clamped(log_id(since))
        if until is not None:
            upper = _clamped(log_id(until))
        if before is not None:
            upper = _clamped(min(upper, int(decode_cursor(before)[1])))
        if run_id is not None:
            first, last = self._execute("SELECT min(id), max(id) FROM logs WHERE run_id = ?",
                                        (run_id,)).fetchone()
            if first is None:
                return 0, 0
            lower, upper = max(lower, first), min(upper, last + 1)
        return lower, upper

    def count_logs(self) -> int:
        """How many log rows exist."""
        return self._execute("SELECT count(*) FROM logs").fetchone()[0]

    def delete_logs_before(self, ts: float, limit: int) -> int:
        """Remove up to `limit` of the oldest rows before `ts`: ids follow ts, so the oldest
        are the lowest ids, a walk along the rowid."""
        return self._execute("DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE id < ? "
                             "ORDER BY id LIMIT ?)", (_clamped(log_id(ts)), limit)).rowcount
