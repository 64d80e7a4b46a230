"""Runs in a real browser at a phone and a desktop size: "Run now" asks first, then the run page
follows the run by itself to its summary; logs and backtests read well on a phone. Each journey
leaves a screenshot in artifacts/screenshots/."""
from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

import backtest
from backtesting import results
from config import Config
from tests.backtest.scenario import SCENARIO_ARGS, scenario_closes, write_csv

pytestmark = pytest.mark.browser
RUN_WAIT_MS = 150_000  # a cold run fetches 50 symbols' candles through the slowed sandbox
SLOW_SANDBOX_MS = 1000  # every Fyers call of the run takes a second: the page sees it running
TAP_PX = 44


@pytest.fixture
def slow_sandbox(stack):
    """Every sandbox call answers after SLOW_SANDBOX_MS, for the test's length."""
    faults = f"{stack.sandbox_url}/admin/faults"
    requests.post(faults, json={"latency_ms": SLOW_SANDBOX_MS}, timeout=10).raise_for_status()
    yield
    requests.post(faults, json={"latency_ms": 0}, timeout=10).raise_for_status()


def log_in(page, stack, app_store) -> None:
    """Log in to the app (each viewport has its own browser context), and to Fyers through
    the sandbox's page when no token is stored yet."""
    page.goto("/strategy")
    if "/login" in page.url:
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(stack.admin_password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/strategy$"))
    if not app_store.list_tokens():
        page.goto("/tokens")
        page.get_by_role("link", name="Log in to Fyers").first.click()
        page.get_by_role("button", name="Approve").click()
        expect(page).to_have_url(re.compile("^" + re.escape(stack.app_url)))


def assert_tappable(locator) -> None:
    """Every element of `locator` is at least TAP_PX × TAP_PX."""
    for box in [element.bounding_box() for element in locator.all()]:
        assert box["width"] >= TAP_PX and box["height"] >= TAP_PX, box


def assert_no_sideways_scroll(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], "the page scrolls sideways"


def test_run_now_confirmation(page, stack, app_store):
    log_in(page, stack, app_store)
    page.goto("/strategy")
    page.get_by_role("button", name="Run now", exact=True).click()
    confirm = page.locator("#run-confirm")
    expect(confirm).to_be_visible()
    expect(page).to_have_url(re.compile(r"/strategy$"))  # shown in place, not a new page
    expect(confirm).to_contain_text(re.compile(r"It can spend (at most )?₹[\d,]+\.\d\d"))
    expect(confirm).to_contain_text(re.compile(r"No run yet today\.|Already ran today at"))
    assert_tappable(confirm.get_by_role("button", name="Yes, run now"))
    assert_tappable(confirm.get_by_role("link", name="Cancel"))
    assert_no_sideways_scroll(page)


def test_a_run_followed_live_to_its_summary(page, stack, app_store, slow_sandbox):
    log_in(page, stack, app_store)
    # The access token has ended: the banner asks for a login; the run refreshes the token
    # (the demo sandbox still allows it), and the banner goes as the run's summary comes.
    [token] = app_store.list_tokens()
    app_store.save_token({**token, "access_expires_at": time.time() - 60})
    runs_before = len(app_store.list_runs(limit=1000))
    page.goto("/strategy")
    page.get_by_role("button", name="Run now", exact=True).click()
    page.get_by_role("button", name="Yes, run now").dblclick()  # an impatient double tap
    expect(page).to_have_url(re.compile(r"/strategy/runs/[\w-]+$"))
    status = page.locator(".run-live [role=status]")
    expect(status).to_have_text("running")  # every Fyers call takes a second
    expect(page.locator("#fyers-banner")).to_contain_text("Fyers login needed.")
    polls = []
    page.on("request", lambda request: "/live" in request.url and polls.append(request.url))
    page.evaluate("() => { window.followedWithoutReload = true; }")
    expect(page.locator(".run-outcome")).to_be_visible(timeout=RUN_WAIT_MS)
    assert page.evaluate("() => window.followedWithoutReload === true"), "the page reloaded"
    assert polls, "the page never asked for the run's progress"
    expect(status).to_have_text(re.compile(r"^succeeded"))
    expect(page.locator("#fyers-banner")).to_be_empty()  # the run logged in again
    expect(page.locator(".run-outcome")).to_have_text(re.compile(r"\w.*\.$"))
    expect(page.locator(".run-step.step-done")).to_have_count(5)
    expect(page.locator(".log-row").first).to_be_visible()
    assert len(app_store.list_runs(limit=1000)) == runs_before + 1
    run_id = page.locator(".run-id")
    line = float(run_id.evaluate("(e) => parseFloat(getComputedStyle(e).lineHeight)"))
    assert run_id.bounding_box()["height"] < 2.5 * line, "the run id wraps over 3 lines"
    assert_tappable(page.get_by_role("link", name="← Strategy"))
    assert_no_sideways_scroll(page)


def test_logs_keep_tracebacks_folded_and_links_tappable(page, app_store):
    page.goto("/logs")
    assert_tappable(page.locator(".log-run").first)
    assert_tappable(page.get_by_role("button", name="Filter"))
    for detail in page.locator(".log-detail").all():
        expect(detail.locator("pre")).to_be_hidden()
    assert_no_sideways_scroll(page)


def test_backtests_are_cards_on_a_phone_and_a_table_on_a_desktop(page, stack, viewport,
                                                                 tmp_path):
    folder = tmp_path / "candles"
    folder.mkdir()
    for symbol, closes in scenario_closes().items():
        write_csv(folder, symbol, closes)
    config = Config.from_mapping({"DATABASE_URL": stack.database_url, "FYERS_MODE": "sandbox"})
    assert backtest.main(["--csv", str(folder), *SCENARIO_ARGS], config) == 0
    page.goto("/backtests")
    header = page.locator(".backtest-list thead")
    cagr = page.locator(".backtest-list tbody tr").first.locator("td[data-label=CAGR]")
    if viewport == "phone":
        expect(header).to_be_hidden()
        label = cagr.evaluate("(e) => getComputedStyle(e, '::before').content")
        assert label == '"CAGR"'
    else:
        expect(header).to_be_visible()
    expect(cagr).to_be_visible()
    assert_tappable(page.locator(".backtest-name a").first)
    assert_no_sideways_scroll(page)

    # A sweep's every combination: cards too, no figure hidden off to the right
    swept = ["--sweep", "candidates=3,5", "max-trade-value=500,1000", "--workers", "1"]
    assert backtest.main(["--csv", str(folder), *SCENARIO_ARGS[:-2], *swept], config) == 0
    sweep = next(run for run in results.list_saved(results.backtests_root(config.data_dir))
                 if run["kind"] == "sweep")  # the newest
    page.goto(f"/backtests/{sweep['id']}")
    title = page.locator("h1")
    line = float(title.evaluate("(e) => parseFloat(getComputedStyle(e).lineHeight)"))
    assert title.bounding_box()["height"] < 1.5 * line or viewport == "phone"
    expect(title.locator(".text-nowrap")).to_have_count(2)  # no date broken in two
    combinations = page.locator("h2:text-is('Every combination') + div .backtest-list tbody tr")
    expect(combinations).to_have_count(4)
    last = combinations.first.locator("td").last
    expect(last).to_be_visible()
    assert last.bounding_box()["x"] + last.bounding_box()["width"] <= page.viewport_size["width"]
    assert_tappable(combinations.first.locator(".backtest-name a"))
    assert_no_sideways_scroll(page)
