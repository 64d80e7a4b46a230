"""The pages while paper trading (docs/paper.md): every page says Paper, the paper book is shown
instead of the real one (and the real one again once paper is off), the sales CSV says paper,
and going live is a confirmed act naming the real money at stake."""
from __future__ import annotations

import csv
import io
import re
import time

import pytest
from flask import render_template

import india_time
import paper_mode
import paper_vs_backtest
import prices
from broker import paper as paper_broker
from broker import paper_fills
from tests.web.text import text as visible_text

PAGES = ["/", "/trading", "/strategy", "/logs", "/tokens", "/backtests", "/account",
         "/strategy/live"]
BANNER = "Paper trading — no real money"


def paper_trade(db, trade_id: str, symbol: str, side: str, qty: int, price: float, ts: float,
                pnl: float | None = None) -> None:
    """A trade in the paper book, with its position."""
    position = None if side == "SELL" else {"qty": qty, "avg_price": price,
                                            "last_buy_price": price, "opened_at": ts,
                                            "updated_at": ts}
    db.for_book("paper").record_trade(
        {"trade_id": trade_id, "run_id": "paper-run", "order_tag": trade_id, "symbol": symbol,
         "side": side, "qty": qty, "price": price, "ts": ts, "pnl": pnl, "source": "bot"},
        position)


@pytest.fixture
def paper_on(db, config):
    paper_mode.switch(config, db, True, "test")


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_says_paper_in_its_banner_and_title(logged_in, client, paper_on, path):
    page = text(client.get(path))
    assert BANNER in page
    assert re.search(r"<title>Paper · [^<]+ · Nifty Shop</title>", page)


def test_the_login_page_says_paper_too(client, paper_on):
    page = text(client.get("/login"))
    assert BANNER in page and "<title>Paper · " in page


def test_in_sandbox_mode_paper_orders_fill_at_the_sandbox_s_prices(logged_in, client, paper_on):
    page = visible_text(text(client.get("/strategy")))
    assert "Orders are simulated against the local sandbox's prices." in page
    assert ("Runs simulate their orders against the local sandbox's prices: no order reaches "
            "the sandbox.") in page


def test_in_live_mode_paper_orders_fill_at_fyers_live_prices(live_app):
    app, auth = live_app
    paper_mode.switch(app.extensions["nifty_config"], app.extensions["store"], True, "test")
    live = visible_text(text(auth.client.get("/strategy")))
    assert "Orders are simulated against Fyers' live prices." in live
    assert "Runs simulate their orders against Fyers' live prices: no order reaches Fyers." in live
    assert "sandbox" not in live.split("Paper trading is on", 1)[1].split("Go live", 1)[0]


@pytest.mark.parametrize("path", ["/", "/trading", "/strategy"])
def test_real_pages_never_say_paper(logged_in, client, seeded, path):
    page = text(client.get(path))
    assert BANNER not in page and "<title>Paper" not in page


def test_the_paper_book_replaces_the_real_one_and_back(logged_in, client, db, config, seeded):
    paper_trade(db, "P261126000001", "NSE:WIPRO-EQ", "BUY", 40, 248.05, seeded - 300)
    real = text(client.get("/trading"))
    assert "INFY" in real and "WIPRO" not in real
    paper_mode.switch(config, db, True, "test")
    for page in ("/trading", "/"):
        paper = text(client.get(page))
        assert "WIPRO" in paper and "INFY" not in paper and "Paper vs backtest" in paper
    paper_mode.switch(config, db, False, "test")
    for page in ("/trading", "/"):
        again = text(client.get(page))
        assert "INFY" in again and "WIPRO" not in again and "Paper vs backtest" not in again


def test_the_sales_csv_labels_paper_rows(logged_in, client, db, paper_on, seeded):
    paper_trade(db, "P261125000001", "NSE:TCS-EQ", "BUY", 2, 3000.0, seeded - 3 * 86400)
    paper_trade(db, "P261126000002", "NSE:TCS-EQ", "SELL", 2, 3100.0, seeded - 2 * 86400, 200.0)
    response = client.get("/trading/sales.csv")
    assert "nifty-shop-paper-sales-" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text(response))))
    assert [(row["book"], row["trade_id"], row["pnl"]) for row in rows] == [
        ("paper", "P261126000002", "200.00")]


def sales_rows(client) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text(client.get("/trading/sales.csv")))))


