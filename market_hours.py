"""Is NSE open now, by Fyers' clock: the session (09:15–15:30 IST on trading days) at the time
Fyers' replies carry, not the time this machine believes it is.

A run reads the NIFTY 50's quotes first; Fyers' reply carries its server's time (the HTTP
Date header), kept on each quote. `FyersClock` takes the latest and advances it by the time
that has passed on this machine since (a monotonic clock, immune to the machine's wall clock
being wrong), so a run that starts a second before the close knows when the close has passed.
Without it the machine's clock stands in, and the run says so. (The quotes' own `tt` is no
clock: Fyers documents it as the session's date, 00:00 UTC.)
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from config import IST
from trading_calendar import MARKET_CLOSE, MARKET_OPEN, is_trading_day

if TYPE_CHECKING:
    from broker.records import Quote

SKEW_WORTH_SAYING_S = 120  # a machine clock this far from Fyers' is pointed out in the log


@dataclass(frozen=True)
class MarketSession:
    """NSE's normal session as seen at `at` (IST)."""

    at: datetime
    is_open: bool
    opens_at: datetime | None  # the next open, when closed

    def closed_sentence(self) -> str:
        """'NSE is closed until Mon 09:15 IST' (the next open, named by weekday, with the date
        when it is more than a week away)."""
        if self.is_open or self.opens_at is None:
            return "NSE is open"
        return f"NSE is closed until {_day_and_time(self.opens_at, self.at)}"


def _day_and_time(moment: datetime, now: datetime) -> str:
    """'09:15 IST' today, 'Mon 09:15 IST' within a week, 'Mon 5 Jan 09:15 IST' beyond."""
    if moment.date() == now.date():
        return f"{moment:%H:%M} IST"
    if (moment.date() - now.date()).days < 7:
        return f"{moment:%a %H:%M} IST"
    return f"{moment:%a} {moment.day} {moment:%b %H:%M} IST"


def session_state(moment: float) -> MarketSession:
    """NSE's session at `moment` (epoch seconds): open from 09:15 to 15:30 IST on a trading day."""
    at = datetime.fromtimestamp(moment, IST)
    today = at.date()
    if is_trading_day(today) and MARKET_OPEN <= at.time() < MARKET_CLOSE:
        return MarketSession(at, True, None)
    next_day = today if is_trading_day(today) and at.time() < MARKET_OPEN else _next_session(today)
    return MarketSession(at, False, datetime.combine(next_day, MARKET_OPEN, IST))


def _next_session(day: date) -> date:
    """The first NSE session after `day`."""
    day += timedelta(days=1)
    while not is_trading_day(day):
        day += timedelta(days=1)
    return day


def quotes_time(quotes: Mapping[str, Quote]) -> float | None:
    """Fyers' time when `quotes` were read: the latest it served them at; None when no reply
    said."""
    return max((quote.served_at for quote in quotes.values()), default=0.0) or None


class FyersClock:
    """Fyers' time: when it served the latest quote, advanced by the monotonic time since it
    was read; the machine's clock when no reply said."""

    def __init__(self, fyers_time: float | None, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._monotonic = monotonic
        self._read_at = monotonic()
        self._machine_at_read = wall()
        self._fyers_at_read = fyers_time
        self._wall = wall

    @classmethod
    def from_quotes(cls, quotes: Mapping[str, Quote], **clocks: Callable[[], float]
                    ) -> FyersClock:
        """The clock the quotes just read carry."""
        return cls(quotes_time(quotes), **clocks)

    @property
    def from_fyers(self) -> bool:
        """False when Fyers' reply carried no time and the machine's clock stands in."""
        return self._fyers_at_read is not None

    def now(self) -> float:
        """Fyers' time now (epoch seconds)."""
        if self._fyers_at_read is None:
            return self._wall()
        return self._fyers_at_read + (self._monotonic() - self._read_at)

    def skew_s(self) -> float:
        """How far Fyers' time was ahead of this machine's clock when the quotes were read
        (negative: behind); 0 without Fyers' time."""
        if self._fyers_at_read is None:
            return 0.0
        return self._fyers_at_read - self._machine_at_read

    def skew_sentence(self) -> str:
        """A sentence about a machine clock well off Fyers' ('' when they agree)."""
        skew = self.skew_s()
        if abs(skew) < SKEW_WORTH_SAYING_S:
            return ""
        return (f"this machine's clock is {_duration(abs(skew))} "
                f"{'behind' if skew > 0 else 'ahead of'} Fyers' (the time on its replies): "
                f"market hours follow Fyers")

    def session(self) -> MarketSession:
        """NSE's session at Fyers' time now."""
        return session_state(self.now())


def _duration(seconds: float) -> str:
    """'3 min', '5 h 10 min', '2 days' for a clock skew."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
