"""The run page and the Strategy page follow a run by themselves (htmx polling) until it ends,
then show its outcome in words and colour; technical detail stays behind a toggle."""
from __future__ import annotations

import re
import time

import pytest

from messages import INTERRUPTED, RATE_LIMITED, Failure
from run_steps import RunSteps

POLLS = 'hx-trigger="every 1s"'
TRACEBACK = ("Traceback (most recent call last):\n  File \"executor.py\", line 1, in _work\n"
             "broker.RateLimited: HTTP 429")


@pytest.fixture
def running(db):
    """A run that holds the run lock, logged in and reading prices."""
    db.acquire_lock("executor", "run-live", 60)
    db.create_run({"run_id": "run-live", "trigger": "manual", "status": "running",
                   "started_at": time.time() - 5, "finished_at": None, "summary": "",
                   "error": None, "dry_run": False})
    steps = RunSteps(db, "run-live")
    steps.done("login", "Fyers accepted the login")
    steps.begin("prices", "reading prices and the bot's holdings")
    return steps


def log(db, message: str, level: str = "INFO", run_id: str = "run-live") -> None:
    db.insert_logs([{"ts": time.time(), "level": level, "logger": "live_strategy",
                     "message": message, "run_id": run_id, "extra": {}}])


def end(db, steps: RunSteps, status: str, summary: str, error: str | None = None,
        failure: Failure | None = None) -> None:
    """End the run as the executor does: final steps with the record, lock released."""
    db.update_run("run-live", status=status, summary=summary, error=error,
                  finished_at=time.time(), steps=steps.end(failure))
    db.release_lock("executor", "run-live")


def step_states(page: str) -> list[tuple[str, str]]:
    return re.findall(r'class="run-step step-([a-z-]+)">\s*<span class="step-label">([^<]+)<',
                      page)


def step_details(page: str) -> dict[str, str]:
    """Each step's label → its detail as the checklist shows it."""
    return dict(re.findall(r'<span class="step-label">([^<]+)<.*?</span>\s*'
                           r'<span class="step-detail">([^<]*)</span>', page, flags=re.S))


def test_the_run_page_follows_a_run_to_its_summary(logged_in, client, db, running):
    page = client.get("/strategy/runs/run-live").get_data(as_text=True)
    assert POLLS in page and 'hx-get="/strategy/runs/run-live/live"' in page
    assert step_states(page) == [("done", "Fyers login"), ("running", "Prices and holdings"),
                                 ("waiting", "Decisions"), ("waiting", "Orders"),
                                 ("waiting", "Fills")]
    assert "No log lines yet." in page
    log(db, "strategy settings: MA_PERIOD=20")
    running.done("prices", "50 prices read")
    for name, detail in (("decisions", "buy 5 BAJAJFINSV for ₹8,379.00"),
                         ("orders", "1 sent to Fyers"),
                         ("fills", "bought 5 BAJAJFINSV for ₹8,379.00")):
        running.done(name, detail)
    log(db, "filled: BUY 5 NSE:BAJAJFINSV-EQ at ₹1,675.80")
    end(db, running, "succeeded", "Bought 5 BAJAJFINSV for ₹8,379.00.")
    fragment = client.get("/strategy/runs/run-live/live").get_data(as_text=True)
    assert POLLS not in fragment and "<nav" not in fragment  # the last poll stops polling
    assert re.search(r'class="alert alert-success run-outcome[^"]*">\s*'
                     r'Bought 5 BAJAJFINSV for ₹8,379.00.</p>', fragment)
    assert [state for state, _ in step_states(fragment)] == ["done"] * 5
    assert "filled: BUY 5 NSE:BAJAJFINSV-EQ at ₹1,675.80" in fragment
    assert "No log lines yet" not in fragment and "wrote no log lines" not in fragment


@pytest.mark.parametrize("status, summary, words, colour", [
    ("succeeded", "Bought 5 BAJAJFINSV for ₹8,379.00.", "succeeded", "success"),
    ("warning", "Nothing bought or sold; 1 order refused.", "succeeded with warnings", "warning"),
    ("failed", RATE_LIMITED.sentence, "failed", "danger"),
    ("skipped", "skipped: already running", "skipped", "secondary"),
])
def test_an_ended_run_says_its_status_in_words_and_colour(logged_in, client, db, running,
                                                          status, summary, words, colour):
    failed = status == "failed"
    end(db, running, status, summary, error="RateLimited: HTTP 429" if failed else None,
        failure=RATE_LIMITED if failed else None)
    page = client.get("/strategy/runs/run-live").get_data(as_text=True)
    assert f'<span class="badge fs-6 status-{status}" role="status">{words}</span>' in page
    assert f'class="alert alert-{colour} run-outcome' in page and summary in page


