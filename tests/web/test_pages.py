"""Every page renders for a logged-in user with seeded data, with the figures a user relies on."""
from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

import executor
import india_time
import portfolio
import trading_calendar
from app import create_app
from config import IST
from portfolio import ticker
from tests.web.conftest import DAY
from tests.web.fyers_login import store_sandbox_token
from tests.web.text import text


@pytest.mark.parametrize("path", ["/", "/trading", "/logs", "/tokens", "/strategy",
                                  "/strategy/runs/run-b", "/account"])
def test_every_page_renders(logged_in, client, seeded, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'class="navbar-toggler"' in page  # phone hamburger
    assert "<script>" not in page and "style=" not in page  # the CSP allows neither


def test_dashboard_values_holdings_at_the_dated_close_when_fyers_cannot_be_asked(
        logged_in, client, seeded):
    page = client.get("/").get_data(as_text=True)
    closed_on = portfolio.day_label(india_time.date_of(seeded - DAY))
    assert f"Valued at the close of {closed_on}." in page  # INFY's newest cached close: ₹1,600
    assert "Fyers needs a new login, so prices are not live." in page
    assert "₹16,000.00" in page and "invested ₹15,000.00" in page
    assert "₹1,000.00" in page and "6.67%" in page  # 10 × (1,600 − 1,500)
    assert "Trades today: 1" in page
    assert "NSE:TCS-EQ" in page and "₹600.00" in page and "−₹200.00" in page
    assert "ITC</span>: not filled, cancelled" in page  # a row from before order outcomes
    assert "reject" not in page.lower()
    assert "Logs of the day" in page and "/logs?from=" in page


def test_today_card_says_what_ran_and_that_nothing_runs_by_itself(logged_in, client, seeded):
    page = text(client.get("/").get_data(as_text=True))
    assert "Last run succeeded" in page and "started manually" in page
    card = page.split("Next run")[0]
    assert card.count("Bought 10 INFY for ₹15,000.00") == 1  # the summary says it, once
    assert "Automatic runs are off: nothing runs by itself." in page
    assert "SCHEDULER_ENABLED=true" in page and "run-cron-script.yml" in page
    assert "Login needed: no run can reach Fyers" in page


def test_today_card_lists_the_sales_by_hand_the_last_run_recorded(logged_in, client, seeded,
                                                                   db):
    db.record_trade({"trade_id": "m1", "run_id": "run-b", "order_tag": None,
                     "symbol": "NSE:TCS-EQ", "side": "SELL", "qty": 3, "price": 3100.0,
                     "ts": seeded - 90, "pnl": 300.0, "source": "manual"}, None)
    card = text(client.get("/").get_data(as_text=True)).split("Next run")[0]
    assert "Sold by hand 3 TCS for ₹9,300.00, P&L +₹300.00" in card
    assert card.count("Bought 10 INFY for ₹15,000.00") == 1


def test_today_card_names_the_workflow_when_it_ran_on_schedule(logged_in, client, seeded, db):
    db.create_run({"run_id": "run-gh", "trigger": "scheduled", "status": "failed",
                   "started_at": seeded - 60, "finished_at": seeded - 30,
                   "summary": "Fyers needs a new login: log in to Fyers on the Tokens page.",
                   "error": "code -8", "dry_run": False})
    page = text(client.get("/").get_data(as_text=True))
    assert "Last run failed" in page and "scheduled" in page
    assert "Fyers needs a new login: log in to Fyers on the Tokens page." in page
    assert "started by the GitHub workflow" in page and "Automatic runs are off" not in page


def test_dashboard_empty_state_says_what_to_do(logged_in, client):
    page = client.get("/").get_data(as_text=True)
    assert "No trades, and no order that did not fill or is still open," in page and 'href="/strategy"' in page
    assert "The bot has not run yet." in text(page)
    trading = client.get("/trading").get_data(as_text=True)
    assert "Download all sales" not in trading  # nothing sold yet: no empty file to download
    strategy = text(client.get("/strategy").get_data(as_text=True))
    assert "No runs yet: tap “Run now” to run the strategy." in strategy


@pytest.mark.parametrize("path", ["/", "/trading", "/strategy", "/logs", "/account"])
def test_every_page_asks_for_the_fyers_login_while_one_is_needed(logged_in, client, path):
    page = client.get(path).get_data(as_text=True)
    assert "Fyers login needed." in page and 'href="/tokens/login"' in page


def test_the_tokens_page_shows_the_state_without_the_banner(logged_in, client):
    page = client.get("/tokens").get_data(as_text=True)
    assert "LOGIN NEEDED · no token" in page and "Fyers login needed." not in page


def test_trading_values_positions_at_the_dated_close_without_a_login(logged_in, client, seeded):
    response = client.get("/trading")
    assert response.status_code == 200
    page = text(response.get_data(as_text=True))
    closed_on = portfolio.day_label(india_time.date_of(seeded - DAY))
    assert f"Holdings valued at the close of {closed_on}." in page
    assert f"₹1,600.00 close of {closed_on} · ₹16,000.00" in page
    assert "Invested ₹15,000.00 1 open position" in page
    assert "Open P&L ₹1,000.00 6.67%" in page


def test_trading_figures_and_closed_trades_with_their_buys(logged_in, client, seeded):
    page = client.get("/trading").get_data(as_text=True)
    words = text(page)
    assert "Total P&L (realized) ₹400.00 2 closed trades" in words  # 600 − 200
    assert "Wins / losses 1 / 1 ratio 1.00" in words
    assert "Average win ₹600.00" in words and "Average loss −₹200.00" in words
    closed = page.split("Closed trades", 1)[1]
    assert "SBIN" in closed and "TCS" in closed and "INFY" not in closed  # buys are not sales
    sold_on = portfolio.day_label(india_time.date_of(seeded - DAY))  # "27 Nov", as every page
    bought_on = portfolio.day_label(india_time.date_of(seeded - 2 * DAY))
    assert f"{bought_on} → {sold_on} 1 day" in text(closed)
    assert "10 × ₹800.00 → ₹780.00" in text(closed)
    points = json.loads(re.search(r'data-points="([^"]*)"', page).group(1).replace("&#34;", '"'))
    assert [value for _, value in points] == [0.0, 600.0, 400.0]  # from zero


def test_zero_is_not_red(logged_in, client, db):
    for trade_id, side, pnl in (("b", "BUY", None), ("s", "SELL", 0.0)):
        db.record_trade({"trade_id": trade_id, "run_id": "r", "order_tag": trade_id,
                         "symbol": "NSE:ITC-EQ", "side": side, "qty": 1, "price": 400.0,
                         "ts": 1.0e9 + (side == "SELL"), "pnl": pnl, "source": "bot"}, None)
    page = client.get("/trading").get_data(as_text=True)
    assert "text-danger" not in page.split("<main", 1)[1]
    assert "Average loss" in page and "₹0.00" in page


def test_trading_empty_states(logged_in, client):
    page = client.get("/trading").get_data(as_text=True)
    assert "No open positions" in page and "No closed trades yet" in page
    words = text(page)  # no closed trade has no average, rather than one of ₹0.00
    assert "Average win — no winning trade yet" in words
    assert "Average loss — no losing trade yet" in words and "₹0.00" not in words.split(
        "Wins / losses", 1)[1].split("Open positions", 1)[0]


def test_strategy_history_and_run_logs(logged_in, client, seeded):
    page = client.get("/strategy").get_data(as_text=True)
    assert ">Run now</button>" in page and "Bought 10 INFY for ₹15,000.00." in page
    assert "42 s" in page
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
    assert "LOGIN NEEDED" in page and "Log in to Fyers" in page and "Refresh now" in page


def test_refresh_without_token_says_why(logged_in, client):
    response = logged_in.post("/tokens/refresh", "/tokens")
    assert response.status_code == 302
    page = client.get("/tokens").get_data(as_text=True)
    assert "No valid refresh token is stored: log in to Fyers below." in page
    assert "alert-success" not in page


def test_trading_figures_and_the_dashboard_follow_a_new_trade(logged_in, client, seeded, db):
    assert "₹400.00" in client.get("/trading").get_data(as_text=True)
    assert "10 × <span title=\"NSE:INFY-EQ\">INFY</span> @ ₹1,600.00" not in client.get(
        "/").get_data(as_text=True)
    db.record_trade({"trade_id": "t6", "run_id": "run-c", "order_tag": "t6",
                     "symbol": "NSE:INFY-EQ", "side": "SELL", "qty": 10, "price": 1600.0,
                     "ts": seeded, "pnl": 1000.0, "source": "bot"}, None)
    page = client.get("/trading").get_data(as_text=True)
    assert "₹1,400.00" in page and "2 / 1" in page
    assert "10 × <span title=\"NSE:INFY-EQ\">INFY</span> @ ₹1,600.00" in client.get(
        "/").get_data(as_text=True)


def test_recent_activity_marks_a_sale_made_by_hand(logged_in, client, db):
    """The owner's own sale reads "by hand" on the dashboard as on Trading, never as the bot's."""
    import time

    now = time.time()
    db.record_trade({"trade_id": "b1", "run_id": "r", "order_tag": "b1", "symbol": "NSE:TCS-EQ",
                     "side": "BUY", "qty": 3, "price": 3000.0, "ts": now - 120, "pnl": None,
                     "source": "bot"},
                    {"symbol": "NSE:TCS-EQ", "qty": 3, "avg_price": 3000.0,
                     "last_buy_price": 3000.0, "opened_at": now - 120, "updated_at": now - 120})
    db.record_trade({"trade_id": "m1", "run_id": "r", "order_tag": None, "symbol": "NSE:TCS-EQ",
                     "side": "SELL", "qty": 3, "price": 3100.0, "ts": now - 60, "pnl": 300.0,
                     "source": "manual"}, None)
    rows = re.findall(r"(?s)<span class=\"badge [^\"]*\">(BUY|SELL)</span>(.*?)</li>",
                      client.get("/").get_data(as_text=True))
    assert [(side, "by hand" in rest) for side, rest in rows] == [("SELL", True), ("BUY", False)]


def test_the_strategy_page_says_when_the_known_nse_holidays_end(logged_in, client,
                                                                 holidays_file, monkeypatch):
    monkeypatch.setattr(trading_calendar, "NOTICE_DAYS", 36_500)  # any day is near the end
    shown = text(client.get("/strategy").get_data(as_text=True))
    assert "The NSE holidays the bot knows" in shown and "nse_holidays.txt" in shown
    monkeypatch.setattr(trading_calendar, "NOTICE_DAYS", 31)
    holidays_file.write_text(f"{datetime.now(IST).year + 2}-01-26\n")  # the owner added a year
    trading_calendar.added_holidays.cache_clear()
    assert "The NSE holidays the bot knows" not in text(client.get("/strategy").get_data(
        as_text=True))


def test_the_web_app_refuses_to_start_on_a_bad_holiday_line(config, holidays_file, capsys):
    holidays_file.write_text("2027-01-26\nRepublic Day\n")
    with pytest.raises(SystemExit) as stopped:
        create_app(config)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "error: nse_holidays.txt line 2: 'Republic Day' is not a date (YYYY-MM-DD)\n")


