"""token_refresh: encrypted storage, status against the next run, refresh and auth-code
exchange through the real SDK against the sandbox, and the CLI's messages and exit codes."""
from __future__ import annotations

import time
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet

import token_refresh
from broker import AuthFailed
from config import IST
from tests.batch.conftest import FYERS_2026
from tests.batch.helpers import run_cli, store_tokens
from tests.broker.test_login import approve_in_browser
from trading_calendar import next_run_at


def ist_epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=IST).timestamp()


def test_tokens_are_encrypted_at_rest(run_config, store, sandbox):
    access, refresh = store_tokens(run_config, store, sandbox)
    raw = store.get_token(run_config.client_id)
    assert access not in str(raw) and refresh not in str(raw)
    assert token_refresh.load_access_token(run_config, store) == access


def test_missing_token(run_config, store):
    status = token_refresh.token_status(run_config, store)
    assert status.state == "MISSING" and not status.valid_for_next_run
    assert token_refresh.load_access_token(run_config, store) is None
    assert "log in" in status.message


@pytest.mark.parametrize("expires,state", [
    ("2026-11-26T09:00:00", "EXPIRED"),     # before now
    ("2026-11-26T15:00:00", "EXPIRING"),    # before today's 15:10 run
    ("2026-11-26T16:00:00", "VALID"),       # after it
])
def test_status_is_judged_against_the_next_scheduled_run(run_config, store, sandbox, expires,
                                                          state):
    now = ist_epoch("2026-11-26T10:00:00")  # a Thursday and an NSE trading day
    store_tokens(run_config, store, sandbox, access_expires_at=ist_epoch(expires))
    status = token_refresh.token_status(run_config, store, now=now)
    assert status.state == state
    assert status.valid_for_next_run is (state == "VALID")
    assert status.access_expires_at == ist_epoch(expires)


def test_expiry_message_names_the_time_in_ist(run_config, store, sandbox):
    store_tokens(run_config, store, sandbox, access_expires_at=ist_epoch("2026-11-26T09:00:00"))
    status = token_refresh.token_status(run_config, store, now=ist_epoch("2026-11-26T10:00:00"))
    assert status.message == "Token expired at 26 Nov 09:00 IST: log in to Fyers."


def test_next_run_skips_weekends_and_exchange_holidays(run_config):
    friday_after_run = ist_epoch("2026-11-20T16:00:00")
    assert next_run_at(run_config, friday_after_run) == ist_epoch("2026-11-23T15:10:00")
    before_holiday = ist_epoch("2026-11-23T16:00:00")  # 24 Nov 2026 is an NSE holiday
    assert next_run_at(run_config, before_holiday) == ist_epoch("2026-11-25T15:10:00")


def test_refresh_gets_a_new_access_token(run_config, store, sandbox):
    old, _ = store_tokens(run_config, store, sandbox, access_expires_at=time.time() - 60)
    status = token_refresh.refresh_tokens(run_config, store)
    assert status.state in ("VALID", "EXPIRING")
    new = token_refresh.load_access_token(run_config, store)
    assert new and new != old


@pytest.mark.parametrize("sandbox", [FYERS_2026], indirect=True)
def test_refused_refresh_says_a_daily_login_is_needed(run_config, store, sandbox):
    store_tokens(run_config, store, sandbox, access_expires_at=time.time() - 60)
    with pytest.raises(AuthFailed, match="2FA once per trading day"):
        token_refresh.refresh_tokens(run_config, store)


def test_refresh_without_a_stored_token_asks_for_a_login(run_config, store):
    with pytest.raises(AuthFailed, match="log in"):
        token_refresh.refresh_tokens(run_config, store)


def test_login_url_and_auth_code_exchange(run_config, store):
    url = token_refresh.login_url(run_config, "xyz")
    query = parse_qs(urlsplit(url).query)
    assert query["state"] == ["xyz"] and query["client_id"] == [run_config.client_id]
    approved = requests.post(url.split("?")[0], allow_redirects=False, timeout=10,
                             data={"client_id": run_config.client_id, "state": "xyz",
                                   "redirect_uri": run_config.fyers_redirect_uri})
    auth_code = parse_qs(urlsplit(approved.headers["Location"]).query)["auth_code"][0]
    status = token_refresh.exchange_auth_code(run_config, store, auth_code)
    assert status.access_expires_at > time.time()
    assert token_refresh.load_access_token(run_config, store)


