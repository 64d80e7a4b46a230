"""About a thousand malformed and hostile requests against the web app, logged in and logged
out: never a 5xx, never a change to the data, never a protected page without a login, and
redirects only to this site (or, for "Log in to Fyers", to the Fyers login page)."""
from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import sqlite_path
from login_limit import close_login_limit
from tests.web.conftest import PASSWORD, AuthActions

PUBLIC = ("/login", "/static/")  # what a logged-out visitor may read
GET_PAGES = ("/", "/trading", "/logs", "/logs/rows", "/tokens", "/tokens/login", "/strategy",
             "/strategy/status", "/backtests", "/account", "/login", "/login/code",
             "/tokens/callback", "/strategy/runs/run-b", "/backtests/none/series.json")
POST_PAGES = ("/login", "/logout", "/account", "/login/code", "/tokens/refresh",
              "/strategy/run", "/alerts/test")
QUERY_KEYS = ("q", "level", "from", "to", "run", "before", "next", "state", "auth_code")
INJECTIONS = ('{"$gt": ""}', "' OR 1=1 --", '"unterminated', "NEAR(", "*", "a AND", "a OR",
              "NOT", "^x", "x:y", "(", ")", "\x00", "%", "_", "\\", "🙂 ünïcode", "a" * 5000,
              "<script>alert(1)</script>", "1e309", "nan,1", "inf,abc", "-1,", ",", "0,0")
BAD_DATES = ("2026-13-45", "9999-12-31", "0001-01-01", "2026-02-30", "26-11-2026", "today",
             "2026-11-26T00:00", "99999-01-01", "-2026-01-01", "2026-1-1")
EVIL_NEXT = ("https://evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example",
             "javascript:alert(1)", "http:evil.example", "/%2F/evil.example", "https:/evil.example",
             " //evil.example", "\t//evil.example", "/\t/evil.example", "///evil.example",
             "//[", "https://[", "http://[::1")  # the last three: unparsable, not just foreign
TRAVERSALS = ("/static/../config.py", "/static/%2e%2e/app.py", "/static/..%2fconfig.py",
              "/static/%2e%2e%2fconfig.py", "/static/....//config.py", "/static//etc/passwd",
              "/backtests/..%2f..%2fconfig.py", "/backtests/../series.json",
              "/strategy/runs/..%2f..%2fconfig.py", "/static/vendor/../../app.py")
FLOOD = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])
text = st.text(max_size=60)
queries = st.dictionaries(st.sampled_from(QUERY_KEYS) | text,
                          text | st.sampled_from(INJECTIONS + BAD_DATES + EVIL_NEXT), max_size=4)


def snapshot(config) -> dict[str, object]:
    """Row counts of every table, and the rows of the money tables (the app's own log lines
    are expected to grow: they are its audit trail)."""
    with sqlite3.connect(sqlite_path(config.database_url)) as conn:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'") if not name.startswith("logs")]
        counts = {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                  for name in tables}
        rows = {name: conn.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()
                for name in ("trades", "orders", "positions", "runs", "fyers_tokens")}
    return {"counts": counts, "rows": rows}


def fyers_login_url(app_) -> str:
    """Where "Log in to Fyers" may send the browser: the sandbox's auth-code page."""
    return f"{app_.extensions['nifty_config'].fyers_sandbox_url}/api/v3/generate-authcode?"


def check(response, path: str, logged_in: bool, fyers_login: str) -> None:
    """The rules every answer to a hostile request keeps."""
    status = response.status_code
    assert status < 500, f"{status} for {path!r}"
    if not logged_in and status == 200:
        assert urlsplit(path).path.startswith(PUBLIC), f"{path!r} answered without a login"
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        parts = urlsplit(location.replace("\\", "/"))
        relative = not parts.scheme and not parts.netloc and location.startswith("/") \
            and not location.startswith(("//", "/\\"))
        # Werkzeug's routing redirects (merged slashes) name the request's own host in full.
        own_host = parts.scheme == "http" and parts.netloc == "localhost"
        assert relative or own_host or location.startswith(fyers_login), f"{path!r} → {location!r}"


