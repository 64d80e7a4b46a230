"""When the next run starts by itself, and what starts it: this app's scheduler, the GitHub
workflow (seen from the scheduled runs it records), or nothing."""
from __future__ import annotations

from datetime import datetime

from config import IST
from next_run import next_automatic_run
from trading_calendar import next_run_at

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
