"""The NSE calendar is exchange_calendars' own, kept in a small file so that a process that only
asks about dates (the web app) never loads pandas."""
from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import exchange_calendars
import pytest

import trading_calendar
from config import PROJECT_DIR

ASK_A_DATE = ("import sys, trading_calendar, datetime;"
              "trading_calendar.is_trading_day(datetime.date(2026, 10, 2));"
              "print('pandas' in sys.modules)")


def test_the_kept_sessions_are_the_calendars_own():
    calendar = exchange_calendars.get_calendar(trading_calendar.NSE_CALENDAR,
                                               start=trading_calendar.SESSIONS_START)
    first, last, sessions = trading_calendar._sessions()
    assert sessions == {session.date() for session in calendar.sessions}
    assert (first, last) == (calendar.first_session.date(), calendar.last_session.date())
    assert not trading_calendar.is_trading_day(date(2026, 10, 2))  # Gandhi Jayanti


def test_a_process_asking_about_dates_does_not_load_pandas():
    def ask() -> str:
        return subprocess.run([sys.executable, "-c", ASK_A_DATE], cwd=PROJECT_DIR, check=True,
                              capture_output=True, text=True).stdout.strip()

    ask()  # the first process with this exchange-calendars version may build the file
    assert ask() == "False"


def test_an_unwritable_folder_still_answers(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(trading_calendar, "SESSIONS_CACHE_DIR", tmp_path / "a-file" / "data")
    trading_calendar._sessions.cache_clear()
    try:
        assert not trading_calendar.is_trading_day(date(2026, 10, 2))
        assert trading_calendar.is_trading_day(date(2026, 10, 1))
    finally:
        trading_calendar._sessions.cache_clear()


def test_beyond_the_calendar_a_listed_date_is_a_holiday_and_other_weekdays_trade(holidays_file):
    last = trading_calendar._sessions()[1]
    republic_day = date(last.year + 1, 1, 26)
    while republic_day.weekday() >= 5:  # a weekday the calendar does not know, whatever year
        republic_day = republic_day.replace(year=republic_day.year + 1)
    assert trading_calendar.is_trading_day(republic_day)  # a weekday, as far as the bot knows
    holidays_file.write_text(f"# {republic_day.year}\n\n{republic_day}  # Republic Day\n")
    trading_calendar.added_holidays.cache_clear()
    assert not trading_calendar.is_trading_day(republic_day)
    assert trading_calendar.is_trading_day(republic_day + timedelta(days=1)) == (
        (republic_day + timedelta(days=1)).weekday() < 5)
    assert trading_calendar.holidays_known_until() == date(republic_day.year, 12, 31)


def test_the_owner_is_told_a_month_before_the_known_holidays_end(holidays_file):
    last = trading_calendar._sessions()[1]
    assert trading_calendar.holidays_notice(last - timedelta(days=60)) == ""
    notice = trading_calendar.holidays_notice(last - timedelta(days=20))
    assert f"The NSE holidays the bot knows end on {last:%a %d %b %Y}" in notice
    assert "nse_holidays.txt" in notice
    assert "knows ended on" in trading_calendar.holidays_notice(last + timedelta(days=3))
    holidays_file.write_text(f"{last.year + 1}-01-26\n")
    trading_calendar.added_holidays.cache_clear()
    assert trading_calendar.holidays_notice(last - timedelta(days=20)) == ""


def test_a_line_that_is_not_a_date_is_named(holidays_file):
    holidays_file.write_text("2027-01-26\n26/01/2027\n")
    with pytest.raises(trading_calendar.HolidayFileError,
                       match=r"nse_holidays.txt line 2: '26/01/2027' is not a date \(YYYY-MM-DD\)"):
        trading_calendar.is_trading_day(date(2027, 1, 26))


def test_the_repository_file_adds_weekdays_the_calendar_does_not_know():
    trading_calendar.added_holidays.cache_clear()  # a line that is not a date raises here
    last = trading_calendar._sessions()[1]
    assert all(day > last and day.weekday() < 5 for day in trading_calendar.added_holidays())
