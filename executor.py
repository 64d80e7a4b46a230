"""The run: lock, trading calendar, token check, strategy, run record, alerts.

CLI: `python executor.py [--trigger manual|scheduled] [--dry-run] [--force] [--run-id ID]`.
Every run ends with a recorded status, even when it crashes; its log lines carry its run id;
the exit status is non-zero when it failed.
"""
from __future__ import annotations

import argparse
import logging
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from datetime import date, datetime
from pathlib import Path
from typing import Any

import notifier
import token_refresh
from broker import AuthFailed, FyersBroker, TokenExpired
from config import IST, PROJECT_DIR, Config, load_config_or_exit
from live_strategy import run_live
from order_flow import RunResult
from store import Store, StoreError, configured_store
from store.log_handler import logged_store, redact, run_context
from trading_calendar import is_trading_day

logger = logging.getLogger(__name__)

LOCK_NAME = "executor"
LOCK_TTL_S = 600.0  # refreshed while the run works; a crashed run frees the lock after this
TOKEN_MARGIN_S = 300.0  # a token that would die during the run is refreshed first
LOGIN_NEEDED = "Fyers login needed: open the Tokens page and log in"
KEY_DIFFERS = "failed: TOKEN_ENCRYPTION_KEY differs from the web host's"
KEY_DIFFERS_ACTION = ("Set TOKEN_ENCRYPTION_KEY to the same value on the web host and where this "
                      "run ran (e.g. the repository secret), then press Run now.")
SKIPPED_BUSY = "skipped: already running"
ALERT_WAIT_S = 30.0
FIND_RUNNING_WAIT_S = 5.0
BACKGROUND_OUTPUT = "last-background-run.log"


class LoginNeeded(RuntimeError):
    """No usable access token and the refresh failed: the owner must log in to Fyers."""


class TokenKeyMismatch(RuntimeError):
    """The stored tokens were encrypted with another TOKEN_ENCRYPTION_KEY: the run stops and the
    owner sets the same key on both hosts (a refresh or login cannot help this machine)."""


def new_run_id() -> str:
    """A readable unique run id, e.g. '20261126-151000-3fa2c1' (IST)."""
    return f"{datetime.now(IST):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


BrokerFactory = Callable[..., FyersBroker]  # (config, access_token=...) -> FyersBroker


def run_once(config: Config, *, trigger: str, dry_run: bool = False, force: bool = False,
             run_id: str | None = None, broker_factory: BrokerFactory = FyersBroker
             ) -> dict[str, Any]:
    """One run on its own store connection; returns the final run record."""
    store = configured_store(config)
    try:
        return execute(config, store, trigger=trigger, dry_run=dry_run, force=force,
                       run_id=run_id, broker_factory=broker_factory)
    finally:
        store.close()


def execute(config: Config, store: Store, *, trigger: str, dry_run: bool = False,
            force: bool = False, run_id: str | None = None,
            broker_factory: BrokerFactory = FyersBroker) -> dict[str, Any]:
    """Take the lock and run; a second run at the same time is recorded as skipped.

    `broker_factory` builds the broker (tests and benchmarks pass other rate limits)."""
    run_id = run_id or new_run_id()
    with run_context(run_id):
        if not store.acquire_lock(LOCK_NAME, run_id, LOCK_TTL_S):
            logger.info("another run holds the lock: this %s run is skipped", trigger)
            _open_record(store, run_id, trigger, dry_run, status="skipped")
            return _close_record(store, run_id, "skipped", SKIPPED_BUSY, None)
        outcome: tuple[str, str, str | None] = ("failed", "failed: interrupted", "interrupted")
        futures: list[Future] = []
        try:
            _open_record(store, run_id, trigger, dry_run, status="running")
            _close_stale_runs(store, run_id)
            outcome = _guarded_run(config, store, run_id, dry_run, force, futures,
                                   broker_factory)
        finally:
            store.release_lock(LOCK_NAME, run_id)
            record = _close_record(store, run_id, *outcome)
            futures += _notify_end(config, store, record)
            wait(futures, timeout=ALERT_WAIT_S)
        return record


