"""The Fyers login round trip through the callback, and the token state as Fyers last gave it,
with the real SDK against the sandbox on loopback (which refuses refreshes, as Fyers does
since April 2026)."""
from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote, urlsplit

import executor
import token_refresh
from config import IST
from tests.web.fyers_login import approve_at_sandbox, hold, log_lines, store_sandbox_token
from tests.web.text import text


def test_callback_with_a_forged_state_is_refused(logged_in, client, db, config):
    response = client.get("/tokens/callback?s=ok&auth_code=stolen&state=forged")
    assert response.status_code == 302 and response.headers["Location"] == "/tokens"
    page = client.get("/tokens").get_data(as_text=True)
    assert "state mismatch" in page and "LOGIN NEEDED · no token" in page
    assert db.get_token(config.client_id) is None


def test_fyers_login_round_trip_stores_a_token(sandbox_app, sandbox_config):
    app, auth = sandbox_app
    response = auth.client.get("/tokens/login")
    assert response.status_code == 302
    back = urlsplit(approve_at_sandbox(response.headers["Location"]))
    assert back.path == urlsplit(sandbox_config.fyers_redirect_uri).path
    callback = f"{back.path}?{back.query}"
    assert auth.client.get(callback).headers["Location"] == "/tokens"
    page = text(auth.client.get("/tokens").get_data(as_text=True))
    assert "Logged in to Fyers: the token is valid until 06:00 IST" in page
    assert "VALID : Token valid until" in page and "LOGIN NEEDED" not in page
    assert app.extensions["store"].get_token(sandbox_config.client_id)["access_token"]
    auth.client.get(callback)  # a replayed callback: its state was used up
    assert "state mismatch" in auth.client.get("/tokens").get_data(as_text=True)


def test_a_login_started_by_the_cli_is_finished_by_the_app_it_comes_back_to(
        sandbox_app, make_auth, sandbox_config):
    """`token_refresh.py login-url` on a host whose FYERS_REDIRECT_URI is this app: Fyers
    sends the browser to the app's callback, where the owner first logs in to the app; the
    app finishes the login, once."""
    app, _ = sandbox_app
    url = token_refresh.start_cli_login(sandbox_config, app.extensions["store"])
    back = urlsplit(approve_at_sandbox(url))
    callback = f"{back.path}?{back.query}"
    auth = make_auth(app.test_client())  # a browser not logged in to the app
    assert auth.client.get(callback).headers["Location"].startswith("/login?next=")
    assert auth.login(next=quote(callback, safe="")).headers["Location"] == callback
    assert auth.client.get(callback).headers["Location"] == "/tokens"
    page = text(auth.client.get("/tokens").get_data(as_text=True))
    assert "Logged in to Fyers: the token is valid until 06:00 IST" in page
    assert app.extensions["store"].get_token(sandbox_config.client_id)["access_token"]
    auth.client.get(callback)  # replayed: the CLI's state was used up
    assert "state mismatch" in auth.client.get("/tokens").get_data(as_text=True)


def test_a_login_fyers_does_not_answer_is_not_called_refused(sandbox_config, make_app,
                                                             make_auth, sandbox):
    app = make_app(sandbox_config.with_overrides(broker_timeout_s=1.0))
    auth = make_auth(app.test_client())
    auth.login()
    back = urlsplit(approve_at_sandbox(auth.client.get("/tokens/login").headers["Location"]))
    sandbox.admin("faults", latency_ms=2500)  # no answer in time while the code is exchanged
    auth.client.get(f"{back.path}?{back.query}")
    page = text(auth.client.get("/tokens").get_data(as_text=True))
    assert "Fyers could not be reached to finish the login (" in page
    assert "refused" not in page and "LOGIN NEEDED" in page
    assert any("Fyers could not be reached for the login" in line
               for line in log_lines(app, "tokens"))


def test_a_token_fyers_refuses_turns_every_page_to_login_needed(sandbox_app, sandbox):
    app, auth = sandbox_app
    hold(app)
    token = store_sandbox_token(app)
    assert "VALID" in auth.client.get("/tokens").get_data(as_text=True)
    sandbox.admin("faults", expire_tokens=True)  # Fyers ends the session before its expiry
    page = text(auth.client.get("/trading").get_data(as_text=True))
    assert "Fyers login needed. Fyers refused the token at" in page  # at once, on this page
    assert "Your token has expired" in page and "Fyers needs a new login" in page
    for path in ("/", "/logs", "/strategy"):
        assert "Fyers login needed." in auth.client.get(path).get_data(as_text=True)
    status = text(auth.client.get("/tokens").get_data(as_text=True))
    assert "LOGIN NEEDED · refused by Fyers" in status and "VALID" not in status
    refusals = log_lines(app, "tokens")
    assert any("Fyers refused the access token during the pages' price check" in line
               for line in refusals)
    assert not any(token in line for line in refusals)
    store_sandbox_token(app)  # a new login: the refusal was about the old token only
    assert "VALID" in auth.client.get("/tokens").get_data(as_text=True)
    assert "Fyers login needed." not in auth.client.get("/").get_data(as_text=True)


