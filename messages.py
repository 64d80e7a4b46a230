"""Every sentence the owner reads about a run that failed: what happened, and what to do.

A failed run's `summary` and its alert are one of these; the run's `error` keeps the
technical detail (redacted) and the traceback goes to the logs only. `failure_for()` picks
the failure an exception stands for, by its most specific class.
"""
from __future__ import annotations

from dataclasses import dataclass

from broker import (
    AuthFailed,
    BrokerUnavailable,
    DailyLimitBlocked,
    IPNotAllowed,
    RateLimited,
    TokenExpired,
    UnexpectedReply,
)
from paper_mode import ModeUnknown
from run_guard import DeadlinePassed, LockLost
from store.base import StoreError
from trading_calendar import HolidayFileError


@dataclass(frozen=True)
class Failure:
    """Why a run failed, in words, and what the owner should do about it."""

    what: str
    todo: str

    @property
    def sentence(self) -> str:
        """The run's summary: 'what happened: what to do.'"""
        return f"{self.what}: {self.todo}."


LOGIN_NEEDED = Failure("Fyers needs a new login (the access token expired or could not be "
                       "refreshed)", "log in to Fyers on the Tokens page")
IP_NOT_ALLOWED = Failure("Fyers refused the orders because this machine's IP address is not "
                         "the static IP registered with your Fyers app",
                         "register this machine's static IP with your Fyers app")
BLOCKED_FOR_DAY = Failure("Fyers blocked this app for the rest of the day after too many "
                          "requests", "wait for the next trading day; the bot calls Fyers "
                          "again then")
RATE_LIMITED = Failure("Fyers kept refusing requests for going over its rate limit",
                       "wait a minute, then press Run now")
BROKER_UNAVAILABLE = Failure("Fyers could not be reached or answered with a server error",
                             "check the internet connection and Fyers' status, then press "
                             "Run now")
UNEXPECTED_REPLY = Failure("Fyers sent a reply the bot could not read",
                           "press Run now later; if it happens again, read the run's log on "
                           "the Strategy page")
STORE_UNAVAILABLE = Failure("The bot's database could not be used (a full disk, a lock held by "
                            "another program, a damaged file or a server out of reach)",
                            "fix what the detail names, then press Run now")
DEADLINE_PASSED = Failure("The run went past its time limit (RUN_DEADLINE_S) and was stopped "
                          "before placing more orders", "press Run now later; it settles any "
                          "order this run left open")
LOCK_LOST = Failure("Another run took over while this one was stalled",
                    "nothing: the other run carries on")
INTERRUPTED = Failure("The run stopped before it finished (the process was stopped, or its end "
                      "could not be recorded)", "press Run now; it settles any order this run "
                      "left open")
KEY_DIFFERS = Failure("The stored Fyers tokens were encrypted with another "
                      "TOKEN_ENCRYPTION_KEY than this machine's",
                      "set the same TOKEN_ENCRYPTION_KEY on the web host and where the run runs "
                      "(e.g. the repository secret), then press Run now")
BAD_HOLIDAY_FILE = Failure("The NSE holiday list (nse_holidays.txt) has a line that is not a date",
                           "fix the line the run's error names (YYYY-MM-DD), then press Run now")
NOT_STARTED = Failure("The run could not be started", "read the logs page, then press Run now")
MODE_UNKNOWN = Failure("This runner does not know whether to trade on paper or with real money",
                       "start the web app once on this store (it saves the choice and the "
                       "strategy settings), or set STRATEGY_FROM_ENV, PAPER_TRADING and the "
                       "strategy settings as repository variables, then press Run now")
UNEXPECTED = Failure("The run failed with an unexpected error",
                     "read the run's log on the Strategy page, then press Run now")

# The most specific class of an exception picks its failure; a new exception is one line.
_BY_ERROR: dict[type[BaseException], Failure] = {
    TokenExpired: LOGIN_NEEDED,
    AuthFailed: LOGIN_NEEDED,
    RateLimited: RATE_LIMITED,
    DailyLimitBlocked: BLOCKED_FOR_DAY,
    IPNotAllowed: IP_NOT_ALLOWED,
    UnexpectedReply: UNEXPECTED_REPLY,
    BrokerUnavailable: BROKER_UNAVAILABLE,
    StoreError: STORE_UNAVAILABLE,
    DeadlinePassed: DEADLINE_PASSED,
    LockLost: LOCK_LOST,
    HolidayFileError: BAD_HOLIDAY_FILE,
    ModeUnknown: MODE_UNKNOWN,
}

RUN_STATUS_LABELS = {"warning": "succeeded with warnings"}
# "by hand" is what the owner does at Fyers (a sale in the Fyers app), never a run.
RUN_TRIGGER_LABELS = {"manual": "started manually", "scheduled": "scheduled"}


def failure_for(error: BaseException) -> Failure:
    """The failure `error` stands for (its own `failure` when it names one, else by its most
    specific class); UNEXPECTED for anything not foreseen."""
    own = getattr(error, "failure", None)
    if isinstance(own, Failure):
        return own
    return next((_BY_ERROR[kind] for kind in type(error).__mro__ if kind in _BY_ERROR),
                UNEXPECTED)


def run_status_label(status: str) -> str:
    """A run status as pages show it: 'warning' reads 'succeeded with warnings'."""
    return RUN_STATUS_LABELS.get(status, status)


def run_trigger_label(trigger: str) -> str:
    """What started a run as pages show it: 'scheduled' or 'started manually'."""
    return RUN_TRIGGER_LABELS.get(trigger, trigger)
