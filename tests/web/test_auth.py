"""Login, logout, lockout, session cap and expiry, CSRF, open redirects and security headers."""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from auth import BAD_LOGIN, SESSION_COOKIE, start_session
from tests.web.conftest import AuthActions

UNLIMITED = "100000 per minute"


def test_pages_need_login(client):
    response = client.get("/trading")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/trading")


def test_a_polled_fragment_sends_the_whole_page_to_the_login(client):
    # The run page polls its live part; when the session ends meanwhile, the browser goes to
    # the login form (and back to the run afterwards), not the form into the run's card.
    response = client.get("/strategy/runs/r1/live", headers={
        "HX-Request": "true", "HX-Current-URL": "http://localhost/strategy/runs/r1?x=1"})
    assert response.status_code == 401 and response.get_data() == b""
    target = urlsplit(response.headers["HX-Redirect"])
    assert target.path == "/login" and parse_qs(target.query)["next"] == ["/strategy/runs/r1?x=1"]


def test_login_then_logout(auth, client):
    response = auth.login()
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie.http_only and cookie.same_site == "Lax"
    assert "alice" in client.get("/").get_data(as_text=True)
    response = auth.logout()
    assert response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_logout_ends_the_session_on_the_server(auth, client, app, db):
    auth.login()
    token = client.get_cookie(SESSION_COOKIE).value
    auth.logout()
    assert db.list_sessions("alice") == []
    other = app.test_client()
    other.set_cookie(SESSION_COOKIE, token)
    assert other.get("/").status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(auth):
    wrong = auth.login(password="nope")
    unknown = auth.login(username="mallory", password="nope")
    assert wrong.status_code == unknown.status_code == 401
    assert BAD_LOGIN in wrong.get_data(as_text=True)
    assert BAD_LOGIN in unknown.get_data(as_text=True)


def alert_text(response) -> str:
    """The flashed message of a page."""
    return re.search(r'role="alert">([^<]*)<', response.get_data(as_text=True)).group(1)


def test_a_locked_user_is_answered_like_an_unknown_one(app, auth):
    for _ in range(app.extensions["nifty_config"].max_failed_logins):
        auth.login(password="wrong")
    locked, unknown = auth.login(), auth.login(username="mallory", password="nope")
    assert locked.status_code == unknown.status_code == 401
    assert alert_text(locked) == alert_text(unknown) == BAD_LOGIN


def test_lockout_after_failures_until_unlocked(app, auth, runner, db):
    limit = app.extensions["nifty_config"].max_failed_logins
    for _ in range(limit):
        assert auth.login(password="wrong").status_code == 401
    locked = auth.login()
    assert locked.status_code == 401 and "locked" in locked.get_data(as_text=True)
    result = runner.invoke(args=["users", "unlock", "alice"])
    assert result.exit_code == 0, result.output
    assert auth.login().status_code == 302


def log_in_together(app, passwords: list[str]) -> list[int]:
    """Post each password for alice from its own client, all at the same moment."""
    clients = [AuthActions(app.test_client()) for _ in passwords]
    forms = [{"csrf_token": auth.csrf_token(), "username": "alice", "password": password}
             for auth, password in zip(clients, passwords, strict=True)]
    barrier = threading.Barrier(len(clients))

    def attempt(index: int) -> int:
        barrier.wait(30)
        return clients[index].client.post("/login", data=forms[index]).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(attempt, range(len(clients))))


def test_simultaneous_wrong_passwords_all_count(config, make_app):
    app = make_app(config.with_overrides(max_failed_logins=100, login_rate_limit=UNLIMITED))
    assert log_in_together(app, ["wrong"] * 8) == [401] * 8
    assert app.extensions["store"].get_user("alice")["failed_logins"] == 8


def test_simultaneous_wrong_passwords_lock_even_the_right_one_out(config, make_app, make_auth):
    app = make_app(config.with_overrides(login_rate_limit=UNLIMITED))
    assert log_in_together(app, ["wrong"] * 12) == [401] * 12
    assert app.extensions["store"].get_user("alice")["locked_until"] > time.time()
    assert make_auth(app.test_client()).login().status_code == 401


def test_success_resets_the_failure_count(app, auth, db):
    limit = app.extensions["nifty_config"].max_failed_logins
    for _ in range(limit - 1):
        auth.login(password="wrong")
    assert auth.login().status_code == 302
    assert db.get_user("alice")["failed_logins"] == 0


def test_fourth_login_ends_the_oldest_session(app, make_auth):
    clients = [app.test_client() for _ in range(4)]
    for client in clients:
        assert make_auth(client).login().status_code == 302
    assert clients[0].get("/").status_code == 302  # the oldest was ended
    for client in clients[1:]:
        assert client.get("/").status_code == 200


