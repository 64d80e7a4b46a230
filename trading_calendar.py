"""The NSE trading calendar: which days the market trades, and when the next daily run falls.

Pure date arithmetic over `exchange_calendars`' Indian equity calendar, shared by the executor
(skip holidays), the strategy (which candles are complete), the token status (does the login
cover the next run) and the alerts (remind on trading days only).

The calendar knows holidays up to its last session (a year ahead, per release). Beyond it a
weekday counts as a trading day, unless nse_holidays.txt lists it: NSE publishes the next
year's holidays in December, often before a new exchange_calendars release ships them.
"""
from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from config import IST, PROJECT_DIR, Config

NSE_CALENDAR = "XBOM"  # exchange_calendars' Indian equity calendar (NSE and BSE share holidays)
# From a fixed day: by default the calendar starts 20 years before today, so its sessions would
# change every day (its end is where its holiday data ends).
SESSIONS_START = "2000-01-01"
MARKET_OPEN = time(9, 15)  # IST, when NSE's normal session starts trading
MARKET_CLOSE = time(15, 30)  # IST, when it ends (orders after it wait for the next session)
SESSIONS_CACHE_DIR = PROJECT_DIR / "data"
HOLIDAYS_FILE = PROJECT_DIR / "nse_holidays.txt"  # the owner's additions, one YYYY-MM-DD a line
NOTICE_DAYS = 31  # how long before the known holidays end the Strategy page says so


class HolidayFileError(ValueError):
    """nse_holidays.txt has a line that is not a date."""


@lru_cache(maxsize=1)
def _sessions() -> tuple[date, date, frozenset[date]]:
    """(first, last, every session) of the exchange calendar, loaded once per process, from a
    file kept per exchange_calendars version (its sessions change with nothing else): a
    process that only asks about dates (the web app) then never loads pandas, ~45 MB of its
    memory."""
    cache = SESSIONS_CACHE_DIR / f"nse-sessions-{metadata.version('exchange_calendars')}.txt"
    try:
        days = [date.fromisoformat(line) for line in cache.read_text().split()]
    except (OSError, ValueError):
        days = _calendar_sessions()
        _keep(cache, days)
    return min(days), max(days), frozenset(days)


def _calendar_sessions() -> list[date]:
    """Every session exchange_calendars knows for NSE, ascending."""
    import exchange_calendars  # imports pandas: only when the cache file is missing

    calendar = exchange_calendars.get_calendar(NSE_CALENDAR, start=SESSIONS_START)
    return [session.date() for session in calendar.sessions]


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


@lru_cache(maxsize=1)
def added_holidays() -> frozenset[date]:
    """The dates nse_holidays.txt lists (blank lines and # comments aside); none without it."""
    try:
        lines = HOLIDAYS_FILE.read_text().splitlines()
    except FileNotFoundError:
        return frozenset()
    days = set()
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            days.add(date.fromisoformat(text))
        except ValueError:
            raise HolidayFileError(f"{HOLIDAYS_FILE.name} line {number}: {text!r} is not a date "
                                   f"(YYYY-MM-DD)") from None
    return frozenset(days)


def is_trading_day(day: date) -> bool:
    """True on NSE sessions; beyond the calendar's known holidays, on weekdays not listed in
    nse_holidays.txt."""
    first, last, sessions = _sessions()
    if day in added_holidays():
        return False
    if first <= day <= last:
        return day in sessions
    return day.weekday() < 5


def holidays_known_until() -> date:
    """The last day whose holiday status is known: the calendar's last session, or the end of
    the latest year nse_holidays.txt lists a date of."""
    last = _sessions()[1]
    latest = max(added_holidays(), default=last)
    return date(latest.year, 12, 31) if latest > last else last


def holidays_notice(today: date) -> str:
    """A sentence for the owner when the known holidays end within NOTICE_DAYS ('' before)."""
    known = holidays_known_until()
    if today + timedelta(days=NOTICE_DAYS) <= known:
        return ""
    verb = "ended" if known < today else "end"
    return (f"The NSE holidays the bot knows {verb} on {known:%a %d %b %Y}: after that every "
            f"weekday counts as a trading day. Add the next year's NSE holidays to "
            f"{HOLIDAYS_FILE.name} (NSE publishes them in December), or upgrade "
            f"exchange-calendars once a release has them.")


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