class Visitors:
    """A logged-in and a logged-out client firing the same request; checks each answer."""

    def __init__(self, app_) -> None:
        self.inside = app_.test_client()
        assert AuthActions(self.inside).login().status_code == 302
        self.outside = app_.test_client()
        self.fyers_login = fyers_login_url(app_)

    def clients(self) -> Iterator[tuple[object, bool]]:
        yield self.inside, True
        yield self.outside, False

    def get(self, path: str, **query: str) -> None:
        for client, logged_in in self.clients():
            response = client.get(path, query_string=query or None)
            check(response, path, logged_in, self.fyers_login)

    def post(self, path: str, form: dict[str, str]) -> None:
        for client, logged_in in self.clients():
            response = client.post(path, data=form)
            check(response, path, logged_in, self.fyers_login)
            assert response.status_code in (302, 400, 401, 405, 429), (path, form,
                                                                       response.status_code)


@pytest.fixture
def visitors(app, seeded, config) -> Iterator[Visitors]:
    """The two clients on a seeded store; afterwards the data must be as before."""
    before = snapshot(config)
    crowd = Visitors(app)
    yield crowd
    assert snapshot(config) == {**before, "counts": {**before["counts"], "sessions":
                                                     before["counts"]["sessions"] + 1}}


def test_a_fixed_list_of_hostile_requests(visitors):
    for value in INJECTIONS:
        visitors.get("/logs", q=value)
        visitors.get("/logs/rows", q=value, before=value)
        visitors.get("/logs", run=value, level=value)
    for value in BAD_DATES:
        visitors.get("/logs", **{"from": value})
        visitors.get("/logs/rows", to=value)
        visitors.get("/logs", **{"from": "2026-11-26", "to": value})
    visitors.get("/logs", q="x" * 100_000)
    visitors.get("/logs/rows", q="a " * 50_000, before="1" * 100_000)
    for target in (*EVIL_NEXT, "ünïcode", "\x00"):
        visitors.get("/tokens/login")  # remembers a state to compare the callback's with
        visitors.get("/tokens/callback", state=target, auth_code=target)
        visitors.get("/login", next=target)
    for path in TRAVERSALS:
        for client, _ in visitors.clients():
            response = client.get(path)
            assert response.status_code in (308, 404, 400, 302), (path, response.status_code)
            assert b"SANDBOX_SECRET_KEY" not in response.data and b"root:" not in response.data
    for run_id in ("nope", "run-a' OR '1'='1", "%00", "x" * 2000, "..", "run-b;DROP TABLE runs"):
        visitors.get(f"/strategy/runs/{quote(run_id, safe='')}")
        visitors.get(f"/backtests/{quote(run_id, safe='')}")
        visitors.get(f"/backtests/{quote(run_id, safe='')}/trades.csv")
        visitors.get("/strategy/status", run=run_id)
    for path in POST_PAGES:
        visitors.post(path, {})
        visitors.post(path, {"csrf_token": "forged", "username": "alice", "password": PASSWORD,
                             "code": "000000", "next": "https://evil.example"})


@FLOOD
@given(path=st.sampled_from(GET_PAGES), query=queries)
def test_random_queries_on_every_page(visitors, path, query):
    visitors.get(path, **query)


@FLOOD
@given(segment=st.text(min_size=1, max_size=40), page=st.sampled_from(
    ("/strategy/runs/{}", "/backtests/{}", "/backtests/{}/series.json", "/static/{}",
     "/backtests/{}/equity.csv", "/{}")))
def test_random_paths(visitors, segment, page):
    visitors.get(page.format(quote(segment, safe="/%")))


