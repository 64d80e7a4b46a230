"""Fixtures for the alert tests: a loopback Telegram server and a config pointing at it."""
from __future__ import annotations

import pytest

from notifier import Notifier
from tests.alerts.fake_telegram import FakeTelegram

BOT_TOKEN = "123456789:AAF-test-bot-token-never-shown"
CHAT_ID = "424242"


@pytest.fixture
def telegram():
    """A Telegram-compatible server on 127.0.0.1 that accepts BOT_TOKEN."""
    server = FakeTelegram(BOT_TOKEN)
    yield server
    server.stop()


@pytest.fixture
def alert_config(config, telegram):
    """The shared test config with alerts going to the loopback server."""
    return config.with_overrides(telegram_bot_token=BOT_TOKEN, telegram_chat_id=CHAT_ID,
                                 telegram_api_url=telegram.url)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """Same retry logic, shorter pauses: the tests count attempts, not seconds."""
    monkeypatch.setattr(Notifier, "backoff_s", 0.01)
