"""A real run (executor, real SDK, sandbox on loopback) tells the owner, and Telegram being down
never changes how the run ends."""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import executor
from fyers_sandbox.testing import SandboxHandle, start_sandbox
from messages import LOGIN_NEEDED
from notifier import LAST_ALERT
from portfolio import inr, signed_inr, ticker
from tests.batch.helpers import FAST_LIMITS, fast_broker, store_tokens

AT_RUN_TIME = "2026-10-01T15:10:00"  # a trading day whose closes offer an entry


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """The sandbox at a fixed clock with relaxed rate limits, so a cold run is quick, in demo
    mode: these alerts report a fill, and an MPP order may wait instead."""
    with start_sandbox(rate_limits=FAST_LIMITS, start=AT_RUN_TIME, demo=True) as handle:
        yield handle


@pytest.fixture
def run_config(alert_config, sandbox):
    """Alerts to the loopback Telegram, orders to the loopback sandbox, logged in."""
    return alert_config.with_overrides(fyers_sandbox_url=sandbox.url, fyers_pin="1234",
                                       order_fill_timeout_s=2.0)


def run(config, store) -> dict:
    """One manual run, as "Run now" starts it."""
    return executor.execute(config, store, trigger="manual", force=True,
                            broker_factory=fast_broker)


def test_a_finished_run_reports_its_buy(run_config, store, sandbox, telegram):
    store_tokens(run_config, store, sandbox)
    record = run(run_config, store)
    assert record["status"] == "succeeded"
    [text] = telegram.texts
    lines = text.splitlines()
    assert lines[0].startswith("✅ Nifty Shop run done · ")
    assert lines[1] == "Orders placed: 1"
    assert lines[2].startswith("Bought ") and " @ ₹" in lines[2]


def test_telegram_down_the_run_still_succeeds_and_the_failure_is_logged(run_config, store,
                                                                       sandbox, telegram,
                                                                       caplog):
    store_tokens(run_config, store, sandbox)
    telegram.stop()
    caplog.set_level(logging.INFO)
    record = run(run_config, store)
    assert record["status"] == "succeeded"
    assert store.get_positions() != []
    assert "alert run_finished via Telegram not sent" in caplog.text
    last = store.get_setting(LAST_ALERT)
    assert (last["kind"], last["ok"]) == ("run_finished", False)


def test_a_run_without_a_login_says_what_to_do(run_config, store, sandbox, telegram):
    record = run(run_config, store)
    assert record["status"] == "failed"
    [text] = telegram.texts
    assert text.splitlines()[0].startswith("❌ Nifty Shop run failed · ")
    assert text.splitlines()[1] == LOGIN_NEEDED.sentence


def test_a_sale_by_hand_the_tradebook_no_longer_shows_is_alerted_as_an_estimate(
        run_config, store, sandbox, telegram):
    """Sold by hand on Thursday, found on Monday: today's tradebook has no price for it, so
    the alert says the price and P&L are estimates, not what the owner got."""
    store_tokens(run_config, store, sandbox)
    run(run_config, store)
    [bought] = store.list_trades()
    sandbox.admin("manual-sell", symbol=bought["symbol"])
    sandbox.admin("clock", now="2026-10-05T15:10:00")  # Fri 2 Oct is a holiday
    sent = len(telegram.texts)
    record = run(run_config, store)
    [manual] = [t for t in store.list_trades() if t["source"] == "manual"]
    said = [text for text in telegram.texts[sent:] if "manual sale" in text]
    assert said == [
        f"ℹ️ Nifty Shop saw a manual sale\nSold {bought['qty']} {ticker(bought['symbol'])} by "
        f"hand before today; the price is not in today's tradebook, valued at today's last "
        f"price {inr(manual['price'])}\nP&L {signed_inr(manual['pnl'])} (estimated)"]
    assert "recorded at an estimated price (not in today's tradebook)" in record["summary"]
