"""Logs page: search, level and date filters in the URL, keyset infinite scroll, bad input."""
from __future__ import annotations

import html
import re

import pytest

import india_time
import paper_mode

START = 1_764_000_000.0  # 24 Nov 2025 21:30 IST


@pytest.fixture
def many_logs(db):
    """120 INFO lines one minute apart, every tenth an ERROR mentioning 'refused'."""
    db.insert_logs([{"ts": START + i * 60, "level": "ERROR" if i % 10 == 0 else "INFO",
                     "logger": "executor", "run_id": "run-x" if i < 5 else None, "extra": {},
                     "message": f"order {i:03d} refused" if i % 10 == 0 else f"line {i:03d}"}
                    for i in range(120)])


def messages(page: str) -> list[str]:
    return re.findall(r'<div class="log-message">([^<]*)</div>', page)


def next_url(page: str) -> str | None:
    match = re.search(r'hx-get="([^"]+)"', page)
    return html.unescape(match.group(1)) if match else None


def test_infinite_scroll_walks_every_row_once(logged_in, client, many_logs):
    page = client.get("/logs?to=2025-11-25").get_data(as_text=True)  # not the login's own line
    seen = messages(page)
    assert seen[0] == "line 119" and len(seen) == 50
    url = next_url(page)
    while url:
        assert url.startswith("/logs/rows?") and "to=2025-11-25" in url
        fragment = client.get(url).get_data(as_text=True)
        assert "<nav" not in fragment  # a fragment, not a page
        seen += messages(fragment)
        url = next_url(fragment)
    assert len(seen) == 120 == len(set(seen))


def test_filters_live_in_the_url_and_carry_into_the_next_page(logged_in, client, many_logs):
    page = client.get("/logs?level=ERROR&q=refused").get_data(as_text=True)
    assert messages(page) == [f"order {i:03d} refused" for i in range(110, -1, -10)]
    assert 'value="refused"' in page and "selected" in page


def test_date_filter_uses_ist_days(logged_in, client, db):
    day = "2026-01-15"
    start, end = india_time.day_bounds(day)
    db.insert_logs([{"ts": ts, "level": "INFO", "logger": "t", "message": name, "run_id": None,
                     "extra": {}} for ts, name in ((start - 1, "before"), (start, "first"),
                                                   (end - 1, "last"), (end, "after"))])
    page = client.get(f"/logs?from={day}&to={day}").get_data(as_text=True)
    assert messages(page) == ["last", "first"]


def test_run_filter(logged_in, client, many_logs):
    page = client.get("/logs?run=run-x").get_data(as_text=True)
    assert len(messages(page)) == 5


@pytest.mark.parametrize("query, message", [
    ("from=26-11-2026", "Dates must look like"),
    ("to=2026-02-30", "Dates must look like"),
    ("from=2026-03-02&to=2026-03-01", "after the"),
    ("level=LOUD", "Unknown level"),
    ("before=garbage", "broken"),
    ("q=%25%25", "Nothing to search for in “%%”: search words or numbers."),
])
def test_bad_filters_get_a_message_not_a_500(logged_in, client, many_logs, query, message):
    response = client.get(f"/logs?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in html.unescape(page) and messages(page) == []


def test_no_match_says_what_to_do(logged_in, client):
    assert "No log lines match" in client.get("/logs?q=zzz").get_data(as_text=True)


def test_a_traceback_stays_behind_a_details_toggle(logged_in, client, db):
    db.insert_logs([{"ts": START, "level": "ERROR", "logger": "executor", "run_id": "run-x",
                     "extra": {}, "message": "run failed\nTraceback (most recent call last):\n"
                                            "  File \"executor.py\", line 1\nKeyError: 'x'"}])
    page = client.get("/logs?q=run+failed").get_data(as_text=True)
    assert messages(page) == ["run failed"]
    assert re.search(r"<details[^>]*><summary[^>]*>Details</summary><pre[^>]*>Traceback \(most "
                     r"recent call last\):\n  File &#34;executor.py&#34;, line 1\nKeyError", page)


def test_the_run_link_is_a_tap_target(logged_in, client, many_logs):
    page = client.get("/logs?run=run-x").get_data(as_text=True)
    assert re.search(r'<a class="log-run tap-target[^"]*" href="/strategy/runs/run-x"', page)


def book_runs(db, lines: int = 60) -> None:
    """A paper run and a real run, and `lines` log lines taking turns: the paper run's, the
    real run's, and one of no run."""
    for book in ("paper", "real"):
        db.for_book(book).create_run({
            "run_id": f"run-{book}", "trigger": "manual", "status": "succeeded",
            "started_at": START, "finished_at": START + 5, "summary": "", "error": None,
            "dry_run": False, "book": book})
    db.insert_logs([{"ts": START + i, "level": "INFO", "logger": "order_flow", "extra": {},
                     "run_id": ("run-paper", "run-real", None)[i % 3], "message": f"line {i}"}
                    for i in range(lines)])


def run_links(page: str) -> set[tuple[str, str]]:
    """(run id, link text) of every run link of a page."""
    return set(re.findall(r'href="/strategy/runs/([^"]+)"[^>]*>([^<]+)</a>', page))


@pytest.mark.parametrize("paper", [False, True])
def test_a_run_s_lines_say_which_book_it_traded_in(logged_in, client, db, config, paper):
    """The logs are shared by both books: every line of a run says whose it is, on the page
    and in the rows infinite scroll adds, whichever book the pages show."""
    paper_mode.switch(config, db, paper, "test")
    book_runs(db)
    page = client.get("/logs?to=2025-11-25").get_data(as_text=True)
    more = client.get(next_url(page)).get_data(as_text=True)
    marked = {("run-paper", "paper run"), ("run-real", "sandbox run")}  # FYERS_MODE=sandbox
    assert run_links(page) == run_links(more) == marked
    assert len(messages(page)) == 50 and len(messages(more)) == 10


def test_in_live_mode_a_real_run_s_lines_say_real_money(live_app):
    app, auth = live_app
    book_runs(app.extensions["store"])
    page = auth.client.get("/logs?to=2025-11-25").get_data(as_text=True)
    assert run_links(page) == {("run-paper", "paper run"), ("run-real", "real-money run")}
