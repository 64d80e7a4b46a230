"""When runs happen: the NSE trading calendar, the next scheduled run, and the in-process job.

The APScheduler job is for single-host installs (`SCHEDULER_ENABLED`); GitHub Actions is the
other trigger. Both may be on: the executor's store lock lets only one run happen.
"""
from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import exchange_calendars
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from config import IST, Config

logger = logging.getLogger(__name__)

NSE_CALENDAR = "XBOM"  # exchange_calendars' Indian equity calendar (NSE and BSE share holidays)
_started_lock = threading.Lock()
_scheduler: BackgroundScheduler | None = None


@lru_cache(maxsize=1)
def _sessions() -> tuple[date, date, frozenset[date]]:
    """(first, last, every session) of the exchange calendar, loaded once."""
    calendar = exchange_calendars.get_calendar(NSE_CALENDAR)
    days = frozenset(session.date() for session in calendar.sessions)
    return min(days), max(days), days


def is_trading_day(day: date) -> bool:
    """True on NSE sessions; beyond the calendar's known holidays, on weekdays."""
    first, last, sessions = _sessions()
    if first <= day <= last:
        return day in sessions
    return day.weekday() < 5


def previous_trading_day(day: date) -> date:
    """The last NSE session before `day`."""
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def run_time(config: Config) -> time:
    """The daily run time (IST) as a time of day."""
    hours, minutes = config.run_time_ist.split(":")
    return time(int(hours), int(minutes), tzinfo=IST)


def next_run_at(config: Config, now: float) -> float:
    """Epoch seconds of the next scheduled run at or after `now`: RUN_TIME_IST on a trading day."""
    current = datetime.fromtimestamp(now, IST)
    day = current.date()
    while True:
        candidate = datetime.combine(day, run_time(config))
        if candidate >= current and is_trading_day(day):
            return candidate.timestamp()
        day += timedelta(days=1)


def _scheduled_run(config: Config) -> None:
    """The job: one scheduled run; a failure is already recorded in its run record."""
    import executor  # imported here: executor imports this module's calendar (a cycle)

    try:
        executor.run_once(config, trigger="scheduled")
    except Exception:  # the scheduler thread must survive for tomorrow's run
        logger.exception("scheduled run crashed")


def init_scheduler(app: Any, config: Config) -> None:
    """Start the weekday run job (and the alerts' login reminder) in this process once, when
    SCHEDULER_ENABLED; later calls, e.g. from other apps in the same process, reuse it."""
    import notifier  # imported here: notifier imports this module's calendar (a cycle)

    global _scheduler
    if not config.scheduler_enabled:
        return
    with _started_lock:
        if _scheduler is not None:
            app.extensions["scheduler"] = _scheduler
            return
        at = run_time(config)
        scheduler = BackgroundScheduler(timezone=IST, daemon=True)
        scheduler.add_job(_scheduled_run, CronTrigger(day_of_week="mon-fri", hour=at.hour,
                                                      minute=at.minute, timezone=IST),
                          args=[config], id="daily-run", max_instances=1, coalesce=True,
                          misfire_grace_time=600, replace_existing=True)
        notifier.schedule_alert_jobs(scheduler, config, app.extensions["store"])
        scheduler.start()
        _scheduler = scheduler
        app.extensions["scheduler"] = scheduler
        logger.info("scheduler started: weekdays at %s IST", config.run_time_ist)
