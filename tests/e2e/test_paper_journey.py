"""Paper trading in a real browser at 375 px and 1280 px: switch to paper, run now, see the paper
book with the Paper banner on every page, then go live through the confirmation naming the real
money. A stack of its own (the mode is shared by every page of an app). Screenshots go to
artifacts/screenshots/paper-*.png."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from devstack import start_stack
from store import open_store
from tests.e2e.conftest import SCREENSHOTS, PageProblems

pytestmark = pytest.mark.browser
WIDTHS = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1280, "height": 800}}
BANNER = "Paper trading — no real money"
RUN_WAIT_MS = 60_000


@pytest.fixture(scope="module")
def paper_stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("paper-stack"), ORDER_FILL_TIMEOUT_S="5")
    # a Wednesday session by the sandbox's clock, whatever this machine's clock says
    requests.post(f"{running.sandbox_url}/admin/clock", json={"now": "2026-11-25T11:00:00"},
                  timeout=10).raise_for_status()
    yield running
    running.stop()


@pytest.fixture(params=list(WIDTHS))
def width(request) -> str:
    return request.param


@pytest.fixture
def page(browser, paper_stack, width):
    context = browser.new_context(viewport=WIDTHS[width], base_url=paper_stack.app_url)
    problems = PageProblems(context, paper_stack.app_url)
    opened = context.new_page()
    yield opened
    assert problems.items == []
    context.close()


def shot(page, name: str, width: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"paper-{name}-{width}.png"), full_page=True)


def log_in(page, stack) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(stack.admin_password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{stack.app_url}/")
    page.goto("/tokens/login")
    expect(page).to_have_url(re.compile("^" + re.escape(stack.sandbox_url)))
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(re.compile("^" + re.escape(stack.app_url)))


def test_a_paper_journey_from_switching_on_to_going_live(page, paper_stack, width):
    log_in(page, paper_stack)
    page.goto("/strategy")
    expect(page.get_by_text(BANNER)).to_have_count(0)
    page.get_by_role("button", name="Switch to paper trading").click()
    expect(page.locator("#paper-banner")).to_contain_text(BANNER)
    expect(page).to_have_title(re.compile(r"^Paper · Strategy"))

    page.get_by_role("button", name="Run now", exact=True).click()
    expect(page.locator("#run-confirm")).to_contain_text("Paper trading:")
    page.get_by_role("button", name="Yes, run now").click()
    expect(page.locator(".run-outcome")).to_be_visible(timeout=RUN_WAIT_MS)
    expect(page.locator(".run-outcome")).to_contain_text("Paper:")
    shot(page, "run", width)

    for path, title in (("/", "Dashboard"), ("/trading", "Trading")):
        page.goto(path)
        expect(page.locator("#paper-banner")).to_be_visible()
        expect(page).to_have_title(re.compile(rf"^Paper · {title}"))
        assert page.evaluate("() => document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
        shot(page, path.strip("/") or "dashboard", width)
    expect(page.locator("#paper-vs-backtest")).to_be_visible()

    page.goto("/strategy")
    expect(page.locator("#paper-record")).to_contain_text(re.compile(r"1 day[\s\S]*\d+ runs?"))
    page.get_by_role("link", name="Go live on the sandbox…").click()  # FYERS_MODE=sandbox
    expect(page.locator("#real-at-stake")).to_contain_text("₹")
    shot(page, "go-live", width)
    page.get_by_role("button", name="Yes, trade on the sandbox").click()
    expect(page).to_have_url(re.compile(r"/strategy$"))
    expect(page.get_by_text(BANNER)).to_have_count(0)
    expect(page).to_have_title(re.compile(r"^Strategy"))
    store = open_store(paper_stack.database_url)
    try:
        assert store.for_book("paper").list_runs() and store.list_runs() == []
    finally:
        store.close()
