"""Alerts to the owner's phone about runs, orders that did not fill, manual sales and the daily
Fyers login.

Messages go out on a background thread with a few retries, so a run never waits for, or fails
because of, Telegram. A channel is anything with `send(text)` raising `AlertError`: Telegram is
the first; an SMTP channel later only needs that method and a line in `channels_from_config`.
The outcome of the latest alert is kept in the store (`last_alert`) for the settings section.
"""
from __future__ import annotations

import contextvars
import functools
import logging
import os
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from apscheduler.triggers.cron import CronTrigger

import cli
import india_time
import order_outcomes
import portfolio
import prices
import token_refresh
from config import IST, Config, load_config_or_exit, on_ci_runner
from next_run import NextRun, automatic_runs, missed_days, missed_run_message
from paper_mode import PAPER_LABEL
from portfolio import inr, ist_short, signed_inr, ticker
from redaction import redact, register_secret
from store.base import Store, StoreError
from store.log_handler import logged_store
from trading_calendar import is_trading_day, next_run_at

logger = logging.getLogger(__name__)

LAST_ALERT = "last_alert"
REMINDER_SENT_ON = "login_reminder_sent_on"
MISSED_RUN_SENT_FOR = "missed_run_alert_sent_for"  # the missed day last alerted
WORKFLOW_MORNING_IST = "09:00"  # the workflow's morning job: cron '30 3 * * *' (UTC)
TELEGRAM_TIMEOUT_S = 10.0
MAX_RETRY_DELAY_S = 60.0
MAX_FILL_LINES = 6
MAX_REASON_CHARS = 300
NOT_CONFIGURED = "Alerts are off: set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID."
KIND_LABELS = {"run_finished": "Run finished", "run_failed": "Run failed",
               "order_rejected": "Order rejected", "order_outcome": "Order outcome",
               "manual_close": "Manual sale",
               "login_reminder": "Login reminder", "missed_run": "Missed run",
               "test": "Test alert"}


class AlertError(RuntimeError):
    """A channel could not deliver a message; `retryable` when trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    """Somewhere an alert can go (Telegram now, e-mail later)."""

    name: str

    def send(self, text: str) -> None:
        """Deliver `text` or raise AlertError."""


class TelegramChannel:
    """Telegram Bot API `sendMessage` to one chat."""

    name = "Telegram"

    def __init__(self, api_url: str, token: str, chat_id: str,
                 timeout_s: float = TELEGRAM_TIMEOUT_S) -> None:
        register_secret(token)  # the token is part of the URL: keep it out of every log line
        self._url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self._chat_id = chat_id
        self._timeout_s = timeout_s

    def send(self, text: str) -> None:
        """POST the message; AlertError says what Telegram answered, never the URL."""
        payload = {"chat_id": self._chat_id, "text": text, "disable_web_page_preview": True}
        try:
            response = requests.post(self._url, json=payload, timeout=self._timeout_s)
        except requests.RequestException as exc:
            # requests' own message contains the URL, hence the token: name the failure only
            raise AlertError(f"Telegram unreachable ({type(exc).__name__})") from None
        if response.status_code == 200:
            return
        try:
            reply = response.json()
        except ValueError:
            reply = {}
        retry_after = (reply.get("parameters") or {}).get("retry_after")
        raise AlertError(
            f"Telegram answered {response.status_code}: {reply.get('description', response.reason)}",
            retryable=response.status_code == 429 or response.status_code >= 500,
            retry_after=float(retry_after) if retry_after is not None else None)


def channels_from_config(config: Config) -> list[Channel]:
    """Every channel the configuration enables (none when alerts are not set up)."""
    if config.telegram_bot_token and config.telegram_chat_id:
        return [TelegramChannel(config.telegram_api_url, config.telegram_bot_token,
                                config.telegram_chat_id)]
    return []


@functools.cache
def _outbox() -> ThreadPoolExecutor:
    """The one background sender of this process; pending alerts still go out at exit."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")


