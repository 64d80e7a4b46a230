"""Fixtures shared by every suite: a Config on a temporary SQLite file, its store, the
sandbox, and Debian's Chromium for browser tests."""
from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pymongo import MongoClient
from pymongo.errors import PyMongoError

import trading_calendar
from config import CI_MARKERS, Config
from store import configured_store

# The suite plays a host, not a CI runner, even when CI runs it: otherwise every Config read from
# the environment (the CLIs it starts included) would refuse its SQLite store. The runner check
# itself is tested with explicit CI variables (tests/deploy/).
for _marker in CI_MARKERS:
    os.environ.pop(_marker, None)


@functools.cache
def mongo_server_line() -> str:
    """Name and version of the TEST_MONGO_URI server (from buildInfo), or '' when none is set."""
    uri = os.environ.get("TEST_MONGO_URI", "")
    where = uri.split("@")[-1]  # never print credentials
    if not uri:
        return ""
    try:
        with MongoClient(uri, serverSelectionTimeoutMS=3000) as client:
            info = client.admin.command("buildInfo")
    except PyMongoError as exc:
        return f"MongoDB-wire server at {where}: unreachable ({type(exc).__name__})"
    name = f"FerretDB {info['ferretdbVersion']}" if "ferretdbVersion" in info else "MongoDB"
    return f"MongoDB-wire server: {name} (reports MongoDB {info['version']}) at {where}"


def pytest_report_header() -> list[str]:
    """Name the Mongo test server in the header of a verbose run."""
    return [line for line in [mongo_server_line()] if line]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name it after a quiet run too (`make test` is -q, which hides the header)."""
    if mongo_server_line():
        terminalreporter.write_line(mongo_server_line())


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
def closed_pipe() -> Iterator[int]:
    """The write end of a pipe whose reader has gone, as `| head` leaves a command's stdout once
    it has read its lines: a command writing into it gets EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    yield write_end
    os.close(write_end)


@pytest.fixture
def store(config):
    opened = configured_store(config)
    yield opened
    opened.close()


@pytest.fixture
def sandbox():
    """A fresh Fyers sandbox on 127.0.0.1 (thread, Fyers' rate limits) whose clock starts in
    an NSE session (SESSION_MORNING), so orders fill on a Saturday night as on a Tuesday; set
    it with `sandbox.admin("clock", now="2026-11-28T22:00")`."""
    from fyers_sandbox.testing import SESSION_MORNING, start_sandbox

    with start_sandbox(start=SESSION_MORNING) as handle:
        yield handle


@pytest.fixture
def sandbox_config(config, sandbox) -> Config:
    """`config` pointing at the `sandbox` fixture."""
    return config.with_overrides(fyers_sandbox_url=sandbox.url)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (Playwright's own browser download is not used)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def holidays_file(tmp_path, monkeypatch):
    """nse_holidays.txt in a temporary folder (none written yet), read afresh by the code
    under test: trading_calendar caches the file per process."""
    path = tmp_path / "nse_holidays.txt"
    monkeypatch.setattr(trading_calendar, "HOLIDAYS_FILE", path)
    trading_calendar.added_holidays.cache_clear()
    yield path
    trading_calendar.added_holidays.cache_clear()
