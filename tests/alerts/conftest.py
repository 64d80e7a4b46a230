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


@pytest.fixture
def env(config, telegram, monkeypatch) -> dict[str, str]:
    """The environment of the morning job: the store, the key, Telegram, the app's address."""
    values = {"DATABASE_URL": config.database_url,
              "TOKEN_ENCRYPTION_KEY": config.token_encryption_key,
              "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_CHAT_ID": CHAT_ID,
              "TELEGRAM_API_URL": telegram.url,
              "FYERS_REDIRECT_URI": "https://shop.example.in/tokens/callback"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
