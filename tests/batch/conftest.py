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

# A trading day at the scheduled run's time, inside NSE's session (the bot places nothing
# outside it); quotes move little in the seconds a test takes.
START = "2026-10-01T15:10:00"
PIN = "1234"


# The batch suite checks a run's bookkeeping (records, lock, tokens, candles, fills), so its
# sandbox runs in demo mode: market orders fill at once and refresh works. Tests of what
# Fyers' 2026 rules do to a run take the default sandbox instead, with
# @pytest.mark.parametrize("sandbox", [FYERS_2026], indirect=True).
DEMO = {"demo": True}
FYERS_2026: dict = {}


@pytest.fixture
def sandbox(request) -> Iterator[SandboxHandle]:
    """Overrides the shared fixture: fixed clock, relaxed rate limits, DEMO unless the test
    passes other options."""
    options = {"rate_limits": FAST_LIMITS, "start": START, **getattr(request, "param", DEMO)}
    with start_sandbox(**options) as handle:
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