def test_the_sales_csv_names_the_sandbox_book_as_the_pages_do(logged_in, client, seeded):
    """Not "real" in sandbox mode, where the pages say "sandbox run": no real money there."""
    assert {row["book"] for row in sales_rows(client)} == {"sandbox"}


def test_the_sales_csv_names_the_real_money_book_as_the_pages_do(live_app):
    app, auth = live_app
    app.extensions["store"].record_trade({
        "trade_id": "t9", "run_id": "run-b", "order_tag": "t9", "symbol": "NSE:TCS-EQ",
        "side": "SELL", "qty": 3, "price": 3200.0, "ts": time.time(), "pnl": 600.0,
        "source": "bot"}, None)
    assert [row["book"] for row in sales_rows(auth.client)] == ["real-money"]


def test_switching_paper_on_needs_no_confirmation(logged_in, client, db, config):
    assert not paper_mode.is_paper(config, db)
    page = text(client.get("/strategy"))
    assert "Switch to paper trading" in page
    response = logged_in.post("/strategy/paper", "/strategy")
    assert response.status_code == 302 and paper_mode.is_paper(config, db)
    assert BANNER in text(client.get("/strategy"))


def test_going_live_is_confirmed_and_names_the_real_money(logged_in, client, db, config, seeded,
                                                          paper_on):
    prices._keep(db, funds={"at": seeded + 10**6, "available": 52_345.5})  # the real funds
    paper_trade(db, "P261126000001", "NSE:WIPRO-EQ", "BUY", 40, 248.05, seeded - 300)
    strategy = text(client.get("/strategy"))
    assert "Go live on the sandbox" in strategy and 'id="paper-record"' in strategy

    refused = logged_in.post("/strategy/live", "/strategy/live")  # no confirm field
    assert refused.status_code == 302 and paper_mode.is_paper(config, db)

    confirm = text(client.get("/strategy/live"))
    at_stake = re.search(r'id="real-at-stake">([^<]+)<', confirm).group(1)
    # the bot's real holding (10 INFY at the cached close ₹1,600) plus the real funds
    assert at_stake == "₹68,345.50", at_stake
    assert "WIPRO" not in confirm  # the paper book is not real money

    done = logged_in.post("/strategy/live", "/strategy/live", confirm="real-money")
    assert done.status_code == 302 and not paper_mode.is_paper(config, db)
    page = text(client.get("/strategy"))
    assert BANNER not in page and "Switch to paper trading" in page
    assert db.for_book("paper").get_positions()  # the paper book stays where it was


def words(response) -> str:
    """What a reader sees of a page."""
    return visible_text(text(response))


def test_sandbox_mode_never_speaks_of_real_money(logged_in, client, db, config):
    """FYERS_MODE=sandbox (the tests' config, `make run`'s default): the real book trades the
    local sandbox, so the Strategy card, the go-live page and its flash say so."""
    real = words(client.get("/strategy"))
    assert "Sandbox trading: orders go to the local Fyers sandbox, no real money" in real
    paper_mode.switch(config, db, True, "test")
    assert "Go live on the sandbox…" in words(client.get("/strategy"))
    confirm = words(client.get("/strategy/live"))
    assert "From the next run, orders go to the local Fyers sandbox and trade its simulated " \
           "account, no real money:" in confirm and "Yes, trade on the sandbox" in confirm
    done = logged_in.post("/strategy/live", "/strategy/live", confirm="real-money")
    went = words(client.get(done.headers["Location"]))
    assert "the next run places its orders at the local Fyers sandbox, no real money" in went
    for page in (real, confirm, went):
        assert "real money" not in page.replace("no real money", "")
        assert "real account" not in page and "Real trading" not in page


def test_live_mode_names_the_real_money(live_app):
    app, auth = live_app
    store, config = app.extensions["store"], app.extensions["nifty_config"]
    assert "Real trading: orders go to Fyers" in words(auth.client.get("/strategy"))
    paper_mode.switch(config, store, True, "test")
    assert "Go live with real money…" in words(auth.client.get("/strategy"))
    confirm = words(auth.client.get("/strategy/live"))
    assert "orders go to Fyers and trade your real account:" in confirm
    assert "Yes, trade with real money" in confirm
    done = auth.post("/strategy/live", "/strategy/live", confirm="real-money")
    assert "the next run places real orders at Fyers with real money" in words(
        auth.client.get(done.headers["Location"]))


