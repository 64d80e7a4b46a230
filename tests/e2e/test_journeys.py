"""What the owner does, in a real browser at a phone and a desktop size, in order: log in, use
the menu, log in to Fyers through the sandbox, run the strategy, read trading and logs, log out.
Each journey leaves a screenshot in artifacts/screenshots/."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
WORD = "journeyprobe"


def open_menu_if_collapsed(page) -> None:
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible() and toggler.get_attribute("aria-expanded") != "true":
        toggler.click()
        expect(page.locator("#nav")).to_have_class(re.compile(r"\bshow\b"))


def test_login_shows_the_dashboard(page, stack):
    page.goto("/")
    expect(page).to_have_url(f"{stack.app_url}/login?next=/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(stack.admin_password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{stack.app_url}/")
    for kpi in ("Holdings P&L", "Open positions", "Trades today"):
        expect(page.get_by_text(kpi, exact=False).first).to_be_visible()


def test_menu_collapses_into_a_hamburger_on_a_phone(page, viewport):
    nav_link = page.locator("#nav").get_by_role("link", name="Logs")
    toggler = page.locator(".navbar-toggler")
    if viewport == "phone":
        expect(nav_link).to_be_hidden()
        toggler.click()
        expect(nav_link).to_be_visible()
        expect(page.locator("#nav")).to_have_class(re.compile(r"\bshow\b"))  # opened fully
        toggler.click()
        expect(nav_link).to_be_hidden()
    else:
        expect(toggler).to_be_hidden()
        expect(nav_link).to_be_visible()


def test_fyers_login_through_the_sandbox_page(page, stack, viewport, app_store):
    if viewport == "phone":  # no token yet (another module's journeys may have logged in)
        for token in app_store.list_tokens():
            app_store.save_token({**token, "access_token": None})
        page.goto("/")
        banner = page.get_by_role("alert").filter(has_text="Fyers token")
        expect(banner).to_be_visible()
        banner.get_by_role("link", name="Log in to Fyers").click()
    else:
        page.goto("/tokens")
        page.get_by_role("link", name="Log in to Fyers").first.click()
    expect(page).to_have_url(re.compile("^" + re.escape(stack.sandbox_url)))
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(re.compile("^" + re.escape(stack.app_url)))
    page.goto("/tokens")
    # usable now; "EXPIRING" after today's run time, as the token ends at 06:00 IST
    status = page.get_by_role("status").first
    expect(status).to_contain_text(re.compile("VALID|EXPIRING"))
    valid = status.inner_text().strip().startswith("VALID")
    page.goto("/")  # an EXPIRING token still asks for a login before the next run
    expect(page.get_by_role("alert").filter(has_text="Fyers token")).to_have_count(0 if valid else 1)


def test_run_strategy_now_shows_the_run_and_its_logs(page):
    runs = page.locator(".list-group a[href^='/strategy/runs/']")
    page.goto("/strategy")
    before = runs.count()
    page.get_by_role("button", name="Run now", exact=True).click()
    page.get_by_role("button", name="Yes, run now").click()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        page.goto("/strategy")
        if runs.count() > before and "running" not in runs.first.inner_text():
            break
        time.sleep(1)
    newest = runs.first
    expect(newest).to_contain_text("succeeded")
    expect(newest).to_contain_text("manual")
    newest.click()
    expect(page.locator(".log-row").first).to_be_visible()


def test_trading_page_shows_positions_and_the_pnl_chart(page, app_store):
    day = time.time() - 3 * 86400
    app_store.record_trade({"trade_id": f"E2E-{page.viewport_size['width']}", "run_id": "e2e",
                            "order_tag": None, "symbol": "NSE:ITC-EQ", "side": "SELL",
                            "qty": 10, "price": 420.0, "ts": day, "pnl": 150.0,
                            "source": "bot"}, None)
    page.goto("/trading")
    expect(page.get_by_role("heading", name="Open positions")).to_be_visible()
    expect(page.locator("table").first.locator("tbody tr").first).to_be_visible()
    expect(page.locator("#pnl-chart")).to_be_visible()
    page.wait_for_function("() => window.Chart && Chart.getChart('pnl-chart') !== undefined")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], "the page scrolls sideways"


def test_logs_search_filter_and_infinite_scroll(page, app_store, viewport):
    word = f"{WORD}{viewport}"  # each viewport's journey finds only its own lines
    now = time.time()
    app_store.insert_logs([
        {"ts": now - i, "level": "WARNING" if i % 2 else "INFO", "logger": "e2e",
         "message": f"{word} line {i}", "run_id": None, "extra": {}}
        for i in range(130)])
    page.goto(f"/logs?q={word}")
    rows = page.locator(".log-row")
    expect(rows).to_have_count(50)
    page.locator(".log-more").scroll_into_view_if_needed()
    expect(rows).to_have_count(100)
    page.locator(".log-more").scroll_into_view_if_needed()
    expect(rows).to_have_count(130)
    page.get_by_label("Level").select_option("WARNING")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(f"q={word}.*level=WARNING|level=WARNING.*q={word}"))
    expect(rows.first).to_be_visible()
    levels = set(page.locator(".log-row .log-level").all_inner_texts())
    assert levels == {"WARNING"}


def test_logout_ends_the_session(page, stack):
    page.goto("/")
    open_menu_if_collapsed(page)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/trading")
    expect(page).to_have_url(re.compile(r"/login"))