def test_recent_activity_lists_an_order_still_open_at_fyers(sandbox_app, sandbox_config,
                                                            sandbox):
    """A real run whose cancel Fyers never confirms is amber and says an order is still open:
    the dashboard lists that order too, in order_outcomes' words, not "no orders"."""
    app, auth = sandbox_app
    sandbox.admin("tokens", access_ttl_s=3600)  # no refresh during the run (Fyers refuses it)
    store_sandbox_token(app)
    sandbox.admin("faults", pending_next_orders=1, slow_cancel_next=1, slow_cancel_reads=10_000)
    run = executor.execute(sandbox_config.with_overrides(order_fill_timeout_s=1.0),
                           app.extensions["store"], trigger="manual", force=True)
    assert run["status"] == "warning"
    assert "1 order still open at Fyers after the bot tried to cancel it" in run["summary"]
    [order] = app.extensions["store"].list_orders()
    shown = text(auth.client.get("/").get_data(as_text=True))
    assert f"{order['qty']} × {ticker(order['symbol'])} : waiting at Fyers: 0 of " \
           f"{order['qty']} filled so far; Fyers had not confirmed the bot's cancel" in shown
    assert "No trades, and no order" not in shown


def test_a_sale_by_hand_valued_at_the_last_price_reads_as_an_estimate(logged_in, client,
                                                                      seeded, db):
    """A sale by hand today's tradebook did not show (live_strategy records it at the last
    price under an estimate's id): the Today card, Recent activity and Trading say so, and
    mark its P&L, and the day's realized P&L, as estimated."""
    db.record_trade({"trade_id": f"{portfolio.ESTIMATED_SALE_ID}run-b-NSE:TCS-EQ",
                     "run_id": "run-b", "order_tag": None, "symbol": "NSE:TCS-EQ",
                     "side": "SELL", "qty": 3, "price": 3100.0, "ts": seeded - 90,
                     "pnl": 300.0, "source": "manual"}, None)
    estimate = ("by hand before today; the price is not in today's tradebook, valued at "
                "today's last price")
    dashboard = text(client.get("/").get_data(as_text=True))
    card, activity = dashboard.split("Next run")[0], dashboard.split("Recent activity")[1]
    assert f"Sold 3 TCS {estimate} ₹3,100.00, P&L +₹300.00 (estimated)" in card
    assert f"3 × TCS @ ₹3,100.00 sold {estimate} P&L ₹300.00 (estimated)" in activity
    assert "(estimated in part)" in activity.split("Logs of the day")[0]
    trading = text(client.get("/trading").get_data(as_text=True))
    assert f"Sold {estimate}: its date and P&L are estimates." in trading
    assert "₹300.00 (estimated)" in trading
