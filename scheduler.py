"""The in-process scheduler: the weekday run job, the alerts' jobs and the daily log retention,
for single-host installs.

Enabled by `SCHEDULER_ENABLED`; GitHub Actions is the other trigger. Both may be on: the
executor's store lock lets one run happen at a time, and a scheduled run skips a day whose
scheduled run already traded it. Which days trade lives in trading_calendar.py.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

import executor
import notifier
import retention
from config import IST, Config
from trading_calendar import run_time

logger = logging.getLogger(__name__)

RETENTION_AT = (3, 0)  # IST: far from the run and the login window

_started_lock = threading.Lock()
_scheduler: BackgroundScheduler | None = None


def _scheduled_run(config: Config) -> None:
    """The job: one scheduled run; a failure is already recorded in its run record."""
    try:
        executor.run_once(config, trigger="scheduled")
    except Exception:  # the scheduler thread must survive for tomorrow's run
        logger.exception("scheduled run crashed")


def _retention(config: Config, store: Any) -> None:
    """The job: remove old logs; a failure waits for tomorrow."""
    try:
        retention.purge_old_logs(config, store)
    except Exception:  # the scheduler thread must survive for tomorrow's run
        logger.exception("log retention failed")


def init_scheduler(app: Any, config: Config) -> None:
    """Start the weekday run job (and the alerts' morning job: the login reminder and the
    missed-run alert) in this process once, when
    SCHEDULER_ENABLED; later calls, e.g. from other apps in the same process, reuse it."""
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
        hour, minute = RETENTION_AT
        scheduler.add_job(_retention, CronTrigger(hour=hour, minute=minute, timezone=IST),
                          args=[config, app.extensions["store"]], id="log-retention",
                          max_instances=1, coalesce=True, misfire_grace_time=3600,
                          replace_existing=True)
        scheduler.start()
        _scheduler = scheduler
        app.extensions["scheduler"] = scheduler
        logger.info("scheduler started: weekdays at %s IST", config.run_time_ist)