def test_a_going_live_form_without_its_csrf_token_changes_nothing(logged_in, client, db, config,
                                                                  paper_on):
    response = client.post("/strategy/live", data={"confirm": "real-money"})
    assert response.status_code == 400 and paper_mode.is_paper(config, db)


def test_strategy_from_env_keeps_the_mode_of_the_environment(make_app, config, make_auth):
    app = make_app(config.with_overrides(strategy_from_env=True, paper_trading=True))
    auth = make_auth(app.test_client())
    auth.login()
    assert BANNER in text(auth.client.get("/strategy"))
    auth.post("/strategy/live", "/strategy/live", confirm="real-money")
    assert BANNER in text(auth.client.get("/strategy"))


def test_paper_trading_is_a_first_run_default_then_the_store_decides(make_app, config):
    first = make_app(config.with_overrides(paper_trading=True))
    store = first.extensions["store"]
    assert paper_mode.is_paper(config, store)  # saved on the first start, whatever config says
    later = config.with_overrides(paper_trading=False)
    paper_mode.save_first_run_default(later, store)  # what a later start does
    assert paper_mode.is_paper(later, store)


def test_a_real_run_still_running_after_the_switch_to_paper_bars_a_paper_run(
        logged_in, client, db, paper_on):
    """The run lock is shared by the books: a real run started before the switch keeps the
    paper Run button disabled and says why; a Run-now post starts nothing and leads to that
    run's page, marked real money."""
    db.acquire_lock("executor", "run-real", 60)
    db.create_run({"run_id": "run-real", "trigger": "manual", "status": "running",
                   "started_at": 1.0e9, "finished_at": None, "summary": None, "error": None,
                   "dry_run": False, "book": "real"})
    page = " ".join(text(client.get("/strategy")).split())
    assert 'type="button" disabled>Running…' in page
    assert "A sandbox run started before the switch is still running" in page  # FYERS_MODE
    page = text(client.get("/strategy/run"))
    answer = logged_in.post("/strategy/run", "/strategy/run", confirm="yes", book="paper",
                            last_run=re.search(r'name="last_run" value="([^"]*)"', page).group(1))
    assert answer.headers["Location"].endswith("/strategy/runs/run-real")
    page = " ".join(text(client.get("/strategy/runs/run-real")).split())
    assert "A run was already running, so this tap started no second run" in page
    assert "A sandbox run</strong>, from before" in page
    assert BANNER not in page and "<title>Paper" not in page  # it traded the real book
    assert db.for_book("paper").list_runs() == []


def test_the_shared_logs_link_a_paper_run_to_its_page_once_paper_is_off(
        logged_in, client, db, config):
    """Logs are shared by the books: a paper run's line links to a page marked paper, not to
    a 404, after the owner went live."""
    db.for_book("paper").create_run({
        "run_id": "run-paper", "trigger": "manual", "status": "succeeded", "started_at": 1.0e9,
        "finished_at": 1.0e9 + 5, "summary": "Paper: bought 1", "error": None, "dry_run": False,
        "book": "paper"})
    response = client.get("/strategy/runs/run-paper")
    page = " ".join(text(response).split())
    assert response.status_code == 200 and "Paper: bought 1" in page
    assert "A paper run:</strong> its orders were simulated" in page
    assert BANNER in page and "<title>Paper · Run " in page
    assert client.get("/strategy/runs/no-such-run").status_code == 404


def test_the_paper_record_names_its_first_day_as_the_pages_write_days(logged_in, client, db,
                                                                      paper_on):
    """'since 26 Nov 2025', kept on one line, never 'since 2025-11-26' (which a phone breaks
    at its hyphens)."""
    day = india_time.day_bounds("2025-11-26")[0] + 10 * 3600
    db.for_book("paper").create_run({
        "run_id": "run-paper", "trigger": "manual", "status": "succeeded", "started_at": day,
        "finished_at": day + 5, "summary": "Paper: bought 1", "error": None, "dry_run": False,
        "book": "paper"})
    for path in ("/strategy", "/strategy/live"):
        page = text(client.get(path))
        assert 'since <span class="text-nowrap">26 Nov 2025</span>' in page, path
        assert "2025-11-26" not in visible_text(page)


def test_switching_books_does_not_turn_the_workflow_off(logged_in, client, db, paper_on):
    """The workflow ran the real book on schedule this morning; since paper went on, no
    scheduled run is in the paper book yet: the workflow is still what runs next."""
    db.create_run({"run_id": "gh-real", "trigger": "scheduled", "status": "succeeded",
                   "started_at": time.time() - 3600, "finished_at": time.time() - 3500,
                   "summary": "Nothing bought or sold.", "error": None, "dry_run": False,
                   "book": "real"})
    page = visible_text(text(client.get("/")))
    assert "started by the GitHub workflow" in page and "Automatic runs are off" not in page