@pytest.mark.parametrize("sandbox", [FYERS_2026], indirect=True)
def test_cli_status_and_a_refused_refresh(run_config, store, sandbox):
    missing = run_cli(run_config, "token_refresh.py", "status")
    assert missing.returncode == 1 and missing.stdout.startswith("MISSING: No Fyers token")
    store_tokens(run_config, store, sandbox, access_expires_at=time.time() - 60)
    refused = run_cli(run_config, "token_refresh.py", "refresh")
    assert refused.returncode == 1 and "login needed" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_cli_status_judges_the_token_as_the_pages_do(run_config, store, sandbox):
    """A token that ends in 10 minutes: VALID while nothing runs by itself (as the Tokens page
    says); once the workflow has recorded a scheduled run, judged against the next run."""
    now = time.time()
    store_tokens(run_config, store, sandbox, access_expires_at=now + 600)
    alone = run_cli(run_config, "token_refresh.py", "status")
    assert alone.returncode == 0 and alone.stdout.startswith("VALID: "), alone.stdout
    store.create_run({"run_id": "workflow-run", "trigger": "scheduled", "status": "succeeded",
                      "started_at": now - 3600, "finished_at": now - 3590, "summary": "",
                      "error": None, "dry_run": False, "book": "real"})
    scheduled = run_cli(run_config, "token_refresh.py", "status")
    ends_first = now + 600 < next_run_at(run_config, time.time())  # all but 10 min before 15:10
    assert scheduled.stdout.startswith("EXPIRING: " if ends_first else "VALID: ")
    assert scheduled.returncode == (1 if ends_first else 0)


def test_cli_refresh_where_fyers_still_allows_it(run_config, store, sandbox):
    store_tokens(run_config, store, sandbox, access_expires_at=time.time() - 60)
    refreshed = run_cli(run_config, "token_refresh.py", "refresh")
    assert refreshed.returncode in (0, 1) and refreshed.stdout.startswith(("VALID", "EXPIRING"))


def test_cli_login_url_says_where_the_auth_code_comes_back(run_config, store):
    result = run_cli(run_config, "token_refresh.py", "login-url")
    assert result.returncode == 0 and "generate-authcode" in result.stdout
    assert f"Fyers then sends the browser to {run_config.fyers_redirect_uri}" in result.stderr
    assert "token_refresh.py exchange AUTH_CODE" in result.stderr
    state = parse_qs(urlsplit(result.stdout.strip()).query)["state"][0]
    assert token_refresh.take_cli_login(store, state)  # what the web app's callback checks
    assert not token_refresh.take_cli_login(store, state)  # once


def test_a_cli_login_is_good_for_15_minutes(run_config, store):
    url = token_refresh.start_cli_login(run_config, store)
    state = parse_qs(urlsplit(url).query)["state"][0]
    assert not token_refresh.take_cli_login(store, "another-state")
    started = store.get_setting(token_refresh.CLI_LOGIN_KEY)
    store.set_setting(token_refresh.CLI_LOGIN_KEY, {**started, "at": time.time() - 15 * 60 - 1})
    assert not token_refresh.take_cli_login(store, state)


def test_token_stored_under_another_key_says_the_keys_differ(run_config, store, sandbox):
    store_tokens(run_config, store, sandbox)
    other_key = run_config.with_overrides(token_encryption_key=Fernet.generate_key().decode())
    status = token_refresh.token_status(other_key, store)
    assert status.state == "UNREADABLE"
    assert "TOKEN_ENCRYPTION_KEY differs from the one that stored them" in status.message
    assert token_refresh.load_access_token(other_key, store) is None


@pytest.mark.parametrize("sandbox", [FYERS_2026], indirect=True)
def test_cli_exchange_succeeds_when_fyers_accepts_even_if_the_token_ends_first(
        run_config, store, sandbox):
    """As the owner runs it after logging in: the token lives a minute (it ends before the
    next 15:10 run), refresh is refused under daily 2FA; Fyers accepted the code, so exit 0."""
    sandbox.admin("tokens", access_ttl_s=60)
    query = approve_in_browser(token_refresh.login_url(run_config, "cli-state"))
    result = run_cli(run_config, "token_refresh.py", "exchange", query["auth_code"][0])
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith("Fyers accepted the login. ")
    if "EXPIRING" in first:  # all but the minute before a 15:10 run on a trading day
        assert "which is before the next run at" in first and "log in to Fyers before" in first
    assert second == ("Log in again each trading day: since April 2026 Fyers requires a login "
                      "with 2FA once per trading day, so a refresh is often refused.")
    assert "Refresh token valid" not in result.stdout
    assert token_refresh.load_access_token(run_config, store)
    status = run_cli(run_config, "token_refresh.py", "status")
    assert "Refresh token valid" not in status.stdout