def test_a_failure_says_what_to_do_and_keeps_the_detail_behind_a_toggle(logged_in, client, db,
                                                                       running):
    log(db, f"run failed: HTTP 429\n{TRACEBACK}", level="ERROR")
    end(db, running, "failed", RATE_LIMITED.sentence, error="RateLimited: HTTP 429",
        failure=RATE_LIMITED)
    page = client.get("/strategy/runs/run-live").get_data(as_text=True)
    assert RATE_LIMITED.sentence in page and "press Run now" in page
    main_view = re.sub(r"<details.*?</details>", "", page, flags=re.S)
    assert "Traceback" not in main_view and "RateLimited: HTTP 429" not in main_view
    assert '<div class="log-message">run failed: HTTP 429</div>' in page
    assert re.search(r"<details[^>]*>\s*<summary[^>]*>Details</summary>\s*<pre[^>]*>"
                     r"Traceback \(most recent call last\)", page)
    assert step_states(page)[1] == ("failed", "Prices and holdings")
    assert step_states(page)[2] == ("not-reached", "Decisions")
    # the failed step says what went wrong, as the summary does, not what it was doing
    assert step_details(page)["Prices and holdings"] == RATE_LIMITED.what
    assert "reading prices" not in page


def test_the_strategy_page_follows_the_run_and_then_offers_run_now_again(logged_in, client,
                                                                        db, running):
    page = client.get("/strategy").get_data(as_text=True)
    assert POLLS in page and 'hx-get="/strategy/status?run=run-live"' in page
    assert "Running…" in page and ">Run now</button>" not in page
    assert step_states(page)[1] == ("running", "Prices and holdings")
    log(db, "decided BUY 5 NSE:BAJAJFINSV-EQ at ₹1,675.80 (entry): 2.10% below 20-day MA")
    end(db, running, "succeeded", "Bought 5 BAJAJFINSV for ₹8,379.00.")
    area = client.get("/strategy/status?run=run-live").get_data(as_text=True)
    assert area.lstrip().startswith('<div id="run-area"') and POLLS not in area
    assert "Bought 5 BAJAJFINSV for ₹8,379.00." in area and ">Run now</button>" in area
    assert "decided BUY 5 NSE:BAJAJFINSV-EQ at ₹1,675.80" in area


def test_a_run_killed_while_running_is_shown_failed_on_its_step(logged_in, client, db,
                                                               running):
    db.release_lock("executor", "run-live")  # the process died: its lock is gone
    page = client.get("/strategy/runs/run-live").get_data(as_text=True)
    assert POLLS not in page and "status-failed" in page
    assert step_states(page)[1] == ("failed", "Prices and holdings")
    assert step_details(page)["Prices and holdings"] == INTERRUPTED.what
    assert INTERRUPTED.sentence in page


def test_the_run_id_does_not_head_the_page(logged_in, client, db, running):
    page = client.get("/strategy/runs/run-live").get_data(as_text=True)
    heading = re.search(r"<h1[^>]*>([^<]*)</h1>", page).group(1)
    assert heading.startswith("Run of ") and "run-live" not in heading
    assert '<span class="font-monospace text-break">run-live</span>' in page


FOLLOWING = "Run started: this page follows it."
NO_JS_RELOAD = '<noscript><meta http-equiv="refresh" content="2"></noscript>'


def test_the_run_page_says_it_follows_the_run_only_while_it_runs(logged_in, client, db,
                                                                 running):
    page = client.get("/strategy/runs/run-live").get_data(as_text=True)
    assert FOLLOWING in page and NO_JS_RELOAD in page  # without JavaScript it reloads itself
    assert FOLLOWING not in client.get("/strategy").get_data(as_text=True)  # Running… says it
    end(db, running, "succeeded", "Bought 5 BAJAJFINSV for ₹8,379.00.")
    fragment = client.get("/strategy/runs/run-live/live").get_data(as_text=True)
    page = client.get("/strategy/runs/run-live").get_data(as_text=True)
    for shown in (fragment, page):  # htmx's last swap, and the page reloaded without it
        assert FOLLOWING not in shown and "Bought 5 BAJAJFINSV for ₹8,379.00." in shown
    assert NO_JS_RELOAD not in page


def an_order(db, status: str, run_id: str = "run-live", message: str | None = None) -> None:
    now = time.time()
    db.upsert_order({"tag": f"NS{status}{run_id}", "run_id": run_id, "symbol": "NSE:AXISBANK-EQ",
                     "side": "BUY", "qty": 9, "reason": "entry", "broker_order_id": None,
                     "status": status, "filled_qty": 0, "traded_price": None,
                     "message": message, "created_at": now, "updated_at": now})


def order_words(page: str) -> list[str]:
    return re.findall(r'<span class="order-outcome">([^<]*)</span>', page)


def test_an_order_its_running_run_places_is_being_placed_until_the_run_ended(
        logged_in, client, db, running):
    an_order(db, "pending")
    an_order(db, "placed", message="Order pending at exchange")
    an_order(db, "pending", run_id="run-before")  # a run that stopped while placing it
    expected = {"being placed", "waiting at Fyers: Order pending at exchange"}
    for url in ("/strategy/runs/run-live", "/strategy/runs/run-live/live"):
        assert set(order_words(client.get(url).get_data(as_text=True))) == expected
    on_trading = order_words(client.get("/trading").get_data(as_text=True))
    assert sorted(on_trading) == sorted([*expected, "not settled yet: the next run checks Fyers"])
    end(db, running, "failed", INTERRUPTED.sentence, failure=INTERRUPTED)
    page = client.get("/strategy/runs/run-live").get_data(as_text=True)
    assert set(order_words(page)) == {"not settled yet: the next run checks Fyers",
                                      "waiting at Fyers: Order pending at exchange"}
    assert "being placed" not in client.get("/trading").get_data(as_text=True)
