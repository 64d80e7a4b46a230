"""`create_app(options)`: the sandbox Flask app, with the gate every Fyers call passes
(latency, access token, rate limits, injected 429/5xx) and state saving after changes."""
from __future__ import annotations

import time

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

from fyers_sandbox import admin, auth, data, orders, portfolio
from fyers_sandbox.core import Sandbox, SandboxOptions, fail, sandbox

LOGIN_PATHS = frozenset({"/api/v3/generate-authcode", "/api/v3/validate-authcode",
                         "/api/v3/validate-refresh-token"})


def rate_limited() -> ResponseReturnValue:
    """Fyers' reply past a rate limit: HTTP 429, code -429, and a Retry-After."""
    body, status = fail(-429, "request limit reached", 429)
    body.headers["Retry-After"] = "1"
    return body, status


def gate() -> ResponseReturnValue | None:
    """Count the request, then apply latency, auth, rate limits and 429/5xx faults."""
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
    if box.state.take_fault("http_429_next") or not box.limiter.allow(header):
        return rate_limited()
    if box.state.take_fault("http_5xx_next"):
        return Response("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                        503, mimetype="text/html")
    return None


def after(response: Response) -> Response:
    """Count the reply's status; save the state after anything that may have changed it."""
    box = sandbox()
    box.state.statuses[response.status_code] += 1
    if request.method != "GET":
        box.save()
    return response


def create_app(options: SandboxOptions | None = None) -> Flask:
    """The sandbox app; one `Sandbox` (state, market, limiter) per app."""
    app = Flask(__name__)
    app.extensions["fyers_sandbox"] = Sandbox(options or SandboxOptions())
    app.before_request(gate)
    app.after_request(after)
    for module in (auth, portfolio, orders, data, admin):
        app.register_blueprint(module.bp)
    return app