class Notifier:
    """Sends alert texts to its channels and records the outcome of the latest one."""

    attempts = 3
    backoff_s = 2.0  # doubled after each failed attempt

    def __init__(self, channels: Sequence[Channel], store: Store | None = None) -> None:
        self.channels = list(channels)
        self.store = store

    @classmethod
    def from_config(cls, config: Config, store: Store | None) -> Notifier:
        """The notifier the configuration describes."""
        return cls(channels_from_config(config), store)

    def send(self, kind: str, text: str) -> Future[str | None]:
        """Queue the alert and return at once; the future holds what `deliver` returns."""
        context = contextvars.copy_context()  # keeps the caller's run id on the log lines
        future = _outbox().submit(context.run, self.deliver, kind, text)
        future.add_done_callback(_log_crash)
        return future

    def deliver(self, kind: str, text: str, attempts: int | None = None) -> str | None:
        """Send now on every channel, retrying temporary failures; None when all accepted it,
        else the error, which is also logged and recorded as the last alert status."""
        if not self.channels:
            logger.info("alert %s not sent: %s", kind, NOT_CONFIGURED)
            return NOT_CONFIGURED
        text = redact(text)  # the secrets setup_logging and token_refresh registered
        if self.store is not None and self.store.book == "paper":  # never read as real money
            text = f"{PAPER_LABEL} · {text}"
        errors = [error for channel in self.channels
                  if (error := self._deliver_to(channel, kind, text, attempts or self.attempts))]
        self._record(kind, errors)
        return "; ".join(errors) or None

    def _deliver_to(self, channel: Channel, kind: str, text: str, attempts: int) -> str | None:
        """Try one channel up to `attempts` times with exponential backoff."""
        for attempt in range(1, attempts + 1):
            try:
                channel.send(text)
                return None
            except AlertError as exc:
                error = redact(str(exc))
                if not exc.retryable or attempt == attempts:
                    break
                delay = min(exc.retry_after or self.backoff_s * 2 ** (attempt - 1),
                            MAX_RETRY_DELAY_S)
                logger.warning("alert %s via %s failed (attempt %d of %d): %s; retrying in %.1f s",
                               kind, channel.name, attempt, attempts, error, delay)
                time.sleep(delay)
        logger.error("alert %s via %s not sent: %s", kind, channel.name, error)
        return error

    def _record(self, kind: str, errors: list[str]) -> None:
        """Keep {time, kind, ok, error} of this alert for the settings section."""
        if self.store is None:
            return
        status = {"time": time.time(), "kind": kind, "ok": not errors,
                  "error": "; ".join(errors) or None}
        try:
            self.store.set_setting(LAST_ALERT, status)
        except StoreError as exc:
            logger.warning("could not record the last alert status: %s", exc)


def _log_crash(future: Future) -> None:
    """A channel bug must not vanish silently inside the background thread."""
    error = future.exception()
    if error is not None:
        logger.error("alert sending crashed: %r", error)


# --- message builders: short, readable on a lock screen, ₹ and IST, no secrets ------------

def _clip(text: str) -> str:
    """Free text from an exception or the broker, cut to what a lock screen shows."""
    return textwrap.shorten(text, MAX_REASON_CHARS, placeholder=" …")


def _fill_line(fill: Mapping[str, Any]) -> str:
    """'Bought 12 RELIANCE @ ₹812.40' or 'Sold 5 TCS @ ₹3,512.00, P&L +₹1,060.00'."""
    verb = "Bought" if fill["side"] == "BUY" else "Sold"
    line = f"{verb} {fill['qty']} {ticker(fill['symbol'])} @ {inr(fill['price'])}"
    if fill.get("pnl") is not None:
        line += f", P&L {signed_inr(fill['pnl'])}"
    return line


