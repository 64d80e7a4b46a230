""""Run now" is deliberate: a confirmation names the most the run can spend and what
already ran today; one tap on it starts one run, however often it is sent."""
from __future__ import annotations

import html
import re
import time
from datetime import date, datetime

import pytest
from flask import render_template

import executor
import india_time
import paper_mode
import prices
import strategy_settings
from broker import paper as paper_broker
from broker import paper_fills
from config import IST
from market_hours import session_state
from tests.web.conftest import AuthActions
from tests.web.fyers_login import store_sandbox_token

WAIT_FOR_CHILD_S = 120
SATURDAY_NIGHT, TUESDAY_MORNING = "2026-11-28T22:00", "2026-12-01T11:00"  # sandbox clock, IST
FIELD = r'name="{}" value="([^"]*)"'


@pytest.fixture
def child_env(monkeypatch, config):
    """The detached executor reads its Config from the environment: point it at this test's
    store and at a sandbox URL where nothing listens, so the run ends quickly on its own."""
    for key in ("database_url", "secret_key", "token_encryption_key", "fyers_mode"):
        monkeypatch.setenv(key.upper(), getattr(config, key))
    monkeypatch.setenv("FYERS_SANDBOX_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SCHEDULER_ENABLED", "false")


def wait_until_finished(db, run_id: str) -> dict:
    """Let the detached child finish before the temporary store goes away."""
    deadline = time.monotonic() + WAIT_FOR_CHILD_S
    while (run := db.get_run(run_id))["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    return run


def confirmation(client) -> tuple[str, dict[str, str]]:
    """The confirmation page's text and the fields its form posts."""
    page = client.get("/strategy/run").get_data(as_text=True)
    fields = {name: html.unescape(re.search(FIELD.format(name), page).group(1))
              for name in ("csrf_token", "confirm", "last_run", "book")}
    return page, fields


def text_of(page: str) -> str:
    """The page's words without tags, whitespace squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def earlier_today() -> float:
    """A moment of today (IST) before now."""
    now = time.time()
    return max(india_time.midnight(now) + 1, now - 3600)


def test_run_now_asks_first_then_one_tap_starts_one_run(child_env, logged_in, client, db):
    strategy = client.get("/strategy").get_data(as_text=True)
    assert re.search(r'<form class="mb-3" method="get" action="/strategy/run"', strategy)
    page, form = confirmation(client)
    assert db.list_runs() == [] and "Yes, run now" in page and form["confirm"] == "yes"
    first = client.post("/strategy/run", data=form)
    second = client.post("/strategy/run", data=form)  # a double tap sends the same form
    [run] = db.list_runs()
    assert run["trigger"] == "manual"
    assert first.headers["Location"] == second.headers["Location"] == \
        f"/strategy/runs/{run['run_id']}"
    wait_until_finished(db, run["run_id"])
    assert len(db.list_runs()) == 1
    third = client.post("/strategy/run", data=form)  # the same form after the run ended
    assert third.headers["Location"] == f"/strategy/runs/{run['run_id']}"
    assert len(db.list_runs()) == 1
    assert "no run was started" in client.get(third.headers["Location"]).get_data(as_text=True)
    loggers = {row["logger"] for row in db.search_logs(run_id=run["run_id"], limit=500).rows}
    assert "executor" in loggers and "__main__" not in loggers


def test_a_post_without_the_confirmation_starts_nothing(logged_in, client, db):
    response = logged_in.post("/strategy/run", "/strategy")
    assert response.headers["Location"] == "/strategy/run"
    assert db.list_runs() == []
    assert "Confirm the run first" in client.get("/strategy/run").get_data(as_text=True)


def test_the_confirmation_names_the_most_a_run_can_spend(make_app, sandbox_config, sandbox):
    app, client = app_at(make_app, sandbox_config, sandbox, TUESDAY_MORNING)
    db = app.extensions["store"]
    db.set_setting(strategy_settings.STORE_KEY, {"max_trade_value": 12000.0,
                                                 "max_new_entries_per_run": 2,
                                                 "max_new_entries_per_day": 3})
    page = text_of(confirmation(client)[0])
    assert "It can spend at most ₹24,000.00: 2 buys of up to ₹12,000.00 each" in page
    assert "No run yet today." in page


def test_the_confirmation_says_what_ran_today_and_what_is_left(make_app, sandbox_config,
                                                               sandbox):
    app, client = app_at(make_app, sandbox_config, sandbox, TUESDAY_MORNING)
    db = app.extensions["store"]
    started = earlier_today()
    db.create_run({"run_id": "run-today", "trigger": "scheduled", "status": "succeeded",
                   "started_at": started, "finished_at": started + 30, "dry_run": False,
                   "summary": "Bought 5 BAJAJFINSV for ₹8,379.00.", "error": None})
    order = {"tag": "NS1", "run_id": "run-today", "symbol": "NSE:BAJAJFINSV-EQ", "side": "BUY",
             "qty": 5, "reason": "entry", "broker_order_id": "F1", "status": "traded",
             "filled_qty": 5, "traded_price": 1675.8, "message": "", "created_at": started,
             "updated_at": started}
    db.upsert_order(order)
    db.record_trade({"trade_id": "F1", "run_id": "run-today", "order_tag": "NS1",
                     "symbol": "NSE:BAJAJFINSV-EQ", "side": "BUY", "qty": 5, "price": 1675.8,
                     "ts": started, "pnl": None, "source": "bot"},
                    {"symbol": "NSE:BAJAJFINSV-EQ", "qty": 5, "avg_price": 1675.8,
                     "last_buy_price": 1675.8, "opened_at": started, "updated_at": started})
    page = text_of(confirmation(client)[0])
    assert "It can spend at most ₹10,000.00: one buy of up to ₹10,000.00 (MAX_TRADE_VALUE):" \
           " today's 1 new entry is bought, one average-down remains." in page
    assert "(scheduled): succeeded Bought 5 BAJAJFINSV for ₹8,379.00." in page
    db.upsert_order({**order, "tag": "NS2", "reason": "average", "broker_order_id": "F2"})
    page = text_of(confirmation(client)[0])
    assert "It can spend ₹0.00: today's 1 new entry is bought and no holding can be " \
           "averaged down." in page


def test_a_confirmation_shown_before_another_run_started_starts_nothing(logged_in, client, db):
    _, form = confirmation(client)
    db.create_run({"run_id": "run-cron", "trigger": "scheduled", "status": "succeeded",
                   "started_at": time.time(), "finished_at": time.time(), "dry_run": False,
                   "summary": "No order: nothing met the entry, exit or averaging rules.",
                   "error": None})
    response = client.post("/strategy/run", data=form)
    assert response.headers["Location"] == "/strategy/runs/run-cron"
    assert [run["run_id"] for run in db.list_runs()] == ["run-cron"]


@pytest.mark.parametrize(("shown_on_paper", "switched_to"), [(True, "off"), (False, "on")])
def test_a_confirmation_shown_before_paper_trading_was_switched_starts_nothing(
        logged_in, client, db, config, shown_on_paper, switched_to):
    """Confirmed as a paper run, posted after going live (or the other way round), even the
    first run of that book: nothing starts, and the owner is asked again."""
    paper_mode.switch(config, db, shown_on_paper, "test")
    _, form = confirmation(client)
    assert form["book"] == ("paper" if shown_on_paper else "real")
    paper_mode.switch(config, db, not shown_on_paper, "test")
    response = client.post("/strategy/run", data=form)
    assert response.headers["Location"] == "/strategy/run"
    assert (f"Paper trading was turned {switched_to} after that confirmation was shown: no run "
            f"was started. Confirm again.") in text_of(client.get("/strategy/run").get_data(
                as_text=True))
    assert db.list_runs() == [] and db.for_book("paper").list_runs() == []


def test_htmx_gets_the_confirmation_as_a_fragment(logged_in, client):
    fragment = client.get("/strategy/run", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="run-confirm"' in fragment and "<nav" not in fragment
    assert 'class="js-once' in fragment  # a double tap sends one request




def app_at(make_app, sandbox_config, sandbox, clock: str, *, paper: bool = False,
           **overrides):
    """An app with the sandbox's clock at `clock`, the owner logged in to Fyers and its quotes
    read, whatever this machine's clock says; (the app, a client logged in to it)."""
    app = make_app(sandbox_config.with_overrides(**overrides))
    config, store = app.extensions["nifty_config"], app.extensions["store"]
    if paper:
        paper_mode.switch(config, store, True, "test")
    store_sandbox_token(app)
    sandbox.admin("clock", now=clock)
    # the page waits for Fyers' quotes at most prices.PAGE_WAIT_S: read them unhurried first,
    # as the dashboard or a run would have, so a busy machine cannot turn this into a test of
    # the fallback
    assert prices.fyers_clock(config, store.for_book("paper" if paper else "real"),
                              wait_s=30)[1] == ""
    client = app.test_client()
    AuthActions(client).login()
    return app, client


def confirmation_at(make_app, sandbox_config, sandbox, clock: str, *, paper: bool = False,
                    **overrides) -> str:
    """The confirmation's words with the sandbox's clock at `clock` (app_at)."""
    _, client = app_at(make_app, sandbox_config, sandbox, clock, paper=paper, **overrides)
    return text_of(confirmation(client)[0])


@pytest.mark.parametrize(("after_market", "clock", "said"), [
    (False, SATURDAY_NIGHT, "NSE is closed until Mon 09:15 IST. The run shows what it would do "
                            "and places nothing."),
    (True, SATURDAY_NIGHT, "NSE is closed until Mon 09:15 IST. After-market orders are on "
                           "(AFTER_MARKET_ORDERS): the run places its orders as AMOs"),
    (True, TUESDAY_MORNING, "After-market orders are on (AFTER_MARKET_ORDERS): a run outside NSE "
                            "hours places AMOs"),
])
def test_the_confirmation_says_by_fyers_clock_when_nse_is_closed_and_whether_amos_are_on(
        make_app, sandbox_config, sandbox, after_market, clock, said):
    page = confirmation_at(make_app, sandbox_config, sandbox, clock,
                           after_market_orders=after_market)
    assert said in page
    assert "this machine's clock" not in page
    # a run that places nothing is not said to spend anything
    assert ("It can spend" in page) == (after_market or clock == TUESDAY_MORNING)


def test_without_fyers_quotes_the_confirmation_says_it_reads_this_machine_s_clock(
        make_app, sandbox_config):
    app = make_app(sandbox_config)  # never logged in to Fyers: no quote, no Fyers time
    client = app.test_client()
    AuthActions(client).login()
    page = text_of(confirmation(client)[0])
    assert re.search(r"Market hours by this machine's clock, \w{3} \d\d:\d\d IST: Fyers needs a "
                     r"new login, so prices are not live\. The run reads Fyers' clock", page)


@pytest.mark.parametrize("after_market", [False, True])
def test_closed_by_this_machine_s_clock_is_no_promise_that_nothing_is_placed(
        make_app, sandbox_config, after_market):
    """Without Fyers' time the page guesses from this machine's clock; the run reads Fyers'
    and may find NSE open, so the page names the guess and still says what it can spend."""
    config = sandbox_config.with_overrides(after_market_orders=after_market)
    app = make_app(config)
    guessed = session_state(datetime(2026, 11, 28, 22, 0, tzinfo=IST).timestamp())  # Saturday
    assert not executor.run_now_places_nothing(config, guessed, paper=False,
                                               by_fyers_clock=False)
    assert executor.run_now_places_nothing(config, guessed, paper=False) is not after_market
    with app.test_request_context("/strategy/run"):
        stakes = executor.run_now_stakes(config, app.extensions["store"])
        page = text_of(render_template(
            "_run_confirm.html", stakes=stakes, sandbox=True, market=guessed,
            clock_trouble="Fyers needs a new login, so prices are not live.", skipped_day=None,
            places_nothing=False, after_market=after_market))
    assert ("By this machine's clock, NSE is closed until Mon 09:15 IST: the run places orders "
            "only if Fyers' own clock says NSE is open") in page
    assert page.count("reads Fyers' clock") == 1  # said once, in the clock line
    assert "places nothing" not in page and "It can spend" in page


@pytest.mark.parametrize("after_market", [False, True])
def test_a_live_confirmation_on_a_weekend_says_the_run_is_skipped(
        make_app, config, monkeypatch, after_market):
    # A live run on a day NSE does not trade is skipped (executor.py) by this machine's date,
    # before it asks Fyers anything: that date is what the page reads here. Only the
    # sandbox's demo runs are forced, so only they show what they would do.
    live = config.with_overrides(fyers_mode="live", fyers_client_id="ABC123-100",
                                 fyers_secret_key="secret", after_market_orders=after_market)
    app = make_app(live)
    monkeypatch.setattr("executor.ist_today", lambda: date(2026, 11, 28))
    client = app.test_client()
    AuthActions(client).login()
    page = text_of(confirmation(client)[0])
    assert "Sat 28 Nov is not an NSE trading day: the run is skipped and places nothing." in page
    assert "shows what it would do" not in page and "places its orders as AMOs" not in page
    assert "It can spend" not in page


def test_no_amo_line_while_nse_is_open_and_amos_are_off(make_app, sandbox_config, sandbox):
    page = confirmation_at(make_app, sandbox_config, sandbox, TUESDAY_MORNING)
    assert "NSE is closed" not in page and "After-market" not in page


@pytest.mark.parametrize(("clock", "said", "never"), [
    (SATURDAY_NIGHT, "but they are not simulated on paper: the paper account refuses the run's "
                     "orders", "the run places its orders as AMOs"),
    (TUESDAY_MORNING, "Paper trading: the run's orders are simulated against the local "
                      "sandbox's prices, no real money moves.", "places AMOs"),
])
def test_a_paper_confirmation_promises_no_amo_and_no_sandbox_order(
        make_app, sandbox_config, sandbox, clock, said, never):
    page = confirmation_at(make_app, sandbox_config, sandbox, clock, paper=True,
                           after_market_orders=True)
    assert said in page and never not in page
    assert "orders go to the local sandbox" not in page and "Sandbox mode" not in page


@pytest.mark.parametrize(("capital", "entries", "said"), [
    (5_000.0, 1, "The paper account has ₹5,000.00 of cash: less than one buy of up to "
                 "₹10,000.00, so the paper simulator refuses the buys it cannot pay."),
    (15_000.0, 2, "The paper account has ₹15,000.00 of cash: not enough for every buy, so the "
                  "paper simulator refuses those it cannot pay."),
    (100_000.0, 2, "The paper account has ₹1,00,000.00 of cash."),
])
def test_a_paper_confirmation_names_the_paper_cash(make_app, sandbox_config, sandbox, capital,
                                                    entries, said):
    """The most a run can spend is MAX_TRADE_VALUE a buy, but on paper the simulator refuses a
    buy its cash cannot pay: PAPER_CAPITAL below MAX_TRADE_VALUE, or a spent account."""
    app, client = app_at(make_app, sandbox_config, sandbox, TUESDAY_MORNING, paper=True,
                         paper_capital=capital)
    app.extensions["store"].set_setting(strategy_settings.STORE_KEY, {
        "max_new_entries_per_run": entries, "max_new_entries_per_day": entries})
    page = text_of(confirmation(client)[0])
    assert f"It can spend at most ₹{entries * 10},000.00" in page
    assert said in page


def test_a_paper_confirmation_names_the_stored_account_s_cash(make_app, sandbox_config, sandbox):
    app, client = app_at(make_app, sandbox_config, sandbox, TUESDAY_MORNING, paper=True)
    app.extensions["store"].set_setting(paper_broker.ACCOUNT_KEY, {
        **paper_fills.new_account(100_000.0, "2026-11-30"), "cash": 7_119.93})
    page = text_of(confirmation(client)[0])
    assert "The paper account has ₹7,119.93 of cash: less than one buy of up to ₹10,000.00" in page


def test_a_paper_confirmation_with_no_buy_left_today_says_nothing_of_the_cash(
        make_app, sandbox_config, sandbox):
    """Today's entry and average-down are bought: the run can only sell, so cash short of a
    buy refuses nothing and is not named."""
    app, client = app_at(make_app, sandbox_config, sandbox, TUESDAY_MORNING, paper=True,
                         paper_capital=5_000.0)
    paper, started = app.extensions["store"].for_book("paper"), earlier_today()
    for tag, reason in (("NS1", "entry"), ("NS2", "average")):
        paper.upsert_order({"tag": tag, "run_id": "run-today", "symbol": "NSE:BAJAJFINSV-EQ",
                            "side": "BUY", "qty": 1, "reason": reason, "broker_order_id": tag,
                            "status": "traded", "filled_qty": 1, "traded_price": 1675.8,
                            "message": "", "created_at": started, "updated_at": started})
    page = text_of(confirmation(client)[0])
    assert "It can spend ₹0.00" in page and "paper account" not in page


def test_a_real_confirmation_names_no_paper_cash(make_app, sandbox_config, sandbox):
    page = confirmation_at(make_app, sandbox_config, sandbox, TUESDAY_MORNING)
    assert "It can spend at most" in page and "paper account" not in page
