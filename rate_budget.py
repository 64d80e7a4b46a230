"""One budget of Fyers API calls per app, shared by every process that uses the same store.

Fyers counts calls per app (client id), not per token or process: 10/s, 200/min, 100,000/day,
and more than three per-minute breaches in one day block the app until the next day. The web
pages, the executor, a second executor, cron and "Run now" all spend the one budget, kept as
one small record in the store (`Store.modify_setting`, atomic across processes): the times of
the calls in the last minute (moving windows a margin below Fyers' limits), the day's count,
the pause a 429 asked for, and the day's block. Brokers without a store share an in-process
record instead. Pure functions decide; `RateBudget` reads and writes the record.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import india_time

T = TypeVar("T")
CLIENT_WINDOWS = ((9, 1), (180, 60))  # (calls, seconds) moving windows under 10/s and 200/min
DAILY_BUDGET = 95_000  # of Fyers' 100,000 a day
KEY_PREFIX = "fyers_rate_budget:"


class Holder(Protocol):
    """Where the record lives: a Store, or `MemoryHolder` in one process."""

    def modify_setting(self, key: str, change: Callable[[Any], tuple[Any, T]]) -> T: ...


class MemoryHolder:
    """The record in this process only, for brokers built without a store."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def modify_setting(self, key: str, change: Callable[[Any], tuple[Any, T]]) -> T:
        with self._lock:
            self._values[key], result = change(self._values.get(key))
            return result


_memory: dict[str, MemoryHolder] = {}
_memory_lock = threading.Lock()


def memory_holder(endpoint: str) -> MemoryHolder:
    """The in-process record of one Fyers endpoint (each test sandbox has its own port)."""
    with _memory_lock:
        return _memory.setdefault(endpoint, MemoryHolder())


@dataclass(frozen=True)
class Turn:
    """The answer to asking for one call: go (wait_s 0), wait, or blocked until a time."""

    wait_s: float = 0.0
    blocked_until: float | None = None
    breaches: int = 0


def next_ist_midnight(now: float) -> float:
    """Epoch seconds of the next midnight in India, when Fyers' day ends."""
    return india_time.midnight(now, days_back=-1)


def _fresh(value: Any, now: float) -> dict[str, Any]:
    """The record as of `now`: a new IST day starts with no calls, breaches or block."""
    day = india_time.date_of(now)
    record = dict(value) if isinstance(value, dict) else {}
    if record.get("day") != day:
        record = {"day": day, "day_calls": 0, "breaches": 0, "blocked_until": 0.0,
                  "calls": record.get("calls", []), "paused_until": record.get("paused_until", 0.0)}
    return record


def take_turn(value: Any, now: float, windows: tuple[tuple[int, float], ...]
              ) -> tuple[dict[str, Any], Turn]:
    """Count one call at `now` when every window has room and no pause or block holds;
    otherwise count nothing and say how long to wait (or until when the day is blocked)."""
    record = _fresh(value, now)
    if record["blocked_until"] > now or record["day_calls"] >= DAILY_BUDGET:
        return record, Turn(blocked_until=record["blocked_until"] or next_ist_midnight(now))
    longest = max(seconds for _, seconds in windows)
    calls = [t for t in record["calls"] if now - t < longest]
    wait = max(record["paused_until"] - now, 0.0)
    for count, seconds in windows:
        recent = [t for t in calls if now - t < seconds]
        if len(recent) >= count:
            wait = max(wait, recent[-count] + seconds - now)
    if wait > 0:
        return {**record, "calls": calls}, Turn(wait_s=wait)
    return {**record, "calls": [*calls, now], "day_calls": record["day_calls"] + 1}, Turn()


def note_refusal(value: Any, now: float, pause_s: float, blocked: bool
                 ) -> tuple[dict[str, Any], Turn]:
    """Fyers refused a call (429): nobody calls again for `pause_s`, the breach is counted,
    and when Fyers says the app is blocked, nobody calls again this IST day."""
    record = _fresh(value, now)
    record["breaches"] += 1
    record["paused_until"] = max(record["paused_until"], now + pause_s)
    if blocked:
        record["blocked_until"] = next_ist_midnight(now)
    turn = Turn(wait_s=pause_s, blocked_until=record["blocked_until"] or None,
                breaches=record["breaches"])
    return record, turn


class RateBudget:
    """The shared budget of one Fyers app, read and written through `holder`."""

    def __init__(self, holder: Holder, client_id: str,
                 windows: tuple[tuple[int, float], ...] = CLIENT_WINDOWS) -> None:
        self._holder = holder
        self._key = KEY_PREFIX + client_id
        self._windows = windows

    @property
    def longest_window_s(self) -> float:
        return max(seconds for _, seconds in self._windows)

    def take(self, now: float) -> Turn:
        """Ask for one call at `now`."""
        return self._holder.modify_setting(self._key,
                                           lambda value: take_turn(value, now, self._windows))

    def refused(self, now: float, pause_s: float, blocked: bool) -> Turn:
        """Record a 429 from Fyers for every process."""
        return self._holder.modify_setting(
            self._key, lambda value: note_refusal(value, now, pause_s, blocked))
