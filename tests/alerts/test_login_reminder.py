"""The daily login reminder: only on NSE trading days, only when the token will not carry the run."""
from __future__ import annotations

from datetime import datetime

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

import token_refresh
from broker import Tokens
from config import IST
from notifier import (
    LAST_ALERT,
    schedule_alert_jobs,
    send_login_reminder_if_needed,
    tokens_page_url,
)


def ist(day: int, hour: int, minute: int = 0) -> float:
    """Epoch seconds of a November 2026 IST time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=IST).timestamp()


THURSDAY_1430 = ist(26, 14, 30)  # a trading day; the run is at 15:10
HOLIDAY_1430 = ist(24, 14, 30)  # Tuesday 24 Nov 2026, Guru Nanak Jayanti: NSE closed
SATURDAY_1430 = ist(28, 14, 30)


def store_token(config, store, access_expires_at: float) -> None:
    """Store tokens the way a completed Fyers login does."""
    tokens = Tokens("reminder-test-access-token", "reminder-test-refresh-token", access_expires_at)
    token_refresh.save_tokens(config, store, tokens, access_expires_at + 15 * 86400)


def test_missing_token_on_a_trading_day_sends_the_link(alert_config, store, telegram):
    assert send_login_reminder_if_needed(alert_config, store, now=THURSDAY_1430) is True
    assert telegram.texts == [
        "🔑 Nifty Shop: Fyers login needed\n"
        "No Fyers token is stored: log in to Fyers.\n"
        "Log in: http://127.0.0.1:8080/tokens"]
    assert store.get_setting(LAST_ALERT)["kind"] == "login_reminder"


@pytest.mark.parametrize("expires_at,expected_line", [
    (ist(26, 9), "Token expired at 26 Nov 09:00 IST: log in to Fyers."),
    (ist(26, 15), "Token valid until 26 Nov 15:00 IST, which is before the next run at "
                  "26 Nov 15:10 IST: log in to Fyers before then."),
])
def test_expired_or_expiring_token_sends_a_reminder(alert_config, store, telegram, expires_at,
                                                    expected_line):
    store_token(alert_config, store, expires_at)
    assert send_login_reminder_if_needed(alert_config, store, now=THURSDAY_1430) is True
    assert telegram.texts[0].splitlines()[1] == expected_line


def test_token_valid_for_the_run_sends_nothing(alert_config, store, telegram):
    store_token(alert_config, store, ist(27, 9))
    assert send_login_reminder_if_needed(alert_config, store, now=THURSDAY_1430) is False
    assert telegram.request_count == 0


@pytest.mark.parametrize("now", [HOLIDAY_1430, SATURDAY_1430], ids=["holiday", "saturday"])
def test_no_reminder_when_nse_is_closed(alert_config, store, telegram, now):
    assert send_login_reminder_if_needed(alert_config, store, now=now) is False
    assert telegram.request_count == 0


def test_one_reminder_a_day_and_a_failed_one_is_tried_again(alert_config, store, telegram):
    telegram.fail_next(400)
    assert send_login_reminder_if_needed(alert_config, store, now=THURSDAY_1430) is False
    assert send_login_reminder_if_needed(alert_config, store, now=THURSDAY_1430 + 60) is True
    assert send_login_reminder_if_needed(alert_config, store, now=THURSDAY_1430 + 120) is False
    assert len(telegram.texts) == 1
    assert send_login_reminder_if_needed(alert_config, store, now=ist(27, 14, 30)) is True


def test_tokens_page_is_on_the_redirect_uri_origin(config):
    config = config.with_overrides(fyers_redirect_uri="https://bot.example.in:8443/fyers/cb")
    assert tokens_page_url(config) == "https://bot.example.in:8443/tokens"


def test_no_reminder_job_without_telegram_settings(config, store):
    scheduler = BackgroundScheduler(timezone=IST)
    schedule_alert_jobs(scheduler, config, store)
    assert scheduler.get_jobs() == []
