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


@pytest.fixture
def sandbox():
    """A fresh Fyers sandbox on 127.0.0.1 (thread, real IST clock, Fyers' rate limits); set
    its clock with `sandbox.admin("clock", now="2026-11-25T11:00")`."""
    from fyers_sandbox.testing import start_sandbox

    with start_sandbox() as handle:
        yield handle


@pytest.fixture
def sandbox_config(config, sandbox) -> Config:
    """`config` pointing at the `sandbox` fixture."""
    return config.with_overrides(fyers_sandbox_url=sandbox.url)
