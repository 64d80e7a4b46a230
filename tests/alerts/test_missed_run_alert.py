"""The missed-run alert: the morning after a trading day on which no run started at all (the
host was down, or GitHub dropped or stopped the workflow's schedule), once per missed day."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

import notifier
from config import IST
from notifier import LAST_ALERT, missed_run_due, schedule_alert_jobs, send_missed_run_alert
from tests.web.test_today import HOLIDAY, NOW, record_run

LATER = NOW + 3600
THURSDAY = NOW + 86400


@pytest.fixture
def workflow_runs(store):
    """The workflow's scheduled runs of Friday 20 Nov and of Tuesday's holiday (skipped), and
    none on Monday 23 Nov, a trading day."""
    record_run(store, "friday", date(2026, 11, 20), trigger="scheduled")
    record_run(store, "holiday", HOLIDAY, trigger="scheduled")


def test_the_missed_day_is_told_once(alert_config, store, telegram, workflow_runs):
    assert send_missed_run_alert(alert_config, store, *missed_run_due(alert_config, store, NOW)) \
        is None
    assert telegram.texts == [
        "⏰ Nifty Shop: missed run\nNo run was recorded on Mon 23 Nov, an NSE trading day. The "
        "GitHub workflow starts them: check its Actions tab (GitHub may drop a scheduled run)."]
    assert store.get_setting(LAST_ALERT)["kind"] == "missed_run"
    assert missed_run_due(alert_config, store, LATER) is None
    day, message = missed_run_due(alert_config, store, THURSDAY)  # Wednesday missed too
    assert day == date(2026, 11, 25) and message.startswith(
        "No run was recorded on Mon 23 Nov and Wed 25 Nov, NSE trading days.")


def test_a_refused_alert_is_tried_again_next_time(alert_config, store, telegram, workflow_runs):
    telegram.fail_next(400)
    assert send_missed_run_alert(alert_config, store, *missed_run_due(alert_config, store, NOW)) \
        .startswith("Telegram answered 400")
    assert missed_run_due(alert_config, store, LATER)[0] == date(2026, 11, 23)


def test_the_morning_job_reports_the_alert(env, store, telegram, workflow_runs, capsys):
    assert notifier.main(["remind"], now=NOW) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        "missed-run alert sent: No run was recorded on Mon 23 Nov, an NSE trading day")
    assert notifier.main(["remind"], now=NOW + 60) == 0
    assert "missed-run" not in capsys.readouterr().out
    assert sum("missed run" in text for text in telegram.texts) == 1


def test_a_refused_alert_fails_the_morning_job_in_one_line(env, store, telegram, workflow_runs,
                                                           capsys):
    telegram.fail_next(400, 400)  # the login reminder, sent first, and the missed-run alert
    assert notifier.main(["remind"], now=NOW) == 1
    last_line = capsys.readouterr().err.splitlines()[-1]
    assert last_line.startswith("notifier: the missed-run alert was not sent: Telegram answered")


def test_on_the_runner_the_workflow_counts_as_on_however_long_ago_it_last_ran(alert_config,
                                                                              store):
    """Its morning job running proves it is on, though the last scheduled run it recorded is
    too old for the pages to tell (next_run.WORKFLOW_SEEN_S)."""
    record_run(store, "friday-before", date(2026, 11, 13))
    assert missed_run_due(alert_config, store, NOW) is None
    day, message = missed_run_due(alert_config, store, NOW, on_runner=True)
    assert day == date(2026, 11, 23) and message.startswith(
        "No run was recorded on 6 NSE trading days from Mon 16 Nov to Mon 23 Nov. The "
        "GitHub workflow starts them")


def test_the_morning_job_runs_every_day_at_the_configured_ist_time(alert_config, store):
    """Every day, so that a Friday's missed run is told on Saturday; the login reminder itself
    keeps to trading days (test_login_reminder.py)."""
    scheduler = BackgroundScheduler(timezone=IST)
    schedule_alert_jobs(scheduler, alert_config.with_overrides(alert_reminder_time_ist="09:45"),
                        store)
    trigger = scheduler.get_job("morning-alerts").trigger
    saturday = datetime(2026, 11, 28, 8, 0, tzinfo=IST)
    assert trigger.get_next_fire_time(None, saturday) == datetime(2026, 11, 28, 9, 45, tzinfo=IST)
