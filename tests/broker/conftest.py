"""A logged-in FyersBroker on the sandbox, its clock on a fixed trading morning."""
from __future__ import annotations

import pytest

from broker import FyersBroker
from fyers_sandbox.testing import SESSION_MORNING


@pytest.fixture
def market(sandbox):
    """The sandbox with its clock at SESSION_MORNING."""
    sandbox.admin("clock", now=SESSION_MORNING)
    return sandbox


@pytest.fixture
def broker(sandbox_config, market) -> FyersBroker:
    """A broker with a fresh access token; short backoff keeps retry tests quick."""
    access, _ = market.login()
    return FyersBroker(sandbox_config, access, backoff_s=0.01)



@pytest.fixture
def demo(config):
    """A sandbox in demo mode (market orders fill at once) at SESSION_MORNING: for tests that
    follow a filled order through holdings, positions and the tradebook; what MPP does to
    market orders is tested against the default sandbox in tests/sandbox and tests/batch."""
    from fyers_sandbox.testing import start_sandbox

    with start_sandbox(demo=True, start=SESSION_MORNING) as handle:
        yield handle


@pytest.fixture
def filled(config, demo) -> FyersBroker:
    """A broker on the `demo` sandbox."""
    access, _ = demo.login()
    return FyersBroker(config.with_overrides(fyers_sandbox_url=demo.url), access,
                       backoff_s=0.01)
