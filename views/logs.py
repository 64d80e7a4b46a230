"""Logs: free-text, level, date and run filters in the URL, infinite scroll by keyset cursor."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, render_template, request

import india_time
import paper_mode
from auth import login_required
from store.base import LogPage
from store.common import unsearchable
from views import get_config, get_store

bp = Blueprint("logs", __name__)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FILTER_KEYS = ("q", "level", "from", "to", "run")


@dataclass
class LogQuery:
    """The filters of a logs URL: `args` echo the form, `search` feeds store.search_logs."""

    args: dict[str, str]
    search: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def parse_query(values: Mapping[str, str]) -> LogQuery:
    """Read q, level, from, to (IST dates YYYY-MM-DD) and run; a bad value (or a search with
    no word in it) sets `error`."""
    args = {key: values.get(key, "").strip() for key in FILTER_KEYS}
    query = LogQuery({key: value for key, value in args.items() if value})
    level = args["level"].upper()
    if level and level not in LEVELS:
        query.error = f"Unknown level {args['level']!r}: pick one of {', '.join(LEVELS)}."
        return query
    if unsearchable(args["q"]):  # the search finds words; punctuation only separates them
        query.error = f"Nothing to search for in “{args['q']}”: search words or numbers."
        return query
    try:
        since = india_time.day_bounds(args["from"])[0] if args["from"] else None
        until = india_time.day_bounds(args["to"])[1] if args["to"] else None
    except ValueError:
        query.error = "Dates must look like 2026-11-26 (from and to are IST days, inclusive)."
        return query
    if since is not None and until is not None and since >= until:
        query.error = "The 'from' date is after the 'to' date: swap them."
        return query
    query.search = {"text": args["q"] or None, "level": level or None, "since": since,
                    "until": until, "run_id": args["run"] or None}
    return query


@bp.app_template_filter("log_parts")
def log_parts(message: str) -> tuple[str, str]:
    """(first line, the rest) of a log message: a traceback or other detail stays behind a
    "Details" toggle, never in the main view."""
    headline, _, detail = message.partition("\n")
    return headline, detail.strip("\n")


def fetch_page(query: LogQuery, before: str | None) -> LogPage:
    """One page of matching rows; a malformed cursor becomes the query's error."""
    if not query.error:
        try:
            return get_store().search_logs(**query.search, before=before or None,
                                           limit=get_config().logs_page_size)
        except ValueError:
            query.error = "That link to older logs is broken: start again from the newest."
    return LogPage([], None)


def run_books(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Which book each run of `rows` traded in, as its "run" link says it ("paper", …): the
    logs are shared by both books, the runs are not. One lookup per run, not per row."""
    store, config = get_store(), get_config()
    found = map(store.find_run, {row["run_id"] for row in rows if row["run_id"]})
    return {run["run_id"]: paper_mode.book_label(config, holder.book)
            for holder, run in filter(None, found)}


@bp.route("/logs")
@login_required
def index() -> tuple[str, int]:
    """The logs page with the newest matching rows (or older ones after `before`)."""
    query = parse_query(request.args)
    page = fetch_page(query, request.args.get("before"))
    return render_template("logs.html", query=query, page=page, levels=LEVELS,
                           books=run_books(page.rows)), 400 if query.error else 200


@bp.route("/logs/rows")
@login_required
def rows() -> tuple[str, int]:
    """The next rows and the next scroll trigger, for htmx infinite scroll."""
    query = parse_query(request.args)
    page = fetch_page(query, request.args.get("before"))
    return render_template("_log_rows.html", query=query, page=page,
                           books=run_books(page.rows)), 400 if query.error else 200
