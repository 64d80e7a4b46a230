"""When the next run starts by itself, and what starts it: this app's scheduler, the GitHub
workflow (seen from the scheduled runs it records), or nothing; and the trading day whose run
never started."""
from __future__ import annotations

import time
from datetime import date, datetime

import pytest

import executor
import india_time
from config import IST
from next_run import NextRun, automatic_runs, missed_days, missed_run_message, next_automatic_run
from today import today
from trading_calendar import next_run_at, previous_trading_day

NOW = datetime(2026, 11, 25, 11, 0, tzinfo=IST).timestamp()  # a Wednesday session
DAY = 86400


def run(trigger: str, days_ago: float) -> dict:
    return {"trigger": trigger, "started_at": NOW - days_ago * DAY}


def test_this_app_s_scheduler(config):
    scheduled = config.with_overrides(scheduler_enabled=True)
    assert next_automatic_run(scheduled, [], NOW).at == next_run_at(config, NOW)
    assert next_automatic_run(scheduled, [], NOW).by == "scheduler"


def test_the_workflow_seen_from_its_recent_scheduled_runs(config):
    runs = [run("manual", 0.1), run("scheduled", 3.8)]  # Friday's, seen on a Tuesday morning
    found = next_automatic_run(config, runs, NOW)
    assert (found.at, found.by, found.seen_at) == (next_run_at(config, NOW), "workflow",
                                                   NOW - 3.8 * DAY)


def test_nothing_runs_by_itself(config):
    assert next_automatic_run(config, [], NOW).at is None
    assert next_automatic_run(config, [run("manual", 0.1)], NOW).at is None
    assert next_automatic_run(config, [run("scheduled", 4.5)], NOW).at is None


# Wednesday 25 Nov 2026's last trading day is Monday 23 Nov: Tuesday was Guru Nanak Jayanti.
MONDAY, HOLIDAY = date(2026, 11, 23), date(2026, 11, 24)
SCHEDULED = NextRun(NOW + 3600, "scheduler")


def record_run(store, run_id: str, day: date, book: str = "real", trigger: str = "scheduled",
               hour: int = 15) -> None:
    started = datetime(day.year, day.month, day.day, hour, 10, tzinfo=IST).timestamp()
    store.for_book(book).create_run({"run_id": run_id, "trigger": trigger, "status": "skipped",
                                     "started_at": started, "finished_at": started + 1,
                                     "summary": None, "error": None, "dry_run": False})


def test_a_trading_day_without_any_run_is_missed(store):
    record_run(store, "friday", date(2026, 11, 20))
    record_run(store, "holiday", HOLIDAY)  # the workflow records a holiday's run as skipped
    assert missed_days(store, NOW, SCHEDULED) == [MONDAY]


@pytest.mark.parametrize("book,hour,trigger", [("real", 15, "scheduled"),
                                               ("paper", 15, "scheduled"),
                                               ("real", 1, "manual")],
                         ids=["real", "paper", "manual-01:10-IST"])
def test_any_run_on_the_day_counts_in_either_book(store, book, hour, trigger):
    """01:10 IST on Monday is Sunday 19:40 UTC: the day is India's."""
    record_run(store, "friday", date(2026, 11, 20))
    record_run(store, "monday", MONDAY, book=book, hour=hour, trigger=trigger)
    assert missed_days(store, NOW, SCHEDULED) == []


def test_every_day_without_a_run_since_the_last_one_is_missed(config, store):
    record_run(store, "wednesday", date(2026, 11, 18))
    days = missed_days(store, NOW, SCHEDULED)
    assert days == [date(2026, 11, 19), date(2026, 11, 20), MONDAY]
    assert missed_run_message(config, days, SCHEDULED).startswith(
        "No run was recorded on Thu 19 Nov, Fri 20 Nov and Mon 23 Nov, NSE trading days.")


def test_nothing_is_missed_before_a_scheduled_run_or_without_automatic_runs(store):
    assert missed_days(store, NOW, SCHEDULED) == []  # a deployment set up since Monday
    record_run(store, "friday", date(2026, 11, 20), trigger="manual")
    assert missed_days(store, NOW, SCHEDULED) == []  # only Run now so far: nothing was on
    record_run(store, "thursday", date(2026, 11, 19))
    assert missed_days(store, NOW, NextRun(None)) == []


def test_the_workflow_s_own_scheduled_runs_make_it_on(config, store):
    record_run(store, "friday", date(2026, 11, 20))
    record_run(store, "holiday", HOLIDAY)
    next_run = automatic_runs(config, store, NOW)
    assert missed_days(store, NOW, next_run) == [MONDAY]
    assert missed_run_message(config, [MONDAY], next_run) == (
        "No run was recorded on Mon 23 Nov, an NSE trading day. The GitHub workflow starts "
        "them: check its Actions tab (GitHub may drop a scheduled run).")


def test_the_scheduler_s_message_names_its_time_and_the_days(config):
    config = config.with_overrides(scheduler_enabled=True, run_time_ist="15:20")
    assert missed_run_message(config, [date(2026, 11, 20), MONDAY], SCHEDULED) == (
        "No run was recorded on Fri 20 Nov and Mon 23 Nov, NSE trading days. This "
        "app's scheduler starts the runs at 15:20 IST: check that run_prod.py was running then.")


def test_the_dashboard_says_which_day_was_missed(client, logged_in, db):
    """On this machine's clock, as the runs' times are: a scheduled run the day before the
    last trading day, and the workflow's scheduled run of today."""
    now = time.time()
    missed = previous_trading_day(india_time.day_of(now))
    db.create_run({"run_id": "before", "trigger": "scheduled", "status": "succeeded",
                   "started_at": india_time.day_start(missed) - 60, "finished_at": None,
                   "summary": None, "error": None, "dry_run": False})
    db.create_run({"run_id": "today", "trigger": "scheduled", "status": "skipped",
                   "started_at": max(now - 1, india_time.midnight(now)), "finished_at": None,
                   "summary": None, "error": None, "dry_run": False})
    logged_in.login()
    page = client.get("/").get_data(as_text=True)
    assert (f'<strong class="text-danger">Missed run:</strong> No run was recorded on '
            f"{missed:%a %d %b}, an NSE trading day") in page
    db.create_run({"run_id": "on-time", "trigger": "scheduled", "status": "succeeded",
                   "started_at": india_time.day_start(missed) + 3600, "finished_at": None,
                   "summary": None, "error": None, "dry_run": False})
    assert "Missed run" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("summary", [
    f"{executor.ALREADY_RAN} at 15:10 IST (gh-run); one scheduled run a day trades",
    f"Paper: {executor.SKIPPED_BUSY}"])
def test_the_today_card_shows_the_run_a_skipped_one_stood_aside_for(config, store, summary):
    now = time.time()
    for run_id, status, ago, text in (("traded", "succeeded", 600, "Bought 5 INFY for ₹7,500.00."),
                                      ("late", "skipped", 60, summary)):
        store.create_run({"run_id": run_id, "trigger": "scheduled", "status": status,
                          "started_at": now - ago, "finished_at": now - ago + 1,
                          "summary": text, "error": None, "dry_run": False})
    assert today(config, store, now).last_run["run_id"] == "traded"
