"""Login through the real SDK: the auth-code page, code exchange, refresh and its refusal."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from broker import AuthFailed, FyersBroker, TokenExpired
from config import IST
from fyers_sandbox.testing import start_sandbox


class FormReader(HTMLParser):
    """Collects the approve form's action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action") or ""
        if tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value") or ""


def approve_in_browser(login_url: str) -> dict[str, list[str]]:
    """Open the login page, press Approve, and return the redirect's query."""
    page = requests.get(login_url, timeout=10)
    assert page.status_code == 200 and "<button" in page.text and "viewport" in page.text
    form = FormReader()
    form.feed(page.text)
    reply = requests.post(urljoin(login_url, form.action), data=form.fields,
                          allow_redirects=False, timeout=10)
    assert reply.status_code == 302
    location = reply.headers["Location"]
    assert location.startswith(form.fields["redirect_uri"])
    return parse_qs(urlsplit(location).query)


def next_six_am_ist(now: float) -> float:
    """The next 06:00 in India after `now`, when Fyers' access tokens end."""
    moment = datetime.fromtimestamp(now, IST)
    six = moment.replace(hour=6, minute=0, second=0, microsecond=0)
    return (six if six > moment else six + timedelta(days=1)).timestamp()


@pytest.fixture
def legacy_sandbox(config):
    """A sandbox that still honours refresh tokens, as Fyers did before April 2026."""
    with start_sandbox(allow_refresh=True) as handle:
        yield handle, config.with_overrides(fyers_sandbox_url=handle.url)


def test_auth_code_login_gives_working_tokens(sandbox_config, sandbox):
    broker = FyersBroker(sandbox_config)
    query = approve_in_browser(broker.login_url("state42"))
    assert query["state"] == ["state42"] and query["s"] == ["ok"]

    before = time.time()
    tokens = broker.exchange_auth_code(query["auth_code"][0])

    assert tokens.refresh_token
    # the next 06:00 IST after the exchange, which may straddle one
    assert tokens.access_expires_at in {next_six_am_ist(before), next_six_am_ist(time.time())}
    assert FyersBroker(sandbox_config, tokens.access_token).profile()["fy_id"]


def test_an_auth_code_works_once(sandbox_config, sandbox):
    broker = FyersBroker(sandbox_config)
    code = approve_in_browser(broker.login_url("s"))["auth_code"][0]
    broker.exchange_auth_code(code)
    with pytest.raises(AuthFailed, match="-437"):
        broker.exchange_auth_code(code)


def test_wrong_app_secret_is_refused(sandbox_config, sandbox):
    broker = FyersBroker(sandbox_config)
    code = approve_in_browser(broker.login_url("s"))["auth_code"][0]
    wrong = sandbox_config.with_overrides(fyers_secret_key="not-the-secret")
    with pytest.raises(AuthFailed):
        FyersBroker(wrong).exchange_auth_code(code)


def test_refresh_gives_a_new_access_token_with_the_configured_lifetime(legacy_sandbox):
    sandbox, settings = legacy_sandbox
    sandbox.admin("tokens", access_ttl_s=600)
    _, refresh = sandbox.login()

    tokens = FyersBroker(settings).refresh_access_token(refresh, "1234")

    assert tokens.refresh_token == refresh
    assert tokens.access_expires_at == pytest.approx(time.time() + 600, abs=30)
    assert FyersBroker(settings, tokens.access_token).funds()


def test_refresh_is_refused_by_default_as_fyers_does_since_april_2026(sandbox_config, sandbox):
    _, refresh = sandbox.login()
    with pytest.raises(AuthFailed, match=r"2FA once every trading day \(code -501\)"):
        FyersBroker(sandbox_config).refresh_access_token(refresh, "1234")


def test_refresh_with_an_unknown_token_or_bad_pin_is_refused(legacy_sandbox):
    sandbox, settings = legacy_sandbox
    _, refresh = sandbox.login()
    broker = FyersBroker(settings)
    with pytest.raises(AuthFailed, match="Invalid refresh token"):
        broker.refresh_access_token("made-up", "1234")
    with pytest.raises(AuthFailed, match="Invalid PIN"):
        broker.refresh_access_token(refresh, "12")


def test_an_expired_access_token_is_refused(sandbox_config, sandbox):
    sandbox.admin("tokens", access_ttl_s=0)
    access, _ = sandbox.login()
    with pytest.raises(TokenExpired, match="-8"):
        FyersBroker(sandbox_config, access).profile()
