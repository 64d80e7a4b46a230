"""Rules both store backends share, so they answer alike: fields, levels, words, cursors, sums."""
from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import india_time
from store.base import ClosedDay, TradeStats

FIELDS: dict[str, tuple[str, ...]] = {
    "users": ("username", "password_hash", "totp_secret", "failed_logins", "locked_until",
              "created_at", "totp_last_step"),
    "sessions": ("token_hash", "username", "created_at", "last_seen", "expires_at"),
    "login_steps": ("token_hash", "username", "created_at", "expires_at"),
    "fyers_tokens": ("client_id", "access_token", "refresh_token", "access_expires_at",
                     "refresh_expires_at", "updated_at"),
    "runs": ("run_id", "trigger", "status", "started_at", "finished_at", "summary", "error",
             "dry_run", "steps", "book"),
    "logs": ("id", "ts", "level", "logger", "message", "run_id", "extra"),
    "orders": ("tag", "run_id", "symbol", "side", "qty", "reason", "broker_order_id", "status",
               "filled_qty", "traded_price", "message", "created_at", "updated_at", "wait_s",
               "rest"),
    "trades": ("trade_id", "run_id", "order_tag", "symbol", "side", "qty", "price", "ts", "pnl",
               "source"),
    "positions": ("symbol", "qty", "avg_price", "last_buy_price", "opened_at", "updated_at"),
    "candles": ("symbol", "date", "open", "high", "low", "close", "volume"),
    "locks": ("name", "owner", "expires_at"),
}

# Money the owner paid or made, stored as whole paise in a field named <field>_paise, so sums are
# exact and no price reads back as 1675.8699999999997; records carry float rupees. A position's
# avg_price (an average per share, kept to 4 decimals) stays a number of rupees.
MONEY_FIELDS: dict[str, tuple[str, ...]] = {
    "orders": ("traded_price",), "trades": ("price", "pnl"), "positions": ("last_buy_price",),
}
# Times are UTC epoch seconds in records; MongoDB keeps them as BSON dates.
TIME_FIELDS: dict[str, tuple[str, ...]] = {
    "users": ("locked_until", "created_at"), "sessions": ("created_at", "last_seen", "expires_at"),
    "login_steps": ("created_at", "expires_at"),
    "fyers_tokens": ("access_expires_at", "refresh_expires_at", "updated_at"),
    "runs": ("started_at", "finished_at"), "logs": ("ts",), "orders": ("created_at", "updated_at"),
    "trades": ("ts",), "positions": ("opened_at", "updated_at"), "locks": ("expires_at",),
}
PAISE_SUFFIX = "_paise"

_WORD = re.compile(r"[^\W_]+")
MIN_PREFIX_LENGTH = 2


