"""Sending never blocks or breaks the caller; failures are retried, logged and shown."""
from __future__ import annotations

import logging

import pytest

from notifier import (
    LAST_ALERT,
    NOT_CONFIGURED,
    notify_order_outcome,
    notify_run_failed,
    send_test_alert,
)
from store.log_handler import setup_logging
from tests.alerts.conftest import BOT_TOKEN
from tests.alerts.test_alert_messages import WAIT_S, finished_run, rejected

SECRETS = {"fyers_secret_key": "FYERS-APP-SECRET-9f8e7d", "fyers_pin": "4321",
           "secret_key": "flask-secret-abcdef", "token_encryption_key": "fernet-key-0123456789"}


def reject(config, store):
    """One background alert, as the executor sends it for a rejected order."""
    return notify_order_outcome(config, store, rejected("NSE:SBIN-EQ", "BUY", 10, "RMS: margin"))


def test_the_caller_does_not_wait_for_telegram(alert_config, store, telegram):
    telegram.hold()
    future = reject(alert_config, store)
    assert not future.done()  # returned while Telegram still holds the request
    telegram.release()
    assert future.result(WAIT_S) is None
    assert len(telegram.texts) == 1


def test_telegram_down_is_logged_and_shown_but_does_not_raise(alert_config, store, telegram,
                                                             caplog):
    telegram.stop()
    caplog.set_level(logging.INFO)
    error = reject(alert_config, store).result(WAIT_S)
    assert error == "Telegram unreachable (ConnectionError)"
    assert [r.levelname for r in caplog.records if r.name == "notifier"] == [
        "WARNING", "WARNING", "ERROR"]
    assert "alert order_outcome via Telegram not sent" in caplog.text
    last = store.get_setting(LAST_ALERT)
    assert (last["kind"], last["ok"], last["error"]) == ("order_outcome", False, error)
    assert BOT_TOKEN not in caplog.text


def test_server_errors_are_retried_until_delivered(alert_config, store, telegram):
    telegram.fail_next(500, 502)
    assert reject(alert_config, store).result(WAIT_S) is None
    assert telegram.request_count == 3
    assert len(telegram.texts) == 1
    assert store.get_setting(LAST_ALERT)["ok"] is True


def test_rate_limit_waits_and_retries(alert_config, store, telegram):
    telegram.fail_next(429)
    assert reject(alert_config, store).result(WAIT_S) is None
    assert telegram.request_count == 2


def test_retries_stop_after_three_attempts(alert_config, store, telegram):
    telegram.fail_next(500, 500, 500, 500)
    error = reject(alert_config, store).result(WAIT_S)
    assert error == "Telegram answered 500: Internal Server Error"
    assert telegram.request_count == 3
    assert telegram.texts == []


def test_an_unknown_chat_is_not_retried(alert_config, store, telegram):
    telegram.fail_next(400)
    error = send_test_alert(alert_config, store)
    assert error == "Telegram answered 400: Bad Request: chat not found"
    assert telegram.request_count == 1


def test_a_wrong_bot_token_is_not_retried_nor_shown(alert_config, store, telegram, caplog):
    wrong = "654321:wrong-token-also-secret"
    error = send_test_alert(alert_config.with_overrides(telegram_bot_token=wrong), store)
    assert error == "Telegram answered 401: Unauthorized"
    assert telegram.request_count == 1
    assert wrong not in caplog.text


@pytest.fixture
def logging_to_store(store):
    """Logging set up as every process sets it up (secrets registered, rows to the store)."""
    def setup(config):
        handlers.append(setup_logging(config, store, console=False))
        return handlers[-1]

    handlers: list = []
    yield setup
    for handler in handlers:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_no_secret_reaches_a_message_or_the_log(alert_config, store, telegram, caplog,
                                                logging_to_store):
    config = alert_config.with_overrides(**SECRETS)
    logging_to_store(config)
    leaky = f"broker said {SECRETS['fyers_secret_key']} / {BOT_TOKEN} / pin {SECRETS['fyers_pin']}"
    run = finished_run(store, status="failed", error=leaky)
    notify_run_failed(config, store, run).result(WAIT_S)
    telegram.fail_next(500, 500, 500)
    notify_order_outcome(config, store, rejected("NSE:SBIN-EQ", "SELL", 1, leaky)).result(WAIT_S)
    sent = "\n".join(telegram.texts)
    assert "broker said [REDACTED] / [REDACTED] / pin [REDACTED]" in sent
    for secret in [BOT_TOKEN, *SECRETS.values()]:
        assert secret not in sent
        assert secret not in caplog.text
        assert secret not in str(store.get_setting(LAST_ALERT))


def test_bot_token_stays_out_of_stored_logs_even_at_debug(alert_config, store, telegram, caplog,
                                                          logging_to_store):
    handler = logging_to_store(alert_config)
    caplog.set_level(logging.DEBUG)  # urllib3 then logs every request line, URL included
    telegram.fail_next(500)
    reject(alert_config, store).result(WAIT_S)
    handler.flush()
    stored = "\n".join(row["message"] for row in store.search_logs(limit=500).rows)
    assert "/bot[REDACTED]/sendMessage" in stored
    assert BOT_TOKEN not in stored


def test_without_telegram_settings_nothing_is_sent(config, store, telegram):
    assert reject(config, store).result(WAIT_S) == NOT_CONFIGURED
    assert send_test_alert(config, store) == NOT_CONFIGURED
    assert telegram.request_count == 0
    assert store.get_setting(LAST_ALERT) is None
