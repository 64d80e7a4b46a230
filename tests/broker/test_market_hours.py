"""Whether NSE is open is read from Fyers' clock (the time on its replies), whatever this
machine's clock says: the suite passes on a Saturday night as on a Tuesday at 11:00."""
from __future__ import annotations

from datetime import datetime

import pytest

from broker.client import _http_date
from config import IST
from market_hours import FyersClock, session_state


def at(text: str) -> float:
    """Epoch seconds of an IST wall time."""
    return datetime.fromisoformat(text).replace(tzinfo=IST).timestamp()


@pytest.mark.parametrize(("moment", "is_open", "sentence"), [
    ("2026-11-25T11:00", True, "NSE is open"),                       # a Wednesday session
    ("2026-11-25T09:14:59", False, "NSE is closed until 09:15 IST"),  # before the open
    ("2026-11-25T15:30", False, "NSE is closed until Thu 09:15 IST"),  # the close itself
    ("2026-11-28T22:00", False, "NSE is closed until Mon 09:15 IST"),  # Saturday night
    ("2026-10-01T18:00", False, "NSE is closed until Mon 09:15 IST"),  # a holiday Friday next
])
def test_the_session_by_the_calendar(moment, is_open, sentence):
    state = session_state(at(moment))
    assert state.is_open is is_open
    assert state.closed_sentence() == sentence


def test_a_holiday_before_a_weekend_points_past_both():
    state = session_state(at("2026-10-02T11:00"))  # Gandhi Jayanti, a Friday
    assert not state.is_open
    assert state.opens_at == datetime(2026, 10, 5, 9, 15, tzinfo=IST)


@pytest.mark.parametrize(("sandbox_time", "is_open"), [
    ("2026-11-25T11:00:00", True), ("2026-11-28T22:00:00", False)])
def test_the_quotes_time_decides_not_the_machines(broker, market, sandbox_time, is_open):
    market.admin("clock", now=sandbox_time)
    clock = FyersClock.from_quotes(broker.quotes(["NSE:SBIN-EQ", "NSE:TCS-EQ"]))
    assert clock.from_fyers
    assert clock.session().is_open is is_open
    assert abs(clock.now() - at(sandbox_time)) < 5
    assert "market hours follow Fyers" in clock.skew_sentence()  # 2026-11 is not today


def test_fyers_time_moves_on_with_the_machines_monotonic_clock():
    ticks = iter([100.0, 101.5])
    clock = FyersClock(at("2026-11-25T15:29:59"), monotonic=lambda: next(ticks),
                       wall=lambda: at("2026-11-25T15:29:59"))
    assert clock.skew_sentence() == ""
    assert not clock.session().is_open  # 1.5 s later it is 15:30:00.5


def test_without_a_quote_time_the_machine_clock_stands_in():
    clock = FyersClock.from_quotes({}, wall=lambda: at("2026-11-25T11:00"))
    assert not clock.from_fyers and clock.session().is_open


@pytest.mark.parametrize(("header", "epoch"), [
    ("Wed, 25 Nov 2026 05:30:00 GMT", at("2026-11-25T11:00")),
    ("Wed, 25 Nov 2026 05:30:00 -0000", at("2026-11-25T11:00")),  # GMT, not this machine's zone
    ("Wed, 25 Nov 2026 05:30:00", at("2026-11-25T11:00")),  # no zone: HTTP dates are GMT
    ("Wed, 25 Nov 2026 11:00:00 +0530", at("2026-11-25T11:00")),
    ("not a date", None), ("", None), (None, None),
])
def test_fyers_time_is_read_from_the_reply_date_in_gmt_or_not_at_all(header, epoch):
    assert _http_date(header) == epoch