def _open_record(store: Store, run_id: str, trigger: str, dry_run: bool, status: str) -> None:
    """Create the run record unless start_background_run created it already."""
    if store.get_run(run_id) is None:
        store.create_run({"run_id": run_id, "trigger": trigger, "status": status,
                          "started_at": time.time(), "finished_at": None, "summary": "",
                          "error": None, "dry_run": dry_run})


def _close_record(store: Store, run_id: str, status: str, summary: str,
                  error: str | None) -> dict[str, Any]:
    error = redact(error) if error else None  # it is shown on pages and in alerts
    store.update_run(run_id, status=status, summary=summary, error=error,
                     finished_at=time.time())
    logger.log(logging.ERROR if status == "failed" else logging.INFO, "run %s: %s", status,
               error or summary)
    return store.get_run(run_id)


def _close_stale_runs(store: Store, run_id: str) -> None:
    """Runs still marked running while this one holds the lock died without a word."""
    for run in store.list_runs(limit=20):
        if run["status"] == "running" and run["run_id"] != run_id:
            store.update_run(run["run_id"], status="failed", finished_at=time.time(),
                             error="interrupted: the process stopped before finishing",
                             summary="failed: interrupted")
            logger.warning("run %s had stopped without a status: marked failed", run["run_id"])


def ist_today() -> date:
    """Today's date in India, which decides whether NSE trades."""
    return datetime.now(IST).date()


def _guarded_run(config: Config, store: Store, run_id: str, dry_run: bool, force: bool,
                 futures: list[Future], broker_factory: BrokerFactory
                 ) -> tuple[str, str, str | None]:
    """(status, summary, error) of the run's work; every failure becomes a clear message."""
    today = ist_today()
    if not force and not is_trading_day(today):
        return "skipped", f"skipped: {today:%a %d %b} is not an NSE trading day", None
    try:
        broker = _authenticated_broker(config, store, broker_factory)
        result = run_live(config, store, broker, run_id=run_id, dry_run=dry_run,
                          heartbeat=_heartbeat(store, run_id))
    except (LoginNeeded, TokenExpired) as exc:  # TokenExpired: Fyers ended it mid-run
        logger.error("%s", exc)
        return "failed", LOGIN_NEEDED, str(exc)
    except TokenKeyMismatch as exc:
        logger.error("%s", exc)
        return "failed", KEY_DIFFERS, str(exc)
    except Exception as exc:  # the run must end with a recorded status, whatever broke
        logger.exception("run failed")
        return "failed", f"failed: {type(exc).__name__}", str(exc) or type(exc).__name__
    futures.extend(_notify_events(config, store, result))
    return "succeeded", result.summary, None


def _authenticated_broker(config: Config, store: Store,
                          broker_factory: BrokerFactory) -> FyersBroker:
    """A broker with a working access token, refreshing it when needed; else LoginNeeded."""
    status = token_refresh.token_status(config, store)
    if status.state == "UNREADABLE":
        raise TokenKeyMismatch(status.message)
    token = token_refresh.load_access_token(config, store)
    if token and status.usable_at(time.time() + TOKEN_MARGIN_S):
        broker = broker_factory(config, access_token=token)
        try:
            broker.profile()  # one cheap call: the server may have ended the session early
            return broker
        except TokenExpired:
            logger.warning("Fyers refused the stored access token: trying the refresh token")
    else:
        logger.warning("%s Trying the refresh token.", status.message)
    try:
        token_refresh.refresh_tokens(config, store)
    except AuthFailed as exc:  # other broker errors (network, 5xx) fail the run as they are
        raise LoginNeeded(f"{LOGIN_NEEDED} ({exc})") from exc
    return broker_factory(config, access_token=token_refresh.load_access_token(config, store))


def _heartbeat(store: Store, run_id: str) -> Callable[[], None]:
    """Keep the run lock; stop the run when another process has taken it."""
    def beat() -> None:
        if not store.refresh_lock(LOCK_NAME, run_id, LOCK_TTL_S):
            raise RuntimeError("the run lock was lost (the run took longer than its TTL)")

    return beat