@FLOOD
@given(path=st.sampled_from(POST_PAGES),
       form=st.dictionaries(st.sampled_from(("csrf_token", "username", "password", "code",
                                              "next")) | text, text, max_size=5))
def test_random_forms_without_a_valid_csrf_token(visitors, path, form):
    visitors.post(path, form)


@FLOOD
@given(path=st.sampled_from(("/account", "/alerts/test", "/login")),
       form=st.fixed_dictionaries({}, optional={
           "username": text, "password": text, "code": text,
           "next": st.sampled_from(EVIL_NEXT) | text}))
def test_hostile_forms_with_a_valid_csrf_token(visitors, path, form):
    for client, logged_in in visitors.clients():
        token = AuthActions(client).csrf_token("/account" if logged_in else "/login")
        response = client.post(path, data={**form, "csrf_token": token})
        check(response, path, logged_in, visitors.fyers_login)


@FLOOD
@given(session=text, flask_session=text, path=st.sampled_from(GET_PAGES))
def test_forged_session_cookies_never_log_anyone_in(app, seeded, session, flask_session, path):
    client = app.test_client()
    client.set_cookie("nifty_session", session)
    client.set_cookie("session", flask_session)
    response = client.get(path)
    check(response, path, False, fyers_login_url(app))


@pytest.mark.parametrize("target", EVIL_NEXT)
def test_logging_in_never_sends_the_browser_off_site(app, target):
    client = app.test_client()
    token = AuthActions(client).csrf_token()
    response = client.post("/login", query_string={"next": target},
                           data={"csrf_token": token, "username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    check(response, "/login", True, "")


@pytest.mark.parametrize("target", ["//[", "https://[", "http://[::1", "/\r\n"])
def test_an_unparsable_next_after_an_action_goes_to_the_dashboard(app, target):
    client = app.test_client()
    assert AuthActions(client).login().status_code == 302
    token = AuthActions(client).csrf_token("/tokens")
    response = client.post("/alerts/test", data={"csrf_token": token, "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def store_log_rows(app) -> list[dict]:
    """Every log row in the app's store, once what is queued is written."""
    store = app.extensions["store"]
    for handler in logging.getLogger().handlers:
        if getattr(handler, "store", None) is store:
            handler.flush()
    return walk_logs(store)


def walk_logs(store) -> list[dict]:
    rows, before = [], None
    while True:
        page = store.search_logs(limit=500, before=before)
        rows += page.rows
        if page.next_before is None:
            return rows
        before = page.next_before


def test_a_login_flood_is_one_log_line_not_a_row_per_request(app):
    client = app.test_client()
    form = {"csrf_token": AuthActions(client).csrf_token(), "username": "mallory",
            "password": "guess"}
    before = len(store_log_rows(app))
    codes = Counter(client.post("/login", data=form).status_code for _ in range(2000))
    assert codes[401] + codes[429] == 2000 and codes[401] <= 10
    close_login_limit(app)  # what the minute's timer does
    rows = store_log_rows(app)
    assert [row["message"] for row in rows[:len(rows) - before]] == [
        f"refused {codes[429]:,} POST /login attempts from 127.0.0.1 in the last minute "
        "(over LOGIN_RATE_LIMIT)"]


def test_a_locked_database_is_named_on_the_page_not_a_bare_error(app):
    """Another program holds the SQLite file past the busy timeout while the owner logs in:
    the page names the database and where the error went, as a run's failure does."""
    client = app.test_client()
    form = {"csrf_token": AuthActions(client).csrf_token(), "username": "alice",
            "password": PASSWORD}
    other = sqlite3.connect(sqlite_path(app.extensions["nifty_config"].database_url),
                            isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        response = client.post("/login", data=form)
    finally:
        other.execute("ROLLBACK")
        other.close()
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "The bot&#39;s database could not be used" in page and "locked" in page
    assert "on the web app&#39;s console" in page and "Traceback" not in page
    assert client.post("/login", data=form).status_code == 302  # once released, it works