def checked(collection: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as a dict, or ValueError naming a field the collection does not have."""
    unknown = set(record) - set(FIELDS[collection])
    if unknown:
        raise ValueError(f"{collection} has no field(s) {', '.join(sorted(unknown))}")
    return dict(record)


def complete(collection: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with every field of its collection, missing ones as None."""
    record = checked(collection, record)
    return {name: record.get(name) for name in FIELDS[collection]}


def by_symbol(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by their symbol, each group in the order given."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[record["symbol"]].append(record)
    return dict(groups)


def to_paise(rupees: float) -> int:
    """Rupees as whole paise, rounding half up the decimal the float prints as."""
    return int((Decimal(repr(float(rupees))) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_rupees(paise: float | Decimal) -> float:
    """Paise (a whole number, or an exact mean) as float rupees rounded to paise."""
    return int(Decimal(paise).quantize(Decimal(1), rounding=ROUND_HALF_UP)) / 100


def money_to_paise(collection: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with its money fields as `<field>_paise` whole paise, as the stores keep them."""
    stored = dict(record)
    for name in MONEY_FIELDS.get(collection, ()):
        if name in stored:
            value = stored.pop(name)
            stored[name + PAISE_SUFFIX] = None if value is None else to_paise(value)
    return stored


def money_to_rupees(collection: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record with its `<field>_paise` money back as float rupees."""
    record = dict(stored)
    for name in MONEY_FIELDS.get(collection, ()):
        if name + PAISE_SUFFIX in record:
            value = record.pop(name + PAISE_SUFFIX)
            record[name] = None if value is None else to_rupees(value)
    return record


STANDARD_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)


def level_number(name: str) -> int:
    """logging's number for a level name (case-insensitive); ValueError for an unknown one."""
    number = logging.getLevelName(str(name).upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {name!r}")
    return number


def standard_level(levelno: int) -> int:
    """The standard level at or below `levelno`: logs keep only these, so filters stay simple."""
    return max((n for n in STANDARD_LEVELS if n <= levelno), default=logging.DEBUG)


def stored_level(name: str) -> tuple[str, int]:
    """(name, number) a log row is stored with, for any level name logging knows."""
    number = standard_level(level_number(name))
    return logging.getLevelName(number), number


def levels_from(name: str) -> list[int]:
    """The stored level numbers a minimum-level filter admits."""
    minimum = level_number(name)
    return [n for n in STANDARD_LEVELS if n >= minimum]


def search_terms(text: str | None) -> list[tuple[str, bool]]:
    """The words of a search box (runs of letters and digits; anything else separates them),
    each with whether it matches as a word prefix: only the last, from two characters on."""
    words = _WORD.findall(text or "")
    return [(word, i == len(words) - 1 and len(word) >= MIN_PREFIX_LENGTH)
            for i, word in enumerate(words)]


def unsearchable(text: str | None) -> bool:
    """Whether a search box holds something but no word to search for ("%%", "!!!"): such a
    search matches no line, rather than every line as an empty box does."""
    return bool(text and text.strip()) and not _WORD.search(text)


def fold(text: str) -> str:
    """Text as word search compares it: case-folded, accents removed (like FTS5 unicode61)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@functools.lru_cache(maxsize=64)
def _word_start(prefix: str) -> re.Pattern[str]:
    """Matches `prefix` (folded) where a word starts: not right after a letter or digit."""
    return re.compile(r"(?<![^\W_])" + re.escape(fold(prefix)))


def has_word_prefix(message: str, prefix: str) -> bool:
    """Whether a word of `message` starts with `prefix`, compared folded."""
    text = message.lower() if message.isascii() else fold(message)
    return _word_start(prefix).search(text) is not None


def encode_cursor(ts: float, row_id: Any) -> str:
    """The opaque `before` cursor of a log row: its exact ts and id."""
    return f"{ts!r},{row_id}"


def decode_cursor(cursor: str) -> tuple[float, str]:
    """(ts, id) from a cursor; ValueError when it is not one this store made."""
    ts, sep, row_id = str(cursor).partition(",")
    if not sep or not row_id or not math.isfinite(float(ts)):
        raise ValueError(f"malformed log cursor {cursor!r}")
    return float(ts), row_id


def page_cursor(rows: list[dict[str, Any]], limit: int) -> str | None:
    """The cursor after the last of `limit` rows when a further row was fetched, else None."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(last["ts"], last["id"])


def closed_days(rows: Iterable[tuple[float, int]]) -> list[ClosedDay]:
    """Closed trades summed per IST day, ascending, from (ts, pnl in whole paise) pairs."""
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for ts, pnl_paise in rows:
        sums = days[india_time.date_of(ts)]
        sums[0] += 1
        if pnl_paise > 0:
            sums[1] += 1
            sums[2] += pnl_paise
        elif pnl_paise < 0:
            sums[3] += 1
            sums[4] += pnl_paise
    return [ClosedDay(day, *sums) for day, sums in sorted(days.items())]


def trade_stats(days: Iterable[ClosedDay]) -> TradeStats:
    """Aggregates over every closed trade from their per-day sums: exact totals, means rounded
    to paise; avg_loss is negative."""
    days = list(days)
    wins, win_total = sum(d.wins for d in days), sum(d.win_paise for d in days)
    losses, loss_total = sum(d.losses for d in days), sum(d.loss_paise for d in days)
    return TradeStats(
        total_pnl=to_rupees(win_total + loss_total),
        wins=wins,
        losses=losses,
        avg_win=to_rupees(Decimal(win_total) / wins) if wins else 0.0,
        avg_loss=to_rupees(Decimal(loss_total) / losses) if losses else 0.0,
        closed=sum(d.closed for d in days),
    )