def run_finished(run: Mapping[str, Any], fills: Sequence[Mapping[str, Any]],
                 orders_placed: int) -> str:
    """Orders placed, one line per fill, and the P&L of the sells (a dry run: its summary).
    A skipped run has no alert (executor.py)."""
    when = ist_short(run.get("finished_at") or run["started_at"])
    if run.get("dry_run"):  # nothing was placed: the summary says what would have been
        return f"✅ Nifty Shop dry run done · {when}\n{run.get('summary') or 'No orders.'}"
    if run.get("status") == "warning":  # an order did not fill wholly, or NSE was closed
        lines = [f"⚠️ Nifty Shop run done with warnings · {when}", run.get("summary") or ""]
    else:
        lines = [f"✅ Nifty Shop run done · {when}"]
    if not orders_placed and not fills:
        return "\n".join([*lines, "No order placed." if run.get("status") == "warning"
                           else "No orders: nothing met the rules."])
    lines.append(f"Orders placed: {orders_placed}")
    lines += [_fill_line(fill) for fill in fills[:MAX_FILL_LINES]]
    if len(fills) > MAX_FILL_LINES:
        lines.append(f"…and {len(fills) - MAX_FILL_LINES} more fills")
    sells = [fill["pnl"] for fill in fills if fill["side"] == "SELL" and fill.get("pnl") is not None]
    if sells:
        lines.append(f"P&L of sells: {signed_inr(sum(sells))}")
    return "\n".join(lines)


def run_failed(run: Mapping[str, Any]) -> str:
    """The failed run's summary, which says what happened and what to do (messages.py), and
    its technical detail."""
    when = ist_short(run.get("finished_at") or run["started_at"])
    lines = [f"❌ Nifty Shop run failed · {when}", run.get("summary") or "No reason given."]
    if run.get("error"):
        lines.append(f"Detail: {_clip(run['error'])}")
    return "\n".join(lines)


def order_outcome(order: Mapping[str, Any]) -> str:
    """An order that did not fill wholly and what became of it, in order_outcomes' words
    ('rejected' only when Fyers refused it)."""
    return (f"⚠️ Nifty Shop {order_outcomes.headline(order)}\n"
            f"{order['side']} {order['qty']} {ticker(order['symbol'])}: "
            f"{_clip(order_outcomes.phrase(order))}")


def manual_close(trade: Mapping[str, Any]) -> str:
    """A holding sold outside the bot (e.g. on the Fyers app), as the bot recorded it: at the
    tradebook's price, or marked as an estimate when today's tradebook does not show the sale."""
    lines = ["ℹ️ Nifty Shop saw a manual sale", portfolio.hand_sale(trade)]
    if trade.get("pnl") is not None:
        lines.append(portfolio.pnl_words(trade))
    return "\n".join(lines)


def login_reminder(status: token_refresh.TokenStatus, tokens_page_url: str) -> str:
    """The token will not carry today's run: log in, with the link to the tokens page."""
    return f"🔑 Nifty Shop: Fyers login needed\n{status.message}\nLog in: {tokens_page_url}"


def check_message(now: float) -> str:
    """The 'Send test alert' text."""
    return f"🔔 Nifty Shop test alert · {ist_short(now)}\nAlerts reach this chat."


# --- what the executor and the web app call ------------------------------------------------

def notify_run_finished(config: Config, store: Store, run: Mapping[str, Any]) -> Future:
    """Alert on a finished run, reading its orders and fills from the store (manual sales
    found by the run have alerts of their own)."""
    orders = [order for order in store.list_orders(run_id=run["run_id"])
              if order["status"] != order_outcomes.NOT_PLACED]
    fills = [trade for trade in reversed(store.list_trades(since=run["started_at"]))
             if trade.get("run_id") == run["run_id"] and trade.get("source") != "manual"]
    text = run_finished(run, fills, orders_placed=len(orders))
    holdings = holdings_now(config, store)
    return Notifier.from_config(config, store).send(
        "run_finished", f"{text}\n{holdings}" if holdings else text)


def holdings_now(config: Config, store: Store) -> str | None:
    """'Holdings ₹15,952.95, open P&L −₹426.40 (−2.60%) at live prices of 15:10 IST': what the
    dashboard shows, at the same prices (prices.py); None without holdings or their prices."""
    positions = store.get_positions()
    if not positions:
        return None
    market = prices.market_view(config, store, [p["symbol"] for p in positions])
    holdings = portfolio.value_positions(positions, market.marks)
    if holdings.value is None:
        return None
    change = f"{'+' if holdings.open_pnl > 0 else ''}{portfolio.pct(holdings.open_pct)}"
    return (f"Holdings {inr(holdings.value)}, open P&L {signed_inr(holdings.open_pnl)} ({change}) "
            f"at {holdings.valued_at}")


