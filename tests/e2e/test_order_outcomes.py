"""Each order outcome from a real run (executor, real SDK, the sandbox under Fyers' 2026 rules
with its faults, real SQLite) read where the owner reads it: the Telegram alert, the run page
and the Trading page in a real browser. Only Fyers' refusal says "rejected"."""
from __future__ import annotations

import re
import threading
import time

import pytest
from playwright.sync_api import expect

import executor
from config import Config
from devstack import start_stack
from fyers_sandbox.testing import SandboxHandle
from store import open_store
from tests.alerts.conftest import BOT_TOKEN, CHAT_ID
from tests.alerts.fake_telegram import FakeTelegram
from tests.batch.helpers import store_tokens
from tests.e2e.conftest import SCREENSHOTS, VIEWPORTS

pytestmark = pytest.mark.browser
RUN_TIME = "2026-10-01T15:10:00"  # a session whose closes offer an entry (BUY 6 TECHM)
AFTER_CLOSE = "2026-10-01T15:31:00"
WAIT_S = 8  # ORDER_FILL_TIMEOUT_S: long enough for a test thread to act on a waiting order


@pytest.fixture(scope="module")
def telegram():
    server = FakeTelegram(BOT_TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The app (waitress) on a sandbox that follows Fyers' rules (no --demo), clock at RUN_TIME."""
    running = start_stack(tmp_path_factory.mktemp("outcomes"), sandbox_args=("--start", RUN_TIME))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sandbox(stack):
    return SandboxHandle(stack.sandbox_url)


@pytest.fixture(scope="module")
def run_config(stack, sandbox, telegram) -> Config:
    """The run's settings: the stack's store and sandbox, alerts to the loopback Telegram."""
    config = Config.from_mapping({**stack.env, "ORDER_FILL_TIMEOUT_S": str(WAIT_S),
                                  "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_CHAT_ID": CHAT_ID,
                                  "TELEGRAM_API_URL": telegram.url})
    store = open_store(config.store_url)
    store_tokens(config, store, sandbox)
    store.close()
    return config


@pytest.fixture(scope="module")
def page(browser, stack):
    context = browser.new_context(base_url=stack.app_url, viewport=VIEWPORTS["phone"])
    shown = context.new_page()
    shown.goto("/login")
    shown.get_by_label("Username").fill("admin")
    shown.get_by_label("Password").fill(stack.admin_password)
    shown.get_by_role("button", name="Log in").click()
    yield shown
    context.close()


def when_placed(sandbox: SandboxHandle, then) -> threading.Thread:
    """Call `then()` once an order reached the sandbox (as Fyers moves on while the run waits)."""
    before = sandbox.requests_to("/api/v3/orders/sync")

    def watch() -> None:
        deadline = time.monotonic() + 120
        while sandbox.requests_to("/api/v3/orders/sync") == before:
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def a_run(run_config, telegram) -> tuple[dict, list[str]]:
    """One manual run as `--force` starts it, and the alerts it sent."""
    sent = len(telegram.texts)
    record = executor.run_once(run_config, trigger="manual", force=True)
    return record, telegram.texts[sent:]


OUTCOMES = [  # (what, faults, what happens at Fyers while the run waits, the words)
    ("rejected", {"reject_next_orders": 1}, None,
     r"rejected by Fyers: RMS: order rejected by the sandbox \(injected fault\)"),
    ("not filled", {"pending_next_orders": 1}, None, rf"not filled in {WAIT_S} s, cancelled"),
    ("expired", {"pending_next_orders": 1}, ("clock", {"now": AFTER_CLOSE}),
     r"expired at the close"),
    ("partly filled", {"partial_fill_next": 1, "partial_fill_ratio": 0.5}, None,
     rf"partly filled \(3 of 6; the rest cancelled after {WAIT_S} s\)"),
]


@pytest.mark.parametrize(("what", "faults", "meanwhile", "words"), OUTCOMES,
                         ids=[outcome[0] for outcome in OUTCOMES])
def test_each_outcome_reads_the_same_in_the_alert_the_run_page_and_trading(
        run_config, sandbox, telegram, page, what, faults, meanwhile, words):
    sandbox.admin("clock", now=RUN_TIME)
    sandbox.admin("faults", **faults)
    if meanwhile:
        when_placed(sandbox, lambda: sandbox.admin(meanwhile[0], **meanwhile[1]))
    record, alerts = a_run(run_config, telegram)
    assert record["status"] == "warning", record
    phrase = re.compile(rf"BUY 6 TECHM: {words}$")
    assert [text for text in alerts if phrase.search(text)], alerts
    summary_words = "rejected by Fyers" if what == "rejected" else \
        f"partly filled, the rest cancelled after {WAIT_S} s" if what == "partly filled" \
        else words.replace("\\", "")
    assert f"1 order {summary_words}" in record["summary"]
    if what != "rejected":
        said = record["summary"] + "\n".join(alerts)
        assert "reject" not in said.lower() and "refus" not in said.lower()

    page.goto(f"/strategy/runs/{record['run_id']}")
    expect(page.locator(".run-live .order-outcome")).to_have_text(re.compile(f"^{words}$"))
    expect(page.locator(".run-outcome")).to_contain_text(f"1 order {summary_words}")
    page.goto("/trading")
    expect(page.locator(".order-list .order-outcome").first).to_have_text(
        re.compile(f"^{words}$"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"order-outcome-{what.replace(' ', '-')}.png"),
                    full_page=True)


def test_a_pending_order_reads_waiting_on_trading(run_config, page):
    """An order still open at Fyers (a run stopped while it waited) is shown as waiting."""
    store = open_store(run_config.store_url)
    try:
        store.upsert_order({"tag": "NSwaiting1", "run_id": "stopped", "symbol": "NSE:SBIN-EQ",
                            "side": "BUY", "qty": 4, "reason": "entry", "status": "placed",
                            "broker_order_id": "26100100000099", "filled_qty": 0,
                            "traded_price": None, "message": "", "created_at": time.time(),
                            "updated_at": time.time()})
    finally:
        store.close()
    page.goto("/trading")
    row = page.locator(".order-list li", has_text="SBIN")
    expect(row.locator(".order-outcome")).to_have_text("waiting at Fyers")
