"""The one set of sentences a failed run shows: each says what happened and what to do, and an
exception picks its sentence by its most specific class."""
from __future__ import annotations

import re

import pytest

import messages
from broker import (
    AuthFailed,
    BrokerError,
    BrokerUnavailable,
    InvalidRequest,
    RateLimited,
    TokenExpired,
)
from run_guard import DeadlinePassed, LockLost
from store.base import DuplicateKey, StoreError

FAILURES = {name: value for name, value in vars(messages).items()
            if isinstance(value, messages.Failure)}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_every_failure_says_what_happened_and_what_to_do(failure):
    what, todo = failure.sentence.removesuffix(".").split(": ", 1)
    assert what[0].isupper() and todo[0].islower() and failure.sentence.endswith(".")
    assert not re.search(r"[A-Z][a-z]+[A-Z]\w*|Error|Traceback", failure.sentence)  # no class


@pytest.mark.parametrize(("error", "failure"), [
    (TokenExpired("Fyers profile: token expired (code -8)"), messages.LOGIN_NEEDED),
    (AuthFailed("Fyers refused the token refresh"), messages.LOGIN_NEEDED),
    (RateLimited("Fyers quotes: request limit reached (code -429)"), messages.RATE_LIMITED),
    (BrokerUnavailable("Fyers history: HTTP 503 (code 503)"), messages.BROKER_UNAVAILABLE),
    (DuplicateKey("UNIQUE constraint failed"), messages.STORE_UNAVAILABLE),
    (StoreError("SQLite store x.db: database is locked"), messages.STORE_UNAVAILABLE),
    (DeadlinePassed("the run passed its deadline"), messages.DEADLINE_PASSED),
    (LockLost("the run lock was taken"), messages.LOCK_LOST),
    (InvalidRequest("Fyers quotes: bad symbol (code -300)"), messages.UNEXPECTED),
    (BrokerError("Fyers orderbook: something new (code -999)"), messages.UNEXPECTED),
    (KeyError("lp"), messages.UNEXPECTED),
])
def test_an_error_picks_the_failure_of_its_most_specific_class(error, failure):
    assert messages.failure_for(error) is failure


def test_a_subclass_of_a_mapped_error_inherits_its_failure():
    class BlockedForTheDay(RateLimited):
        pass

    assert messages.failure_for(BlockedForTheDay("blocked")) is messages.RATE_LIMITED


def test_a_run_with_warnings_reads_as_such():
    assert messages.run_status_label("warning") == "succeeded with warnings"
    assert messages.run_status_label("failed") == "failed"