def _notify_events(config: Config, store: Store, result: RunResult) -> list[Future]:
    """Alerts for manual sales and refused orders found by the run."""
    futures = [notifier.notify_manual_close(config, store, t["symbol"], t["qty"], t["price"],
                                            t["pnl"]) for t in result.manual]
    futures += [notifier.notify_order_rejected(config, store, o["symbol"], o["side"], o["qty"],
                                               o["message"]) for o in result.refused]
    return futures


def _notify_end(config: Config, store: Store, run: dict[str, Any]) -> list[Future]:
    """The run's closing alert: done, or failed with what to do; none for a skipped run."""
    if run["status"] == "skipped":
        return []
    if run["status"] == "failed":
        action = {LOGIN_NEEDED: "Open the Tokens page and log in to Fyers, then press Run now.",
                  KEY_DIFFERS: KEY_DIFFERS_ACTION}.get(run["summary"], notifier.RUN_FAILED_ACTION)
        return [notifier.notify_run_failed(config, store, run, action=action)]
    return [notifier.notify_run_finished(config, store, run)]


# --- "Run strategy now" ----------------------------------------------------------------------
def start_background_run(config: Config, trigger: str = "manual",
                         dry_run: bool = False) -> tuple[str, bool]:
    """Start a detached executor and return (run id, True); when a run holds the lock already,
    return (its id, False) and start nothing, so a double click starts one run.

    The lock is taken here, in the caller, with the new run id as owner and handed to the
    child through --run-id (the store lock is re-entrant for its owner): of two concurrent
    calls exactly one gets the lock, and no scheduled run can slip in before the child starts.
    The child reads its Config from this process's environment, as the web app did.
    """
    store = configured_store(config)
    try:
        run_id = new_run_id()
        if not store.acquire_lock(LOCK_NAME, run_id, LOCK_TTL_S):
            return _running_run_id(store), False
        _open_record(store, run_id, trigger, dry_run, status="running")
        command = [sys.executable, str(PROJECT_DIR / "executor.py"), "--trigger", trigger,
                   "--run-id", run_id] + (["--dry-run"] if dry_run else [])
        if config.is_sandbox:  # the sandbox fills at any hour: "Run now" demos on weekends too
            command.append("--force")
        try:
            _spawn(command, config.data_dir / BACKGROUND_OUTPUT)
        except OSError as exc:
            store.release_lock(LOCK_NAME, run_id)
            _close_record(store, run_id, "failed", "failed: could not start", str(exc))
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


def _running_run_id(store: Store) -> str:
    """The id of the run holding the lock (its record may be a moment behind the lock)."""
    deadline = time.monotonic() + FIND_RUNNING_WAIT_S
    while True:
        runs = store.list_runs(limit=10)
        running = [run for run in runs if run["status"] == "running"]
        if running:
            return running[0]["run_id"]
        if time.monotonic() >= deadline:
            return runs[0]["run_id"] if runs else ""
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: exit status 0 when the run succeeded or was skipped, 1 when it failed."""
    parser = argparse.ArgumentParser(prog="python executor.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trigger", choices=("manual", "scheduled"), default="manual")
    parser.add_argument("--dry-run", action="store_true", help="decide and log, place nothing")
    parser.add_argument("--force", action="store_true", help="run on weekends and holidays too")
    parser.add_argument("--run-id", help="use this run id (set by start_background_run)")
    args = parser.parse_args(argv)
    config = load_config_or_exit()
    try:
        with logged_store(config) as store:
            run = execute(config, store, trigger=args.trigger, dry_run=args.dry_run,
                          force=args.force, run_id=args.run_id)
    except StoreError as exc:
        print(f"error: the store cannot be used: {redact(str(exc))}", file=sys.stderr)
        return 1
    print(f"run {run['run_id']} {run['status']}: {run['error'] or run['summary']}")
    return 1 if run["status"] == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
