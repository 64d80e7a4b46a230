"""Fault-suite fixtures: the batch suite's sandbox fixtures with an app secret and a PIN of
our own, and a check after every test that no secret reached the store or the SDK's logs."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker import LOG_DIR
from config import Config
from fyers_sandbox.testing import SandboxHandle, start_sandbox
from tests.alerts.conftest import BOT_TOKEN, CHAT_ID, telegram  # noqa: F401 (fixture)
from tests.batch.conftest import START, broker, logged_in  # noqa: F401 (fixtures)
from tests.batch.helpers import FAST_LIMITS
from tests.faults.helpers import APP_SECRET, PIN, assert_no_secrets, stored_secrets
from tests.web.conftest import app, db, make_app, seeded  # noqa: F401 (fixtures)


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """The batch suite's clock and relaxed limits with our app secret, Fyers' 2026 rules
    (MPP orders may wait or fill partly) except that refresh works: these runs refresh an
    expired token with the PIN and the secret (refusal is tested in tests/batch)."""
    with start_sandbox(rate_limits=FAST_LIMITS, start=START, secret_key=APP_SECRET,
                       allow_refresh=True) as handle:
        yield handle


@pytest.fixture
def run_config(sandbox_config: Config) -> Config:
    """Sandbox config with a real-looking app secret and PIN, a short fill timeout and up to
    two new entries per run and per day, so a run places more than one order."""
    return sandbox_config.with_overrides(fyers_secret_key=APP_SECRET, fyers_pin=PIN,
                                         order_fill_timeout_s=1.0, max_new_entries_per_run=2,
                                         max_new_entries_per_day=2)


@pytest.fixture
def alerting_config(run_config: Config, telegram) -> Config:  # noqa: F811 (the fixture)
    """run_config with alerts going to the loopback Telegram server."""
    return run_config.with_overrides(telegram_bot_token=BOT_TOKEN, telegram_chat_id=CHAT_ID,
                                     telegram_api_url=telegram.url)


def _sdk_log_sizes() -> dict[str, int]:
    """Bytes in each of the SDK's log files now, so a test reads only what it appended."""
    return {path.name: path.stat().st_size for path in LOG_DIR.glob("*.log")}


@pytest.fixture(autouse=True)
def no_secret_leaks(config: Config) -> Iterator[None]:
    """After each test: the store it used and the SDK log lines it wrote hold no secret."""
    sizes = _sdk_log_sizes()
    yield
    tokens = stored_secrets(config)
    assert_no_secrets(config, tokens)
    for path in LOG_DIR.glob("*.log"):
        with path.open(errors="replace") as handle:
            handle.seek(sizes.get(path.name, 0))
            written = handle.read()
        leaked = [name for name, value in tokens.items() if value in written]
        assert not leaked, f"{path} holds the {', '.join(leaked)}"
