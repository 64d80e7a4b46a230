"""What the owner sees of the money, in a real browser at a phone and a desktop size: the
Today card and the holdings at one price on the dashboard, the money at stake and the closed
trades on Trading, the token state on Tokens; and when Fyers refuses the token, the banner and
the failed run. Each journey leaves a screenshot in artifacts/screenshots/."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import requests
from playwright.sync_api import expect

from config import PROJECT_DIR

pytestmark = pytest.mark.browser
DAY = 86400


def log_in_to_fyers(page, stack) -> None:
    """The daily Fyers login, as the owner does it: the app's button, then Approve."""
    page.goto("/tokens/login")
    expect(page).to_have_url(re.compile("^" + re.escape(stack.sandbox_url)))
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(re.compile("^" + re.escape(stack.app_url)))


def no_sideways_scroll(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], "the page scrolls sideways"


def test_log_in_and_to_fyers(page, stack, app_store, viewport):
    page.goto("/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(stack.admin_password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{stack.app_url}/")
    log_in_to_fyers(page, stack)
    expect(page.get_by_role("status").first).to_contain_text("VALID")
    expect(page.get_by_text("Fyers login needed.")).to_have_count(0)
    seed_money(app_store, viewport)


def seed_money(store, viewport: str) -> None:
    """A holding bought today, and two closed trades of a few days ago (one per viewport)."""
    now = time.time()
    for side, qty, price, ts, pnl in (("BUY", 8, 1180.0, now - 5 * DAY, None),
                                      ("SELL", 8, 1230.0, now - 2 * DAY, 400.0),
                                      ("BUY", 4, 2500.0, now - 4 * DAY, None),
                                      ("SELL", 4, 2450.0, now - DAY, -200.0)):
        symbol = "NSE:HDFCBANK-EQ" if price < 2000 else "NSE:RELIANCE-EQ"
        store.record_trade({"trade_id": f"money-{viewport}-{side}-{symbol}", "run_id": "e2e",
                            "order_tag": None, "symbol": symbol, "side": side, "qty": qty,
                            "price": price, "ts": ts, "pnl": pnl, "source": "bot"}, None)
    # the newest trade: the Trading page keeps its closed-trade figures until a newer one
    store.record_trade({"trade_id": f"money-{viewport}-open", "run_id": "e2e", "order_tag": None,
                        "symbol": "NSE:ITC-EQ", "side": "BUY", "qty": 20, "price": 400.0,
                        "ts": now, "pnl": None, "source": "bot"},
                       {"symbol": "NSE:ITC-EQ", "qty": 20, "avg_price": 400.0,
                        "last_buy_price": 400.0, "opened_at": now, "updated_at": now})


def test_dashboard_today_card_and_money_at_one_price(page):
    page.goto("/")
    today = page.locator("section").filter(has=page.get_by_role("heading", name="Today"))
    expect(today).to_contain_text("Last run")
    expect(today).to_contain_text("Automatic runs are off")
    expect(today).to_contain_text(re.compile(r"Fyers login\s+Valid until 06:00 IST"))
    expect(page.get_by_text(re.compile(r"Valued at live prices of \d\d:\d\d IST"))).to_be_visible()
    for kpi in ("Holdings value", "Holdings P&L", "Available funds", "Open positions"):
        expect(page.get_by_text(kpi, exact=True)).to_be_visible()
    no_sideways_scroll(page)


def test_trading_money_at_stake_and_closed_trades(page):
    page.goto("/trading")
    for kpi in ("Invested", "Current value", "Open P&L", "Available funds",
                "Total P&L (realized)", "Wins / losses", "Average win", "Average loss"):
        expect(page.get_by_text(kpi, exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Holdings valued at live prices of"))).to_be_visible()
    closed = page.locator("table.closed-trades tbody tr")
    expect(closed.first).to_be_visible()
    expect(page.locator("table.closed-trades")).to_contain_text("3 days")  # held 5 → 2 days ago
    page.wait_for_function("() => window.Chart && Chart.getChart('pnl-chart') !== undefined")
    lowest = page.evaluate("() => Chart.getChart('pnl-chart').scales.y.min")
    assert lowest <= 0, "the P&L axis starts at zero or below"
    no_sideways_scroll(page)


def test_token_refused_shows_the_banner_and_the_failed_run(page, stack):
    stack_admin(stack, "faults", expire_tokens=True)  # Fyers ends the session early
    stack_admin(stack, "tokens", allow_refresh=False)  # and, as in 2026, refuses a refresh
    run = subprocess.run([sys.executable, "executor.py", "--trigger", "manual", "--force"],
                         cwd=PROJECT_DIR, env=stack.env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1 and "Fyers needs a new login" in run.stdout
    page.goto("/tokens")
    expect(page.get_by_role("status").first).to_contain_text("LOGIN NEEDED · refused by Fyers")
    expect(page.get_by_text("VALID", exact=True)).to_have_count(0)
    page.goto("/")
    banner = page.get_by_role("alert").filter(has_text="Fyers login needed.")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Fyers refused the token at")
    today = page.locator("section").filter(has=page.get_by_role("heading", name="Today"))
    expect(today).to_contain_text("Last run failed")
    expect(today).to_contain_text("Fyers needs a new login")
    expect(today).to_contain_text("Login needed")


def test_logging_in_again_clears_the_banner(page, stack):
    page.goto("/trading")
    page.get_by_role("alert").filter(has_text="Fyers login needed.").get_by_role(
        "link", name="Log in to Fyers").click()
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(re.compile("^" + re.escape(stack.app_url)))
    stack_admin(stack, "tokens", allow_refresh=None)  # back to the stack's demo rules
    page.goto("/")
    expect(page.get_by_text("Fyers login needed.")).to_have_count(0)
    expect(page.locator("section").filter(has=page.get_by_role("heading", name="Today"))
           ).to_contain_text("Valid until")


def stack_admin(stack, path: str, **payload) -> None:
    """An admin call to the stack's sandbox (faults, token rules)."""
    requests.post(f"{stack.sandbox_url}/admin/{path}", json=payload, timeout=10
                  ).raise_for_status()