def test_a_run_refused_by_fyers_turns_the_state_to_login_needed(sandbox_app, sandbox,
                                                                sandbox_config):
    app, auth = sandbox_app
    sandbox.admin("tokens", access_ttl_s=3600)  # not ending at 06:00 IST while the run runs
    store_sandbox_token(app)
    sandbox.admin("faults", expire_tokens=True)
    run = executor.execute(sandbox_config, app.extensions["store"], trigger="scheduled",
                           force=True)
    assert run["status"] == "failed" and "Fyers needs a new login" in run["summary"]
    page = text(auth.client.get("/").get_data(as_text=True))
    assert "Fyers login needed. Fyers refused the token at" in page
    assert "(the run's login check)" in page and "Last run failed" in page
    assert "LOGIN NEEDED · refused by Fyers" in auth.client.get("/tokens").get_data(as_text=True)


def flash_of(page: str) -> tuple[str, str]:
    """(the sentence, its Details) of the page's one flash message."""
    alert = re.search(r'<div class="alert alert-(?:info|warning|danger)" role="alert">(.*?)</div>',
                      page, re.DOTALL).group(1)
    sentence, _, details = alert.partition("<details")
    return text(sentence), text(details).removeprefix("Details ")


def test_a_refused_refresh_is_no_alarm_while_the_token_works(sandbox_app):
    """One plain sentence, Fyers' words (its error code) behind Details."""
    app, auth = sandbox_app
    before = datetime.now(IST)
    store_sandbox_token(app)
    auth.post("/tokens/refresh", "/tokens")
    page = auth.client.get("/tokens").get_data(as_text=True)
    sentence, details = flash_of(page)
    # the sandbox's tokens expire at the next 06:00 IST after issue, by real time (its README);
    # a test that straddles 06:00 may see either
    expiries = {"today" if moment.hour < 6 else "tomorrow" for moment in (before, datetime.now(IST))}
    assert sentence in {("Fyers refused to refresh the login; your current login works until "
                         f"06:00 IST {expires}, so there is nothing to do now.")
                        for expires in expiries}
    assert "(code -501)" in details and "Tokens page" not in details
    assert "alert-danger" not in page and "<strong>VALID</strong>" in page
    assert any("Fyers refused the token refresh" in line for line in log_lines(app, "tokens"))


def test_a_refused_refresh_of_a_refused_token_says_log_in_below(sandbox_app, sandbox):
    app, auth = sandbox_app
    store_sandbox_token(app)
    sandbox.admin("faults", expire_tokens=True)
    auth.post("/tokens/refresh", "/tokens")
    page = auth.client.get("/tokens").get_data(as_text=True)
    assert flash_of(page)[0] == "Fyers refused to refresh the login: log in to Fyers below."
    assert "LOGIN NEEDED · refused by Fyers" in text(page) and "VALID" not in text(page)


def test_a_refresh_while_fyers_cannot_be_reached_does_not_ask_for_a_login(sandbox_app, sandbox):
    """Fyers refuses the refresh (as it does since April 2026) and is down for the check after
    it: the page says so above the still-valid status, instead of asking for a login that
    could not reach Fyers either."""
    app, auth = sandbox_app
    store_sandbox_token(app)
    sandbox.admin("faults", http_5xx_next=20)
    auth.post("/tokens/refresh", "/tokens")
    sandbox.admin("faults", http_5xx_next=0)
    page = auth.client.get("/tokens").get_data(as_text=True)
    assert flash_of(page)[0] == (
        "Fyers refused to refresh the login, and could not be reached to check your "
        "current login either: the status below is the last Fyers gave. Try again in a minute.")
    assert "<strong>VALID</strong>" in page and "log in to Fyers below" not in text(page)


def test_the_tokens_page_points_at_its_own_login_button(logged_in, client):
    page = text(client.get("/tokens").get_data(as_text=True))
    assert "LOGIN NEEDED · no token : No Fyers token is stored: log in to Fyers below." in page
    assert "Tokens page" not in page
    logged_in.post("/tokens/refresh", "/tokens")
    page = client.get("/tokens").get_data(as_text=True)
    assert flash_of(page) == ("No valid refresh token is stored: log in to Fyers below.", "")


def test_every_login_writes_a_log_line_without_the_token(sandbox_app):
    app, _ = sandbox_app
    token = store_sandbox_token(app)
    lines = log_lines(app, "tokens")
    assert any(line.startswith("Fyers login started") for line in lines)
    assert any(line.startswith("Fyers login done: new access token valid until") for line in lines)
    assert not any(token in line for line in lines)
