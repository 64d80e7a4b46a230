"""The run: lock, trading calendar, token check, strategy, run record, alerts.

CLI: `python executor.py [--trigger manual|scheduled] [--dry-run] [--force] [--run-id ID]
[--book real|paper]`.
Every run ends with a recorded status, even when it crashes; its log lines carry its run id;
the exit status is non-zero when it failed.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import cli
import india_time
import notifier
import paper_mode
import prices
import strategy_settings
import token_refresh
from broker import FyersBroker, TokenExpired
from config import IST, PROJECT_DIR, Config, load_config_or_exit, on_ci_runner
from day_use import recorded_day_use
from live_strategy import orders_outside_hours, run_live
from market_hours import MarketSession
from messages import (
    INTERRUPTED,
    NOT_STARTED,
    STORE_UNAVAILABLE,
    UNEXPECTED,
    Failure,
    failure_for,
    run_status_label,
)
from order_flow import RunResult
from order_outcomes import SPENT_NOTHING
from redaction import redact
from run_guard import RunGuard
from run_steps import RunSteps
from store import Store, StoreError, configured_store
from store.base import BOOKS
from store.log_handler import logged_store, run_context
from trading_calendar import holidays_known_until, holidays_notice, is_trading_day

logger = logging.getLogger(__name__)

LOCK_NAME = "executor"
# The lock's keeper thread refreshes it every LOCK_BEAT_S while the run lives; a killed run
# frees it after LOCK_TTL_S. The run itself is bounded by RUN_DEADLINE_S, not by the lock.
LOCK_TTL_S = 60.0
LOCK_BEAT_S = 10.0
TOKEN_MARGIN_S = 300.0  # a token that would die during the run is refreshed first
PAPER_SUMMARY = "Paper: "  # how every paper run's summary starts
SKIPPED_BUSY = "skipped: already running"
ALREADY_RAN = "skipped: today's scheduled run already ran"  # then: at 15:10 IST (its id); …
ALERT_WAIT_S = 30.0
FINAL_WRITE_TRIES = 4
FINAL_WRITE_PAUSE_S = 1.0  # doubled after each failed try
BACKGROUND_OUTPUT = "last-background-run.log"


@dataclass(frozen=True)
class Outcome:
    """How a run ended: status, the summary the owner reads, the technical error, and for a
    failed run the failure its summary names."""

    status: str
    summary: str
    error: str | None = None
    failure: Failure | None = None

    @classmethod
    def failed(cls, failure: Failure, error: str) -> Outcome:
        """A failed run: the failure's sentence as summary, `error` as detail."""
        return cls("failed", failure.sentence, error, failure)


def new_run_id() -> str:
    """A readable unique run id, e.g. '20261126-151000-3fa2c1' (IST)."""
    return f"{datetime.now(IST):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


BrokerFactory = Callable[..., FyersBroker]  # (config, access_token=, store=) -> FyersBroker


def run_once(config: Config, *, trigger: str, dry_run: bool = False, force: bool = False,
             run_id: str | None = None, broker_factory: BrokerFactory = FyersBroker
             ) -> dict[str, Any]:
    """One run on its own store connection; returns the final run record."""
    run_id = run_id or new_run_id()
    try:
        store = configured_store(config)
    except StoreError as exc:
        return unrecorded_failure(config, run_id, trigger, dry_run, exc)
    try:
        return execute(config, store, trigger=trigger, dry_run=dry_run, force=force,
                       run_id=run_id, broker_factory=broker_factory)
    finally:
        store.close()


