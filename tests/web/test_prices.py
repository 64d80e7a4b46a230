"""One price for every page: live quotes in one batched call shared by the dashboard and the
Trading page, the available funds from Fyers, and the dated close with a note when Fyers is
slow, down or wants a login. The real SDK against the sandbox on loopback."""
from __future__ import annotations

import re
import time

import pytest

import executor
import notifier
import portfolio
import prices
import token_refresh
from broker import Quote
from tests.web.fyers_login import hold, store_sandbox_token
from tests.web.text import text

HELD = ("NSE:INFY-EQ", "NSE:TCS-EQ")
QUOTES, FUNDS = "/data/quotes", "/api/v3/funds"


@pytest.fixture
def holding(sandbox_app):
    """The app holding INFY and TCS with a cached close a few days old, logged in to Fyers."""
    app, auth = sandbox_app
    for symbol in HELD:
        hold(app, symbol)
        app.extensions["store"].upsert_candles(symbol, [
            {"date": "2026-11-20", "open": 1, "high": 3, "low": 1, "close": 2.5, "volume": 1}])
    store_sandbox_token(app)
    return app, auth


def figure(page: str, label: str) -> str:
    """The amount shown right after `label` on a page."""
    return re.search(re.escape(label) + r" ((?:−)?₹[\d,.]+)", text(page)).group(1)


def wait_for_quotes(app, deadline_s: float = 60) -> None:
    """Until the background fetch has kept fresh quotes in the store."""
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        market = app.extensions["store"].get_setting(prices.MARKET_KEY) or {}
        if market.get("quotes"):
            return
        time.sleep(0.2)
    raise AssertionError("the background fetch kept no quotes")


def test_dashboard_and_trading_show_the_same_live_prices_from_one_call(holding, sandbox):
    app, auth = holding
    dashboard = auth.client.get("/").get_data(as_text=True)
    trading = auth.client.get("/trading").get_data(as_text=True)
    assert "Valued at live prices of" in text(dashboard)
    assert "Holdings valued at live prices of" in text(trading)
    assert figure(dashboard, "Holdings P&L") == figure(trading, "Open P&L")
    assert figure(dashboard, "Holdings value") == figure(trading, "Current value")
    assert figure(dashboard, "Holdings P&L") != "₹30.00"  # not the close of 20 Nov
    assert sandbox.requests_to(QUOTES) == 1  # one batched call for both symbols and pages
    assert sandbox.requests_to(FUNDS) == 1


def test_available_funds_come_from_fyers(holding):
    _, auth = holding
    page = auth.client.get("/trading").get_data(as_text=True)
    assert figure(page, "Available funds") == "₹10,00,000.00"  # the sandbox's starting cash
    assert "Available funds ₹10,00,000.00 Fyers," in text(page)


def test_a_run_s_quotes_value_the_holdings_without_asking_again(holding, sandbox):
    app, auth = holding
    prices.remember_quotes(app.extensions["store"], {
        symbol: Quote(symbol, ltp, ltp, 0.0) for symbol, ltp in zip(HELD, (1601.5, 3300.0),
                                                                   strict=True)})
    page = auth.client.get("/trading").get_data(as_text=True)
    assert figure(page, "Current value") == "₹49,015.00"  # 10 × 1,601.50 + 10 × 3,300
    assert sandbox.requests_to(QUOTES) == 0


def test_a_run_s_orders_show_in_the_funds_at_once(sandbox_app, sandbox_config, sandbox):
    """The pages keep the funds for a minute; a run that trades reads them again, so the page
    right after it shows the money its buy took, beside the holding it bought."""
    app, auth = sandbox_app
    # A token ending at the next 06:00 IST (the sandbox's default) would be refreshed by a
    # run in the five minutes before it, and Fyers refuses refreshes: this one lasts the test.
    sandbox.admin("tokens", access_ttl_s=3600)
    store_sandbox_token(app)
    assert figure(auth.client.get("/trading").get_data(as_text=True),
                  "Available funds") == "₹10,00,000.00"  # kept for FUNDS_FRESH_S
    run = executor.execute(sandbox_config, app.extensions["store"], trigger="manual", force=True)
    assert run["summary"].startswith("Bought ")
    [trade] = app.extensions["store"].list_trades()
    fyers = token_refresh.stored_broker(sandbox_config, app.extensions["store"]).funds()
    left = portfolio.inr(fyers[prices.FUNDS_ROW])
    assert left != "₹10,00,000.00"
    for path, label in (("/trading", "Available funds"), ("/", "Available funds")):
        page = auth.client.get(path).get_data(as_text=True)
        assert figure(page, label) == left, path
    invested = figure(auth.client.get("/trading").get_data(as_text=True), "Invested")
    assert invested == portfolio.inr(trade["qty"] * trade["price"])