def paper_run_on(db, run_id: str, day: str, status: str, dry_run: bool = False,
                 steps: list | None = None) -> None:
    """A paper run at 15:10 IST on `day`."""
    at = india_time.day_bounds(day)[0] + 15 * 3600 + 600
    db.for_book("paper").create_run({
        "run_id": run_id, "trigger": "scheduled", "status": status, "started_at": at,
        "finished_at": at + 5, "summary": "Paper: …", "error": None, "dry_run": dry_run,
        "book": "paper", "steps": steps})


def test_the_paper_record_counts_only_days_that_traded_on_paper(logged_in, client, db, paper_on):
    """A day whose only run failed before placing anything (no login, say), found NSE closed,
    was a dry run, or was skipped, is no paper trading day; a run that failed after placing an
    order is, and so is one whose only warning came from an earlier run's order: the days
    paper vs backtest compares."""
    paper_run_on(db, "ok", "2025-11-24", "succeeded")
    paper_run_on(db, "filled-then-failed", "2025-11-25", "failed")
    db.for_book("paper").upsert_order({
        "tag": "NSfail1", "run_id": "filled-then-failed", "symbol": "NSE:SBIN-EQ", "side": "BUY",
        "qty": 3, "reason": "entry", "broker_order_id": "P251125000001", "status": "traded",
        "filled_qty": 3, "traded_price": 800.0, "message": "", "created_at": 1.0,
        "updated_at": 1.0})
    paper_run_on(db, "no-login", "2025-11-26", "failed")
    paper_run_on(db, "dry", "2025-11-27", "succeeded", dry_run=True)
    paper_run_on(db, "holiday", "2025-11-28", "skipped")
    paper_run_on(db, "settled-earlier", "2025-12-01", "warning")  # an order of the day before
    paper_run_on(db, "closed", "2025-12-02", "warning", steps=[
        {"name": "orders", "state": "skipped", "detail": "NSE is closed until 09:15 IST: "
                                                         "nothing was placed"}])
    strategy = words(client.get("/strategy"))
    assert "Paper record: 3 days since 24 Nov 2025 , 3 runs," in strategy
    assert "PAPER_CAPITAL is now" not in strategy  # the setting is the account's capital
    assert "On paper the bot ran 3 days since 24 Nov 2025 ," in words(client.get("/strategy/live"))


def test_the_paper_account_keeps_its_capital_when_paper_capital_changes(make_app, config,
                                                                        make_auth):
    """PAPER_CAPITAL only seeds a new paper account: restarted with another, the card still
    names the capital the account started with (beside its cash), shows its charges, and says
    the setting changed."""
    app = make_app(config.with_overrides(paper_capital=50_000.0, paper_trading=True))
    store = app.extensions["store"]
    store.set_setting(paper_broker.ACCOUNT_KEY, {
        **paper_fills.new_account(100_000.0, "2025-11-24"), "cash": 81_119.93, "charges": 42.17})
    paper_run_on(store, "ok", "2025-11-24", "succeeded")
    auth = make_auth(app.test_client())
    auth.login()
    page = words(auth.client.get("/strategy"))
    assert ("realized P&L ₹0.00 before charges, on ₹1,00,000.00 of paper capital; charges paid "
            "on paper ₹42.17 .") in page
    assert ("PAPER_CAPITAL is now ₹50,000.00; the paper account started with ₹1,00,000.00 and "
            "keeps it.") in page


def test_paper_vs_backtest_sets_p_and_l_after_charges_beside_each_other(app):
    """Like with like: both sides' realized P&L after charges, and both sides' charges."""
    comparison = paper_vs_backtest.Comparison(
        first_day="2026-11-23", last_day="2026-11-25", days=2, paper_trades=2, backtest_trades=2,
        paper_pnl=34.68, backtest_pnl=48.0, paper_costs=15.32, backtest_costs=2.0, matched=2,
        differences=[])
    with app.test_request_context("/trading"):
        card = visible_text(render_template("_paper_vs_backtest.html", comparison=comparison))
    assert "Realized P&L after charges ₹34.68 ₹48.00 Charges ₹15.32 ₹2.00" in card
    assert "before charges" not in card
