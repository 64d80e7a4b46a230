"""`create_app(options)`: the sandbox Flask app, with the gate every Fyers call passes
(latency, access token, rate limits, injected 429/5xx) and state saving after changes."""
from __future__ import annotations

import json
import time

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue
from werkzeug.http import http_date

from fyers_sandbox import admin, auth, data, orders, portfolio
from fyers_sandbox.core import Refusal, Sandbox, SandboxOptions, fail, sandbox

UNKNOWN_CODE = -12345  # the unknown_code_next fault's code
LOGIN_PATHS = frozenset({"/api/v3/generate-authcode", "/api/v3/validate-authcode",
                         "/api/v3/validate-refresh-token"})


def refused(refusal: Refusal) -> ResponseReturnValue:
    """Fyers' reply past a rate limit: HTTP 429, code -429, and a Retry-After."""
    body, status = fail(-429, refusal.message, 429)
    body.headers["Retry-After"] = str(refusal.retry_after_s)
    return body, status


def gate() -> ResponseReturnValue | None:
    """Count the request, then apply latency, auth, the app's rate limits and 429/5xx
    faults; pending MPP orders catch up with the clock before any API call is answered."""
    box = sandbox()
    box.state.stats[request.path] += 1
    if request.path.startswith("/admin"):
        return None
    latency_ms = float(box.state.faults["latency_ms"])
    if latency_ms > 0:
        time.sleep(latency_ms / 1000)
    if request.path in LOGIN_PATHS:
        return None
    header = request.headers.get("Authorization", "")
    denied = auth.check_access(box, header)
    if denied is not None:
        return denied
    if box.state.take_fault("http_429_next"):
        return refused(Refusal("request limit reached", 1))
    refusal = box.limiter.check(box.options.client_id, box.state.now())
    if refusal is not None:
        return refused(refusal)
    if box.state.take_fault("http_5xx_next"):
        return Response("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                        503, mimetype="text/html")
    if box.state.take_fault("html_200_next"):
        return Response("<html><body><h1>Scheduled maintenance</h1></body></html>", 200,
                        mimetype="text/html")
    if box.state.take_fault("unknown_code_next"):
        return fail(UNKNOWN_CODE, "Something Fyers has never documented")
    orders.catch_up(box)
    return None


def after(response: Response) -> Response:
    """Count the reply's status; save the state after anything that may have changed it.
    The reply's Date is the sandbox clock: Fyers' time, which the bot reads the market hours
    by, as it does from Fyers' replies."""
    box = sandbox()
    response.headers["Date"] = http_date(box.state.now_epoch())
    if not request.path.startswith("/admin") and response.is_json \
            and box.state.take_fault("missing_field_next"):
        response.set_data(json.dumps(without_symbols(response.get_json())))
    box.state.statuses[response.status_code] += 1
    if request.method != "GET":
        box.save()
    return response


def without_symbols(body: dict) -> dict:
    """The reply with `symbol` taken out of every row of its lists (a missing-field fault)."""
    return {key: [{k: v for k, v in row.items() if k != "symbol"} if isinstance(row, dict)
                  else row for row in value] if isinstance(value, list) else value
            for key, value in body.items()}


def create_app(options: SandboxOptions | None = None) -> Flask:
    """The sandbox app; one `Sandbox` (state, market, limiter) per app."""
    app = Flask(__name__)
    app.extensions["fyers_sandbox"] = Sandbox(options or SandboxOptions())
    app.before_request(gate)
    app.after_request(after)
    for module in (auth, portfolio, orders, data, admin):
        app.register_blueprint(module.bp)
    return app