def execute(config: Config, store: Store, *, trigger: str, dry_run: bool = False,
            force: bool = False, run_id: str | None = None, book: str | None = None,
            broker_factory: BrokerFactory = FyersBroker) -> dict[str, Any]:
    """Take the lock and run; a second run at the same time is recorded as skipped.

    Whatever happens, the run ends with a record (or, when the store cannot record it, an
    alert and the record it would have had), its lock released and an alert.
    `broker_factory` builds the broker (tests and benchmarks pass other rate limits). The run
    trades `book` ("real" or "paper"), by default the book in use (paper_mode.py): on paper,
    its records and broker are the paper book's."""
    run_id = run_id or new_run_id()
    with run_context(run_id):
        try:
            store = paper_mode.book_store(config, store, book)
            if not store.acquire_lock(LOCK_NAME, run_id, LOCK_TTL_S):
                logger.info("another run holds the lock: this %s run is skipped", trigger)
                record = _open_record(store, run_id, trigger, dry_run, status="skipped")
                return _close_record(store, record,
                                     _in_book(store, Outcome("skipped", SKIPPED_BUSY)))
            record = _open_record(store, run_id, trigger, dry_run, status="running")
        except StoreError as exc:
            logger.error("the run cannot start: %s", exc)
            _release_lock(store, run_id)
            return unrecorded_failure(config, run_id, trigger, dry_run, exc)
        outcome = Outcome.failed(INTERRUPTED, "interrupted before the run ended")
        futures: list[Future] = []
        steps = RunSteps(store, run_id)
        try:
            with RunGuard(store, LOCK_NAME, run_id, ttl_s=LOCK_TTL_S, beat_s=LOCK_BEAT_S,
                          deadline_s=config.run_deadline_s) as guard:
                outcome = _guarded_run(config, store, record, force, guard, futures,
                                       broker_factory, steps)
        finally:
            record = _close_record(store, record, outcome,
                                   steps.end(outcome.failure))
            _release_lock(store, run_id)
            futures += _notify_end(config, store, record)
            wait(futures, timeout=ALERT_WAIT_S)
        return record


def _open_record(store: Store, run_id: str, trigger: str, dry_run: bool,
                 status: str) -> dict[str, Any]:
    """The run's record, created unless start_background_run created it already."""
    record = store.get_run(run_id)
    if record is None:
        record = {"run_id": run_id, "trigger": trigger, "status": status,
                  "started_at": time.time(), "finished_at": None, "summary": "",
                  "error": None, "dry_run": dry_run, "book": store.book}
        store.create_run(record)
    return record


