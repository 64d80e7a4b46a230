"""The NSE trading calendar: which days the market trades, and when the next daily run falls.

Pure date arithmetic over `exchange_calendars`' Indian equity calendar, shared by the executor
(skip holidays), the strategy (which candles are complete), the token status (does the login
cover the next run) and the alerts (remind on trading days only).
"""
from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from config import IST, PROJECT_DIR, Config

NSE_CALENDAR = "XBOM"  # exchange_calendars' Indian equity calendar (NSE and BSE share holidays)
MARKET_OPEN = time(9, 15)  # IST, when NSE's normal session starts trading
MARKET_CLOSE = time(15, 30)  # IST, when it ends (orders after it wait for the next session)
SESSIONS_CACHE_DIR = PROJECT_DIR / "data"


@lru_cache(maxsize=1)
def _sessions() -> tuple[date, date, frozenset[date]]:
    """(first, last, every session) of the exchange calendar, loaded once per process, from a
    file kept per exchange_calendars version and month: a process that only asks about dates
    (the web app) then never loads pandas, ~45 MB of its memory."""
    stamp = f"{metadata.version('exchange_calendars')}-{date.today():%Y-%m}"
    cache = SESSIONS_CACHE_DIR / f"nse-sessions-{stamp}.txt"
    try:
        days = [date.fromisoformat(line) for line in cache.read_text().split()]
    except (OSError, ValueError):
        days = _calendar_sessions()
        _keep(cache, days)
    return min(days), max(days), frozenset(days)


def _calendar_sessions() -> list[date]:
    """Every session exchange_calendars knows for NSE, ascending."""
    import exchange_calendars  # imports pandas: only when the cache file is missing

    return [session.date() for session in exchange_calendars.get_calendar(NSE_CALENDAR).sessions]


def _keep(cache: Path, days: list[date]) -> None:
    """Write the sessions to `cache` whole (through a temporary name) and drop older files;
    a folder that cannot be written only costs the next process the calendar's load time."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        draft = cache.with_name(f".{cache.name}.{os.getpid()}")
        draft.write_text("".join(f"{day.isoformat()}\n" for day in days))
        os.replace(draft, cache)
        for old in cache.parent.glob("nse-sessions-*.txt"):
            if old != cache:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def is_trading_day(day: date) -> bool:
    """True on NSE sessions; beyond the calendar's known holidays, on weekdays."""
    first, last, sessions = _sessions()
    if first <= day <= last:
        return day in sessions
    return day.weekday() < 5


def previous_trading_day(day: date) -> date:
    """The last NSE session before `day`."""
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def session_at(moment: float) -> date:
    """The NSE session trading or last traded at `moment` (epoch s): today's once its market
    has opened, else the session before."""
    current = datetime.fromtimestamp(moment, IST)
    if is_trading_day(current.date()) and current.time() >= MARKET_OPEN:
        return current.date()
    return previous_trading_day(current.date())


def run_time(config: Config) -> time:
    """The daily run time (IST) as a time of day."""
    hours, minutes = config.run_time_ist.split(":")
    return time(int(hours), int(minutes), tzinfo=IST)


def next_run_at(config: Config, now: float) -> float:
    """Epoch seconds of the next scheduled run at or after `now`: RUN_TIME_IST on a trading day."""
    current = datetime.fromtimestamp(now, IST)
    day = current.date()
    while True:
        candidate = datetime.combine(day, run_time(config))
        if candidate >= current and is_trading_day(day):
            return candidate.timestamp()
        day += timedelta(days=1)
