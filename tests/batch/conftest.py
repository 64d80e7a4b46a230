"""Batch fixtures: a sandbox at a fixed after-close clock with relaxed rate limits, a config
pointing at it, and a logged-in store."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from broker import FyersBroker
from config import Config
from fyers_sandbox.testing import SandboxHandle, start_sandbox
from tests.batch.helpers import FAST_LIMITS, fast_broker, store_tokens

# A trading day after the close: quotes equal the day's close, so they do not drift
# while a test runs, and market orders still fill (the sandbox ignores market hours).
START = "2026-10-01T15:45:00"
PIN = "1234"


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """Overrides the shared fixture: same sandbox, fixed clock, relaxed rate limits."""
    with start_sandbox(rate_limits=FAST_LIMITS, start=START) as handle:
        yield handle


@pytest.fixture
def run_config(sandbox_config: Config) -> Config:
    """Sandbox config with a PIN for refreshes and a short fill timeout."""
    return sandbox_config.with_overrides(fyers_pin=PIN, order_fill_timeout_s=2.0)


@pytest.fixture
def logged_in(run_config: Config, store: Any, sandbox: SandboxHandle) -> str:
    """A valid access token in the store; returns it."""
    return store_tokens(run_config, store, sandbox)[0]


@pytest.fixture
def broker(run_config: Config, logged_in: str) -> FyersBroker:
    """A broker of the test's own, to look at the sandbox account as the SDK sees it."""
    return fast_broker(run_config, logged_in)