def _close_record(store: Store, record: dict[str, Any], outcome: Outcome,
                  steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write the run's end (and its final `steps`, when it took any), retrying while the store
    refuses; when it still cannot, the run failed (its record stays 'running' without the
    lock, which the next start marks failed)."""
    error = redact(outcome.error) if outcome.error else None  # shown on pages and in alerts
    ended = {"status": outcome.status, "summary": outcome.summary, "error": error,
             "finished_at": time.time(), **({"steps": steps} if steps else {})}
    logger.log(logging.ERROR if outcome.status == "failed" else logging.INFO, "run %s: %s%s",
               outcome.status, outcome.summary, f" ({error})" if error else "")
    for attempt in range(1, FINAL_WRITE_TRIES + 1):
        try:
            store.update_run(record["run_id"], **ended)
            return {**record, **ended}
        except StoreError as exc:
            logger.error("could not record the run's end (try %d of %d): %s", attempt,
                         FINAL_WRITE_TRIES, exc)
            refused = exc
            if attempt < FINAL_WRITE_TRIES:
                time.sleep(FINAL_WRITE_PAUSE_S * 2 ** (attempt - 1))
    detail = f"{error or outcome.summary}; the run's end could not be recorded: {refused}"
    return {**record, **ended, "status": "failed", "summary": STORE_UNAVAILABLE.sentence,
            "error": redact(detail)}


def _release_lock(store: Store, run_id: str) -> None:
    """Release the run lock; when the store refuses, its TTL frees it a little later."""
    try:
        store.release_lock(LOCK_NAME, run_id)
    except StoreError as exc:
        logger.error("could not release the run lock (it expires in %.0f s): %s", LOCK_TTL_S,
                     exc)


def unrecorded_failure(config: Config, run_id: str, trigger: str, dry_run: bool,
                       error: StoreError) -> dict[str, Any]:
    """A run the store could not even record (unusable at start): alert the owner, and return
    the record it would have had."""
    now = time.time()
    record = {"run_id": run_id, "trigger": trigger, "status": "failed", "started_at": now,
              "finished_at": now, "summary": STORE_UNAVAILABLE.sentence,
              "error": redact(str(error)), "dry_run": dry_run}
    wait([notifier.notify_run_failed(config, None, record)], timeout=ALERT_WAIT_S)
    return record


def _close_stale_runs(store: Store, run_id: str) -> None:
    """Runs still marked running while this one holds the lock died without a word."""
    for run in store.list_runs(limit=20):
        if run["status"] == "running" and run["run_id"] != run_id:
            store.update_run(run["run_id"], status="failed", finished_at=time.time(),
                             error="the process stopped before recording the run's end",
                             summary=_interrupted_summary(run))
            logger.warning("run %s had stopped without a status: marked failed", run["run_id"])


def earlier_scheduled_run(store: Store, record: dict[str, Any], today: date
                          ) -> dict[str, Any] | None:
    """When `record` is a scheduled run, the scheduled run of this book that did the day's work
    `today` before it (_did_the_day): with this app's scheduler and the GitHub workflow both
    on, a second one, late, would trade the day again."""
    if record["trigger"] != "scheduled":
        return None
    return next((run for run in store.runs_since(india_time.day_start(today))
                 if run["trigger"] == "scheduled" and run["run_id"] != record["run_id"]
                 and not run["dry_run"] and _did_the_day(store, run)), None)


def _did_the_day(store: Store, run: dict[str, Any]) -> bool:
    """Whether a run did the day's work: it succeeded (whatever it bought, or nothing), or an
    order of it spent money or may still, however it ended. Not one that found NSE closed,
    failed before any order filled (all refused, say, from a runner's unregistered IP) or was
    skipped: the day is still to be traded, as the day's caps count it (SPENT_NOTHING)."""
    return run["status"] == "succeeded" or any(
        order["status"] not in SPENT_NOTHING for order in store.list_orders(run_id=run["run_id"]))


def ist_today() -> date:
    """Today's date in India, which decides whether NSE trades."""
    return india_time.day_of(time.time())


def skipped_day(force: bool) -> date | None:
    """Today, when a run not forced skips it as a day NSE does not trade (by this machine's
    date: the run skips it before it asks Fyers anything); else None."""
    today = ist_today()
    return None if force or is_trading_day(today) else today


def manual_runs_forced(config: Config) -> bool:
    """Whether "Run now" starts forced runs: the sandbox fills at any hour, so it demos on
    weekends too."""
    return config.is_sandbox


def run_now_places_nothing(config: Config, session: MarketSession, paper: bool,
                           by_fyers_clock: bool = True) -> bool:
    """Whether a run started now in `session` places no order: it skips the day, or NSE is
    closed and its orders cannot wait as AMOs (off, or on paper, which does not simulate them).
    A session read from this machine's clock (`by_fyers_clock` False) is a guess: the run reads
    Fyers' clock and may find NSE open, so only a skipped day is sure to place nothing."""
    if skipped_day(manual_runs_forced(config)):
        return True
    return by_fyers_clock and not session.is_open and (
        paper or not orders_outside_hours(config, dry_run=False))


def _guarded_run(config: Config, store: Store, record: dict[str, Any], force: bool,
                 guard: RunGuard, futures: list[Future], broker_factory: BrokerFactory,
                 steps: RunSteps) -> Outcome:
    """The run's outcome in its book's words, however it ended."""
    return _in_book(store, _run_outcome(config, store, record, force, guard, futures,
                                        broker_factory, steps))


def _in_book(store: Store, outcome: Outcome) -> Outcome:
    """`outcome` with its summary starting "Paper: " in the paper book."""
    return replace(outcome, summary=f"{PAPER_SUMMARY}{outcome.summary}") if store.book == "paper" \
        else outcome


def _run_outcome(config: Config, store: Store, record: dict[str, Any], force: bool,
                 guard: RunGuard, futures: list[Future], broker_factory: BrokerFactory,
                 steps: RunSteps) -> Outcome:
    """The run's outcome; every failure becomes one of the owner's sentences (messages.py)."""
    today = ist_today()
    try:
        if skipped_day(force):
            return Outcome("skipped", f"skipped: {today:%a %d %b} is not an NSE trading day")
        if not force and (earlier := earlier_scheduled_run(store, record, today)):
            return Outcome("skipped", f"{ALREADY_RAN} at "
                           f"{india_time.moment(earlier['started_at']):%H:%M} IST "
                           f"({earlier['run_id']}); one scheduled run a day trades")
        paper_mode.require_known_mode(config, store, on_ci_runner(os.environ))
        if today > holidays_known_until():
            logger.warning("%s", holidays_notice(today))
        result = guard.run(lambda: _work(config, store, record, guard, broker_factory, steps))
    except Exception as exc:  # the run must end with a recorded status, whatever broke
        failure = failure_for(exc)
        if failure is UNEXPECTED:
            logger.exception("run failed")
        else:
            logger.error("run failed: %s", exc)
        return Outcome.failed(failure, str(exc) or type(exc).__name__)
    futures.extend(_notify_events(config, store, result))
    # A run that found NSE closed says so in amber even with nothing to place: a run due at
    # 15:10 on a trading day should not find it closed (dry runs outside hours are tests).
    closed = result.closed and not record["dry_run"]
    status = "warning" if result.incomplete or result.unsettled or closed else "succeeded"
    return Outcome(status, result.summary)


def _work(config: Config, store: Store, record: dict[str, Any], guard: RunGuard,
          broker_factory: BrokerFactory, steps: RunSteps) -> RunResult:
    """The run's work, on the guard's worker thread: close dead runs, log in, trade."""
    _close_stale_runs(store, record["run_id"])
    steps.begin("login", "checking the Fyers login")
    broker = _authenticated_broker(config, store, broker_factory)
    steps.done("login", "Fyers accepted the login")
    try:
        return run_live(config, store, broker, run_id=record["run_id"],
                        dry_run=record["dry_run"], checkpoint=guard.checkpoint, steps=steps)
    finally:
        _refresh_funds(store, broker, record)


def _refresh_funds(store: Store, broker: FyersBroker, record: dict[str, Any]) -> None:
    """Once the run placed an order or recorded a trade (however it ended), the funds the
    pages keep are out of date: read them again, as the run's quotes are kept for the pages."""
    if store.list_orders(run_id=record["run_id"]) or store.list_trades(
            since=record["started_at"], limit=1):
        prices.remember_funds(store, broker)


def _authenticated_broker(config: Config, store: Store,
                          broker_factory: BrokerFactory) -> FyersBroker:
    """A broker with a working access token, refreshing it when needed; else AuthFailed."""
    status = token_refresh.token_status(config, store)
    if status.state == "UNREADABLE":
        raise token_refresh.TokenKeyMismatch(status.message)
    broker = token_refresh.stored_broker(config, store, broker_factory)
    if broker and status.usable_at(time.time() + TOKEN_MARGIN_S):
        try:
            # one cheap call: the server may have ended the session early; pages learn it too
            with token_refresh.fyers_verdict(config, store, broker.access_token,
                                             "the run's login check"):
                broker.profile()
            return broker
        except TokenExpired:
            logger.warning("trying the refresh token")
    else:
        logger.warning("%s Trying the refresh token.", status.message)
    token_refresh.refresh_tokens(config, store)  # AuthFailed: the owner must log in again
    return token_refresh.stored_broker(config, store, broker_factory)


def _notify_events(config: Config, store: Store, result: RunResult) -> list[Future]:
    """Alerts for manual sales found by the run and its orders that did not fill wholly."""
    futures = [notifier.notify_manual_close(config, store, trade) for trade in result.manual]
    futures += [notifier.notify_order_outcome(config, store, order)
                for order in result.incomplete]
    return futures


def _notify_end(config: Config, store: Store, run: dict[str, Any]) -> list[Future]:
    """The run's closing alert: done, or failed with what to do; none for a skipped run."""
    if run["status"] == "skipped":
        return []
    if run["status"] == "failed":
        return [notifier.notify_run_failed(config, store, run)]
    return [notifier.notify_run_finished(config, store, run)]


# --- what the pages show ---------------------------------------------------------------------
def running_run(store: Store) -> dict[str, Any] | None:
    """The run holding the run lock while its record says running, in whichever book it trades
    (the lock is shared: a real run started before the owner switched to paper still bars a
    paper one); a killed run's record may still say running, but its lock is gone."""
    owner = store.lock_owner(LOCK_NAME)
    found = store.find_run(owner) if owner else None
    return found[1] if found and found[1]["status"] == "running" else None


def running_run_id(store: Store) -> str | None:
    """The id of the run still running (running_run), whose open orders it is still placing."""
    return (running_run(store) or {}).get("run_id")


def stood_aside(run: dict[str, Any]) -> bool:
    """Whether a run was skipped for another run: one running, or today's scheduled run done
    (the Today card shows that other run as the last)."""
    summary = (run.get("summary") or "").removeprefix(PAPER_SUMMARY)
    return run["status"] == "skipped" and summary.startswith((SKIPPED_BUSY, ALREADY_RAN))


def as_shown(store: Store, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs as pages show them: one marked running without the run lock stopped before it
    finished (killed, or its end could not be recorded) and is shown failed."""
    owner = store.lock_owner(LOCK_NAME)
    return [{**run, "status": "failed", "summary": _interrupted_summary(run)}
            if run["status"] == "running" and run["run_id"] != owner else run for run in runs]


def _interrupted_summary(run: dict[str, Any]) -> str:
    """The summary of a run that stopped before it finished, "Paper: " first for a paper one,
    as every paper run's summary."""
    return (f"{PAPER_SUMMARY}{INTERRUPTED.sentence}" if run.get("book") == "paper"
            else INTERRUPTED.sentence)


# --- "Run now" -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunNowStakes:
    """What a "Run now" puts at stake, for its confirmation: the most it can spend, the paper
    cash that can pay for it on paper, and what already ran today."""

    max_spend: float  # MAX_TRADE_VALUE for each buy today's caps still allow
    trade_value: float  # MAX_TRADE_VALUE
    buys: int  # the most buys the run may place
    entries_left: int  # new entries the run may still buy
    entries_per_day: int  # MAX_NEW_ENTRIES_PER_DAY
    paper_cash: float | None  # the paper account's cash on paper (a buy it cannot pay is refused)
    today: dict[str, Any] | None  # the latest run started today (IST) and not skipped
    newest_run_id: str  # the confirmation starts a run only while this is still the newest


def run_now_stakes(config: Config, store: Store, now: float | None = None) -> RunNowStakes:
    """The stakes of a run started now, from the store alone (settings, today's recorded
    orders, holdings, runs): a confirmation page never waits for the broker."""
    config = strategy_settings.for_runs(config, store)
    params = config.strategy_params()
    day = recorded_day_use(config, store, now)
    buys = day.most_buys(params, [position["symbol"] for position in store.get_positions()])
    midnight = india_time.midnight(time.time() if now is None else now)
    runs = as_shown(store, store.list_runs(limit=20))
    today = next((run for run in runs if run["started_at"] >= midnight
                  and run["status"] != "skipped"), None)
    return RunNowStakes(max_spend=buys * params.max_trade_value,
                        trade_value=params.max_trade_value, buys=buys,
                        entries_left=day.entries_left(params),
                        entries_per_day=params.max_new_entries_per_day,
                        paper_cash=paper_mode.paper_money(config, store).cash
                        if store.book == "paper" else None, today=today,
                        newest_run_id=runs[0]["run_id"] if runs else "")


def start_background_run(config: Config, trigger: str = "manual", dry_run: bool = False,
                         book: str | None = None) -> tuple[str, bool]:
    """Start a detached executor trading `book` (default: the book in use) and return (run id,
    True); when a run holds the lock already, return (its id, False) and start nothing, so a
    double click starts one run.

    The lock is taken here, in the caller, with the new run id as owner and handed to the
    child through --run-id (the store lock is re-entrant for its owner): of two concurrent
    calls exactly one gets the lock, and no scheduled run can slip in before the child starts.
    The child reads its Config from this process's environment, as the web app did.
    """
    store = configured_store(config)
    try:
        store = paper_mode.book_store(config, store, book)
        run_id = new_run_id()
        if not store.acquire_lock(LOCK_NAME, run_id, LOCK_TTL_S):
            return store.lock_owner(LOCK_NAME) or "", False
        record = _open_record(store, run_id, trigger, dry_run, status="running")
        # The child trades the book confirmed here, even if the mode is switched before it
        # reads it: its record is already in this book.
        command = [sys.executable, str(PROJECT_DIR / "executor.py"), "--trigger", trigger,
                   "--run-id", run_id, "--book", store.book] + (["--dry-run"] if dry_run else [])
        if manual_runs_forced(config):
            command.append("--force")
        try:
            _spawn(command, config.data_dir / BACKGROUND_OUTPUT)
        except OSError as exc:
            _close_record(store, record, Outcome.failed(NOT_STARTED, str(exc)))
            _release_lock(store, run_id)
            raise
        logger.info("started %s run %s in the background", trigger, run_id)
        return run_id, True
    finally:
        store.close()


def _spawn(command: list[str], output: Path) -> None:
    """Start `command` detached from this process; its console output (the last background
    run's) goes to `output`, for the rare crash that happens before logging is set up."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w") as console:
        subprocess.Popen(command, cwd=PROJECT_DIR, start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: exit status 0 when the run succeeded or was skipped, 1 when it failed."""
    parser = cli.OneLineParser(prog="python executor.py", description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trigger", choices=("manual", "scheduled"), default="manual")
    parser.add_argument("--dry-run", action="store_true", help="decide and log, place nothing")
    parser.add_argument("--force", action="store_true",
                        help="run on weekends and holidays too, and after today's scheduled run")
    parser.add_argument("--run-id", help="use this run id (set by start_background_run)")
    parser.add_argument("--book", choices=BOOKS,
                        help="trade this book (default: paper while paper trading is on, else "
                             "real; set by start_background_run)")
    args = parser.parse_args(argv)
    config = load_config_or_exit()
    run_id = args.run_id or new_run_id()
    try:
        with logged_store(config) as store:
            run = execute(config, store, trigger=args.trigger, dry_run=args.dry_run,
                          force=args.force, run_id=run_id, book=args.book)
    except StoreError as exc:  # the store cannot even be opened: nothing can be recorded
        run = unrecorded_failure(config, run_id, args.trigger, args.dry_run, exc)
        print(f"error: {_one_line(run)}", file=sys.stderr)
        return 1
    print(_one_line(run))
    return 1 if run["status"] == "failed" else 0


def _one_line(run: dict[str, Any]) -> str:
    """'run ID succeeded with warnings: summary (error)', what the CLI prints for cron's mail,
    the status in the pages' words."""
    error = f" ({run['error']})" if run["error"] else ""
    return f"run {run['run_id']} {run_status_label(run['status'])}: {run['summary']}{error}"


if __name__ == "__main__":
    cli.run(main)
