"""Every page renders for a logged-in user with seeded data, with the figures a user relies on."""
from __future__ import annotations

import json
import re

import pytest


@pytest.mark.parametrize("path", ["/", "/trading", "/logs", "/tokens", "/strategy",
                                  "/strategy/runs/run-b", "/account"])
def test_every_page_renders(logged_in, client, seeded, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'class="navbar-toggler"' in page  # phone hamburger
    assert "<script>" not in page and "style=" not in page  # the CSP allows neither


def test_dashboard_kpis_activity_and_token_banner(logged_in, client, seeded):
    page = client.get("/").get_data(as_text=True)
    assert "₹1,000.00" in page  # INFY: 10 × (1,600 last close − 1,500 avg)
    assert re.search(r"Trades today</div>\s*<div class=\"fs-3\">1<", page)
    assert "NSE:TCS-EQ" in page and "₹600.00" in page and "−₹200.00" in page
    assert "CANCELLED" in page and "not filled in time" in page
    assert "Logs of the day" in page and "/logs?from=" in page
    assert "Fyers token missing" in page and 'href="/tokens/login"' in page


def test_dashboard_empty_state_says_what_to_do(logged_in, client):
    page = client.get("/").get_data(as_text=True)
    assert "No trades or cancelled orders" in page and 'href="/strategy"' in page


def test_trading_without_prices_shows_positions_and_a_notice(logged_in, client, seeded):
    response = client.get("/trading")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "No Fyers token" in page and "price unavailable" in page
    assert "NSE:INFY-EQ" in page and "₹1,500.00" in page
    assert "₹400.00" in page  # realized: 600 − 200
    assert "1 / 1" in page and "ratio 1.00" in page
    points = json.loads(re.search(r'data-points="([^"]*)"', page).group(1).replace("&#34;", '"'))
    assert [value for _, value in points] == [600.0, 400.0]


def test_trading_empty_states(logged_in, client):
    page = client.get("/trading").get_data(as_text=True)
    assert "No open positions" in page and "No trades yet" in page


def test_strategy_history_and_run_logs(logged_in, client, seeded):
    page = client.get("/strategy").get_data(as_text=True)
    assert "Run strategy now" in page and "1 buy, 0 sells" in page and "42 s" in page
    assert "Token expired" not in page  # a failure's technical detail stays on its run page
    page = client.get("/strategy/runs/run-b").get_data(as_text=True)
    assert "bought 10 NSE:INFY-EQ" in page and "token expired, run stopped" not in page
    page = client.get("/strategy/runs/run-a").get_data(as_text=True)
    assert re.search(r"<details[^>]*>\s*<summary[^>]*>Details</summary>\s*<div[^>]*>Token expired", page)


def test_unknown_run_is_a_404_page(logged_in, client):
    response = client.get("/strategy/runs/nope")
    assert response.status_code == 404 and "run history" in response.get_data(as_text=True)


def test_running_run_disables_the_button_and_polls(logged_in, client, db):
    db.acquire_lock("executor", "run-live", 60)  # a live run holds the run lock
    db.create_run({"run_id": "run-live", "trigger": "manual", "status": "running",
                   "started_at": 1.0e9, "finished_at": None, "summary": None, "error": None,
                   "dry_run": False})
    page = client.get("/strategy").get_data(as_text=True)
    assert "disabled" in page and 'hx-trigger="every 1s"' in page
    assert "/strategy/status?run=run-live" in page


def test_tokens_page_shows_status_and_both_ways_to_fix(logged_in, client):
    page = client.get("/tokens").get_data(as_text=True)
    assert "MISSING" in page and "Log in to Fyers" in page and "Refresh now" in page


def test_refresh_without_token_says_why(logged_in, client):
    response = logged_in.post("/tokens/refresh", "/tokens")
    assert response.status_code == 302
    assert "Refresh failed" in client.get("/tokens").get_data(as_text=True)


def test_trading_figures_follow_a_new_trade(logged_in, client, seeded, db):
    assert "₹400.00" in client.get("/trading").get_data(as_text=True)
    db.record_trade({"trade_id": "t6", "run_id": "run-c", "order_tag": "t6",
                     "symbol": "NSE:INFY-EQ", "side": "SELL", "qty": 10, "price": 1600.0,
                     "ts": seeded, "pnl": 1000.0, "source": "bot"}, None)
    page = client.get("/trading").get_data(as_text=True)
    assert "₹1,400.00" in page and "2 / 1" in page