def notify_run_failed(config: Config, store: Store | None, run: Mapping[str, Any]) -> Future:
    """Alert on a failed run (`store` None: it could not be opened, so the outcome of the
    alert is only logged)."""
    return Notifier.from_config(config, store).send("run_failed", run_failed(run))


def notify_order_outcome(config: Config, store: Store, order: Mapping[str, Any]) -> Future:
    """Alert on an order that did not fill wholly: rejected, not filled, expired, partly."""
    return Notifier.from_config(config, store).send("order_outcome", order_outcome(order))


def notify_manual_close(config: Config, store: Store, trade: Mapping[str, Any]) -> Future:
    """Alert on a holding the owner sold by hand (the manual sale the run recorded)."""
    return Notifier.from_config(config, store).send("manual_close", manual_close(trade))


def send_test_alert(config: Config, store: Store) -> str | None:
    """Send the test message now, once (the owner is waiting); None on success, else why not."""
    return Notifier.from_config(config, store).deliver("test", check_message(time.time()),
                                                       attempts=1)


def alert_settings(config: Config, store: Store) -> dict[str, Any]:
    """What the settings section shows: whether alerts are on, when and by what the morning
    alerts go out (None when nothing sends them), and the last alert's outcome."""
    last = store.get_setting(LAST_ALERT)
    if last:
        last = {**last, "label": KIND_LABELS.get(last["kind"], last["kind"])}
    return {"configured": bool(channels_from_config(config)), "not_configured": NOT_CONFIGURED,
            "morning": morning_alerts_by(config, store, time.time()), "last": last}


def morning_alerts_by(config: Config, store: Store, now: float) -> str | None:
    """When and by what the login reminder and the missed-run alert go out: the job of what
    starts the runs by itself (next_run.py), or None when nothing does."""
    if config.scheduler_enabled:
        return f"at {config.alert_reminder_time_ist} IST by this app's scheduler"
    if automatic_runs(config, store, now).by == "workflow":
        return f"at {WORKFLOW_MORNING_IST} IST by the GitHub workflow's morning job"
    return None


# --- the daily login reminder --------------------------------------------------------------

def tokens_page_url(config: Config) -> str:
    """This app's tokens page, on the origin of FYERS_REDIRECT_URI."""
    parts = urlsplit(config.fyers_redirect_uri)
    return f"{parts.scheme}://{parts.netloc}/tokens"


def login_reminder_due(config: Config, store: Store, now: float) -> token_refresh.TokenStatus | None:
    """The token's status when a reminder is due: an NSE trading day, none delivered today, and
    the token will not carry the next run; else None."""
    today = india_time.day_of(now)
    if not is_trading_day(today) or store.get_setting(REMINDER_SENT_ON) == today.isoformat():
        return None
    status = token_refresh.token_status(config, store, now=now)
    return None if status.valid_for_next_run else status


def send_login_reminder(config: Config, store: Store, status: token_refresh.TokenStatus,
                        now: float) -> str | None:
    """Send the reminder now with the Tokens page link; None when delivered (and remembered
    for today), else why not."""
    text = login_reminder(status, tokens_page_url(config))
    error = Notifier.from_config(config, store).deliver("login_reminder", text)
    if error is None:
        store.set_setting(REMINDER_SENT_ON, india_time.date_of(now))
    return error


def send_login_reminder_if_needed(config: Config, store: Store, now: float | None = None) -> bool:
    """On an NSE trading day, when the token will not carry the next run, remind the owner
    to log in (once a day); True when a reminder was delivered."""
    now = time.time() if now is None else now
    status = login_reminder_due(config, store, now)
    return status is not None and send_login_reminder(config, store, status, now) is None


# --- the missed-run alert ------------------------------------------------------------------

