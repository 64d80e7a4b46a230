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

