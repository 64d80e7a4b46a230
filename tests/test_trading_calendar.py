"""The NSE calendar is exchange_calendars' own, kept in a small file so that a process that only
asks about dates (the web app) never loads pandas."""
from __future__ import annotations

import subprocess
import sys
from datetime import date

import exchange_calendars

import trading_calendar
from config import PROJECT_DIR

ASK_A_DATE = ("import sys, trading_calendar, datetime;"
              "trading_calendar.is_trading_day(datetime.date(2026, 10, 2));"
              "print('pandas' in sys.modules)")


def test_the_kept_sessions_are_the_calendars_own():
    calendar = exchange_calendars.get_calendar(trading_calendar.NSE_CALENDAR)
    first, last, sessions = trading_calendar._sessions()
    assert sessions == {session.date() for session in calendar.sessions}
    assert (first, last) == (calendar.first_session.date(), calendar.last_session.date())
    assert not trading_calendar.is_trading_day(date(2026, 10, 2))  # Gandhi Jayanti


def test_a_process_asking_about_dates_does_not_load_pandas():
    def ask() -> str:
        return subprocess.run([sys.executable, "-c", ASK_A_DATE], cwd=PROJECT_DIR, check=True,
                              capture_output=True, text=True).stdout.strip()

    ask()  # the first process of the month may build the file
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