def test_idle_session_expires(app, logged_in, client, db):
    idle_s = app.extensions["nifty_config"].session_idle_minutes * 60
    (session,) = db.list_sessions("alice")
    db.touch_session(session["token_hash"], time.time() - idle_s - 1)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db.list_sessions("alice") == []


def test_post_without_csrf_token_is_refused(logged_in, client, password):
    response = client.post("/logout")
    assert response.status_code == 400
    assert "reload the page" in response.get_data(as_text=True)
    response = client.post("/login", data={"username": "alice", "password": password})
    assert response.status_code == 400


@pytest.mark.parametrize("target", ["https://evil.example", "//evil", "/\\evil.example",
                                    "http:/evil"])
def test_next_never_leaves_the_site(auth, target):
    response = auth.login(next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["//[", "https://[", "http://[::1", "/\r\n", "/logs\x00",
                                    "/\tx"])
def test_an_unparsable_next_goes_to_the_dashboard_with_one_session(auth, client, db, target):
    response = auth.login(next=quote(target, safe=""))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert len(db.list_sessions("alice")) == 1 and client.get_cookie(SESSION_COOKIE)


def test_next_goes_back_to_the_page(auth):
    assert auth.login(next="/logs?level=ERROR").headers["Location"] == "/logs?level=ERROR"


def test_security_headers_on_every_response(client, logged_in):
    for path in ("/login", "/", "/static/app.js", "/no-such-page"):
        headers = client.get(path).headers
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]


def test_logged_in_pages_are_never_stored_but_static_files_may_be(client, logged_in):
    for path in ("/", "/logs", "/account", "/tokens", "/backtests", "/no-such-page"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path
    assert "no-store" not in client.get("/static/app.js").headers.get("Cache-Control", "")


def proxied(app, client_ip: str, **headers: str) -> AuthActions:
    """A browser whose requests reach the app through a proxy at 198.51.100.7."""
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=client_ip,
                               **{f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return AuthActions(client)


@pytest.mark.parametrize(("proxies", "second_client_codes"), [(1, [401]), (0, [429])])
def test_the_login_rate_limit_buckets_by_the_client_behind_trusted_proxies(
        config, make_app, proxies, second_client_codes):
    app = make_app(config.with_overrides(login_rate_limit="2 per minute",
                                         trusted_proxies=proxies))
    first, second = proxied(app, "203.0.113.1"), proxied(app, "203.0.113.2")
    assert [first.login("nobody", "x").status_code for _ in range(3)] == [401, 401, 429]
    assert [second.login("nobody", "x").status_code] == second_client_codes


def test_behind_a_trusted_tls_proxy_the_session_cookie_is_secure(config, make_app):
    app = make_app(config.with_overrides(trusted_proxies=1))
    browser = proxied(app, "203.0.113.3", x_forwarded_proto="https",
                      x_forwarded_host="shop.example", referer="https://shop.example/login")
    assert browser.login().status_code == 302
    assert browser.client.get_cookie(SESSION_COOKIE, domain="localhost").secure


def test_unknown_page_is_a_page_not_a_traceback(logged_in, client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Back to the dashboard" in response.get_data(as_text=True)


def test_login_rate_limit_per_ip(config, make_app, make_auth):
    app = make_app(config.with_overrides(login_rate_limit="3 per minute"))
    auth = make_auth(app.test_client())
    codes = [auth.login("nobody", "x").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_session_ends_at_its_absolute_lifetime(config, make_app):
    app = make_app(config.with_overrides(session_idle_minutes=10**6, session_max_hours=1))
    client = app.test_client()
    with app.app_context():
        old = start_session(app.extensions["store"], "alice", now=time.time() - 2 * 3600)
        fresh = start_session(app.extensions["store"], "alice")
    client.set_cookie(SESSION_COOKIE, old)
    assert client.get("/").status_code == 302
    client.set_cookie(SESSION_COOKIE, fresh)
    assert client.get("/").status_code == 200


def test_cookie_is_secure_when_the_app_is_served_over_https(config, make_app, make_auth):
    app = make_app(config.with_overrides(
        fyers_redirect_uri="https://shop.example/tokens/callback"))
    auth = make_auth(app.test_client())
    auth.login()
    assert auth.client.get_cookie(SESSION_COOKIE).secure


def test_an_unexpected_error_is_a_page_without_a_traceback(config, make_app):
    app = make_app(config)

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "Something went wrong" in page
    assert "secret internals" not in page and "Traceback" not in page
