"""The in-process scheduler: off unless enabled, one per process, weekdays at RUN_TIME_IST, and
its job records a scheduled run."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from flask import Flask

import executor
import scheduler
from config import IST
from scheduler import init_scheduler
from trading_calendar import is_trading_day


@pytest.fixture
def app(store) -> Flask:
    app = Flask(__name__)
    app.extensions["store"] = store
    return app


@pytest.fixture
def fresh_process(monkeypatch):
    """No scheduler started yet in this process; the one a test starts is shut down after."""
    monkeypatch.setattr(scheduler, "_scheduler", None)
    yield
    if scheduler._scheduler is not None:
        scheduler._scheduler.shutdown(wait=False)


def test_disabled_by_default(app, config, fresh_process):
    init_scheduler(app, config)
    assert "scheduler" not in app.extensions


def test_runs_on_weekdays_at_the_configured_ist_time_once_per_process(app, store, config,
                                                                       fresh_process):
    config = config.with_overrides(scheduler_enabled=True, run_time_ist="15:10")
    init_scheduler(app, config)
    other = Flask("another")
    other.extensions["store"] = store
    init_scheduler(other, config)
    started = app.extensions["scheduler"]
    assert other.extensions["scheduler"] is started
    job = started.get_job("daily-run")
    friday_after_run = datetime(2026, 11, 27, 16, 0, tzinfo=IST)
    assert job.trigger.get_next_fire_time(None, friday_after_run) == \
        datetime(2026, 11, 30, 15, 10, tzinfo=IST)


@pytest.mark.parametrize(("today", "status"), [
    (date(2026, 11, 26), "failed"),   # a trading day: no token stored, so it fails at once
    (date(2026, 11, 24), "skipped"),  # Guru Nanak Jayanti
])
def test_the_job_records_a_scheduled_run(store, config, monkeypatch, today, status):
    monkeypatch.setattr(executor, "ist_today", lambda: today)
    scheduler._scheduled_run(config)
    [run] = store.list_runs()
    assert (run["trigger"], run["status"]) == ("scheduled", status)


@pytest.mark.parametrize("day,trading", [
    (date(2026, 11, 24), False),  # Guru Nanak Jayanti
    (date(2026, 11, 28), False),  # Saturday
    (date(2026, 11, 26), True),
    (date(2027, 3, 1), True),     # beyond the calendar's holiday list: weekdays
])
def test_nse_calendar(day, trading):
    assert is_trading_day(day) is trading
