"""Days in India from epoch seconds: the calendar Fyers, NSE and the bot count in (IST, which
has no daylight saving, so a day is always 24 hours)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from config import IST


def moment(ts: float) -> datetime:
    """An epoch-second time as an aware IST datetime."""
    return datetime.fromtimestamp(ts, IST)


def day_of(ts: float) -> date:
    """The IST calendar date of an epoch-second time."""
    return moment(ts).date()


def date_of(ts: float) -> str:
    """The IST calendar date of an epoch-second time as 'YYYY-MM-DD'."""
    return day_of(ts).isoformat()


def day_start(day: date) -> float:
    """Epoch seconds of the IST midnight that starts `day`."""
    return datetime.combine(day, time(), IST).timestamp()


def midnight(now: float, days_back: int = 0) -> float:
    """Epoch seconds of the IST midnight `days_back` days before the start of `now`'s day
    (-1: the next midnight, when Fyers' day ends)."""
    return day_start(day_of(now) - timedelta(days=days_back))


def day_bounds(day: str) -> tuple[float, float]:
    """[start, end) epoch seconds of an IST date 'YYYY-MM-DD'; ValueError when malformed or
    at the edge of the calendar (9999-12-31 has no next day)."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=IST)
    try:
        return start.timestamp(), (start + timedelta(days=1)).timestamp()
    except OverflowError as exc:
        raise ValueError(f"{day} is out of range") from exc