def test_funds_asked_before_the_ones_kept_are_not_kept(holding):
    """A page's fetch under way while a run kept the funds after its orders ends later, with
    the funds from before them: they must not replace the run's."""
    app, auth = holding
    now = time.time()
    prices._keep(app.extensions["store"], funds={"at": now, "available": 500.0})  # the run's
    prices._keep(app.extensions["store"], funds={"at": now - 1, "available": 900.0})
    assert figure(auth.client.get("/trading").get_data(as_text=True),
                  "Available funds") == "₹500.00"


def test_quotes_read_while_nse_is_closed_are_the_last_prices_not_live(holding, sandbox):
    """Saturday night by Fyers' clock: the quotes are the last session's prices, whatever
    this machine's clock says."""
    app, auth = holding
    sandbox.admin("clock", now="2026-11-28T22:00:00")
    dashboard = text(auth.client.get("/").get_data(as_text=True))
    trading = text(auth.client.get("/trading").get_data(as_text=True))
    assert re.search(r"Valued at the last prices Fyers gave at \d\d:\d\d IST, NSE closed\.",
                     dashboard)
    assert "Holdings valued at the last prices Fyers gave at" in trading
    assert "last price, NSE closed · ₹" in trading and not re.search(r"live \d\d:\d\d", trading)
    assert sandbox.requests_to(QUOTES) == 1


def test_a_slow_broker_shows_the_dated_close_and_finishes_for_the_next_page(holding, sandbox):
    app, auth = holding
    sandbox.admin("faults", latency_ms=4000)  # longer than a page waits
    page = text(auth.client.get("/trading").get_data(as_text=True))
    closed_on = portfolio.day_label("2026-11-20")
    assert f"Holdings valued at the close of {closed_on}." in page
    assert f"Fyers has not answered within {prices.PAGE_WAIT_S:g} s" in page
    sandbox.admin("faults", latency_ms=0)
    wait_for_quotes(app)  # the fetch went on without the page
    page = text(auth.client.get("/trading").get_data(as_text=True))
    assert "Holdings valued at live prices of" in page and "not answered" not in page
    assert sandbox.requests_to(QUOTES) == 1


def test_a_failing_broker_is_not_asked_again_at_once(holding, sandbox):
    app, auth = holding
    sandbox.admin("faults", http_5xx_next=2)  # both tries of the quotes call
    page = text(auth.client.get("/").get_data(as_text=True))
    assert f"Valued at the close of {portfolio.day_label('2026-11-20')}." in page
    assert "Fyers gave no prices at" in page and "HTTP 503" in page
    asked = sandbox.requests_to(QUOTES)
    page = text(auth.client.get("/trading").get_data(as_text=True))
    assert "Fyers gave no prices at" in page
    assert sandbox.requests_to(QUOTES) == asked  # paused, not hammered


def test_no_login_no_call(sandbox_app, sandbox):
    app, auth = sandbox_app
    hold(app)
    page = text(auth.client.get("/").get_data(as_text=True))
    assert "Fyers needs a new login, so prices are not live." in page
    assert "No price is known yet for the holdings." in page
    assert sandbox.requests_to(QUOTES) == sandbox.requests_to(FUNDS) == 0


def test_the_run_alert_values_holdings_as_the_dashboard_does(holding):
    app, auth = holding
    dashboard = auth.client.get("/").get_data(as_text=True)
    line = notifier.holdings_now(app.extensions["nifty_config"], app.extensions["store"])
    assert line.startswith(f"Holdings {figure(dashboard, 'Holdings value')}, open P&L +"
                           f"{figure(dashboard, 'Holdings P&L')} (+")
    assert "at live prices of" in line


def test_a_symbol_fyers_does_not_quote_keeps_its_close_without_asking_again(holding, sandbox):
    app, auth = holding
    hold(app, "NSE:GONE-EQ")  # delisted: Fyers has no quote for it
    app.extensions["store"].upsert_candles("NSE:GONE-EQ", [
        {"date": "2026-11-20", "open": 1, "high": 1, "low": 1, "close": 0.5, "volume": 1}])
    page = text(auth.client.get("/trading").get_data(as_text=True))
    assert "Holdings valued at live prices, some at the close of" in page
    assert f"close of {portfolio.day_label('2026-11-20')} · ₹5.00" in page
    auth.client.get("/")
    assert sandbox.requests_to(QUOTES) == 1