def missed_run_due(config: Config, store: Store, now: float, *, on_runner: bool = False
                   ) -> tuple[date, str] | None:
    """The last of the trading days without a run (next_run.missed_days) and what to say of
    them, when no alert has told that day yet; else None. `on_runner`: this is the workflow's
    morning job, so the workflow is on, however long ago its last recorded run."""
    next_run = automatic_runs(config, store, now)
    if on_runner and next_run.at is None:
        next_run = NextRun(next_run_at(config, now), "workflow")
    days = missed_days(store, now, next_run)
    if not days or store.get_setting(MISSED_RUN_SENT_FOR) == days[-1].isoformat():
        return None
    return days[-1], missed_run_message(config, days, next_run)


def send_missed_run_alert(config: Config, store: Store, day: date, message: str) -> str | None:
    """Send the missed-run alert now; None when delivered (and remembered for `day`), else
    why not."""
    error = Notifier.from_config(config, store).deliver("missed_run",
                                                        f"⏰ Nifty Shop: missed run\n{message}")
    if error is None:
        store.set_setting(MISSED_RUN_SENT_FOR, day.isoformat())
    return error


def _morning_job(config: Config, store: Store) -> None:
    """The scheduler job: the login reminder and the missed-run alert, each on its own, so
    that neither's error stops the other or kills tomorrow's."""
    try:
        send_login_reminder_if_needed(config, store)
    except Exception:
        logger.exception("login reminder failed")
    try:
        if missed := missed_run_due(config, store, time.time()):
            send_missed_run_alert(config, store, *missed)
    except Exception:
        logger.exception("missed-run alert failed")


def schedule_alert_jobs(scheduler: Any, config: Config, store: Store) -> None:
    """Add the morning job at ALERT_REMINDER_TIME_IST (IST) to an APScheduler: every day, so
    that a Friday's missed run is told on Saturday (the login reminder keeps to trading days)."""
    if not channels_from_config(config):
        logger.info("login reminder and missed-run alert not scheduled: %s", NOT_CONFIGURED)
        return
    hours, minutes = config.alert_reminder_time_ist.split(":")
    scheduler.add_job(_morning_job, CronTrigger(hour=int(hours), minute=int(minutes),
                                                timezone=IST),
                      args=[config, store], id="morning-alerts", max_instances=1, coalesce=True,
                      misfire_grace_time=600, replace_existing=True)
    logger.info("login reminder (trading days) and missed-run alert scheduled: daily at %s IST",
                config.alert_reminder_time_ist)


def main(argv: list[str] | None = None, now: float | None = None) -> int:
    """`python notifier.py remind`: the login reminder and the missed-run alert where no
    in-process scheduler runs (the GitHub workflow's morning job), as at `now` (tests). Exit 1
    with one line when alerts are off, or one is due and cannot be sent."""
    parser = cli.OneLineParser(prog="python notifier.py",
                               description="Alerts from the command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("remind", help="send the Fyers login reminder, with the Tokens page "
                        "link, when today's login is missing (NSE trading days, once a day), "
                        "and an alert when a trading day went without a run")
    parser.parse_args(argv)
    config = load_config_or_exit()
    if not channels_from_config(config):
        print(f"notifier: {NOT_CONFIGURED}", file=sys.stderr)
        return 1
    try:
        with logged_store(config) as store:
            now = time.time() if now is None else now
            status = login_reminder_due(config, store, now)
            reminder_error = send_login_reminder(config, store, status, now) if status else None
            missed = missed_run_due(config, store, now, on_runner=on_ci_runner(os.environ))
            missed_error = send_missed_run_alert(config, store, *missed) if missed else None
    except StoreError as exc:
        print(f"notifier: the store cannot be used: {redact(str(exc))}", file=sys.stderr)
        return 1
    if reminder_error is not None:
        print(f"notifier: the login reminder was not sent: {reminder_error}", file=sys.stderr)
    else:
        print(f"login reminder sent: {status.message}" if status else "no login reminder due: "
              "not a trading day, sent already, or the login covers the run")
    if missed_error is not None:
        print(f"notifier: the missed-run alert was not sent: {missed_error}", file=sys.stderr)
    elif missed:
        print(f"missed-run alert sent: {missed[1]}")
    return 1 if reminder_error or missed_error else 0


if __name__ == "__main__":
    cli.run(main)
