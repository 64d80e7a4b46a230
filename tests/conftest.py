"""Fixtures shared by every suite: a Config on a temporary SQLite file, and its store."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from config import Config
from store import open_store


@pytest.fixture
def config(tmp_path) -> Config:
    """Sandbox-mode config whose data (SQLite file, generated keys) lives in tmp_path."""
    return Config.from_mapping({
        "DATABASE_URL": f"sqlite:///{tmp_path}/nifty_shop.db",
        "SECRET_KEY": "test-secret-key",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "FYERS_MODE": "sandbox",
        "ORDER_FILL_TIMEOUT_S": "5",
    })


@pytest.fixture
def store(config):
    opened = open_store(config.store_url, config.mongo_database)
    yield opened
    opened.close()
