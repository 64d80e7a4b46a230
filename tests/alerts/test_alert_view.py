"""The "Send test alert" button and the alerts settings section, as the owner uses them."""
from __future__ import annotations

import html
import time

import pytest
from flask import render_template_string
from werkzeug.security import generate_password_hash

import notifier
from app import create_app
from tests.web.conftest import PASSWORD, AuthActions
from views import alerts


@pytest.fixture
def app(alert_config):
    built = create_app(alert_config)
    if "alerts" not in built.blueprints:  # until app.py registers it
        built.register_blueprint(alerts.bp)
    built.extensions["store"].create_user("alice", generate_password_hash(PASSWORD))
    yield built
    built.extensions["store"].close()


@pytest.fixture
def auth(app) -> AuthActions:
    actions = AuthActions(app.test_client())
    assert actions.login().status_code == 302
    return actions


def send_test(auth: AuthActions, next_page: str = "/tokens"):
    """Press the button on a page: POST with that page's CSRF token, follow the redirect."""
    return auth.client.post("/alerts/test", follow_redirects=True,
                            data={"csrf_token": auth.csrf_token(next_page), "next": next_page})


def settings_section(app) -> str:
    """The section as a page that includes it renders it."""
    with app.test_request_context("/tokens"):
        return render_template_string('{% include "_alert_settings.html" %}')


def test_button_sends_and_says_so(app, auth, telegram):
    page = send_test(auth)
    assert page.request.path == "/tokens"
    assert "Test alert sent: check your Telegram chat." in page.get_data(as_text=True)
    assert len(telegram.texts) == 1
    section = settings_section(app)
    assert "Telegram alerts are on" in section and "Test alert, " in section
    assert "sent</span>" in section


def test_telegram_down_is_flashed_and_shown_as_failed(app, auth, telegram):
    telegram.stop()
    page = send_test(auth).get_data(as_text=True)
    assert "Test alert not sent. Telegram unreachable (ConnectionError)" in page
    section = settings_section(app)
    assert "failed</span>" in section and "Telegram unreachable" in section


def test_without_telegram_settings_the_section_says_how_to_turn_alerts_on(app, auth, telegram):
    app.extensions["nifty_config"] = app.extensions["nifty_config"].with_overrides(
        telegram_bot_token="")
    page = send_test(auth).get_data(as_text=True)
    assert "Alerts are off: set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID." in page
    assert "none yet" in settings_section(app)
    assert telegram.request_count == 0


def test_post_needs_login_and_csrf(app, auth, telegram):
    assert auth.client.post("/alerts/test").status_code == 400  # no CSRF token
    anonymous = app.test_client()
    response = anonymous.post("/alerts/test", data={"csrf_token": AuthActions(anonymous)
                                                    .csrf_token("/login")})
    assert response.status_code == 302 and "/login" in response.location
    assert telegram.request_count == 0


def test_next_cannot_leave_the_site(auth, telegram):
    response = auth.client.post("/alerts/test", data={"csrf_token": auth.csrf_token("/tokens"),
                                                      "next": "https://evil.example/"})
    assert response.location == "/"


def test_the_section_says_when_and_by_what_the_morning_alerts_go_out(app, alert_config, store):
    assert "No login reminder or missed-run alert goes out" in settings_section(app)
    app.extensions["store"].create_run({
        "run_id": "gh", "trigger": "scheduled", "status": "succeeded",
        "started_at": time.time() - 60, "finished_at": None, "summary": "", "error": None,
        "dry_run": False})
    assert ("Daily at 09:00 IST by the GitHub workflow's morning job: a Fyers login reminder"
            in html.unescape(" ".join(settings_section(app).split())))
    scheduled = alert_config.with_overrides(scheduler_enabled=True, alert_reminder_time_ist="08:45")
    assert notifier.morning_alerts_by(scheduled, store, time.time()) == (
        "at 08:45 IST by this app's scheduler")
