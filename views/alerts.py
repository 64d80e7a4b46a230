"""Alerts settings: the "Send test alert" action and the data of the `_alert_settings.html` section."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request
from werkzeug.wrappers import Response

import notifier
from auth import login_required, safe_next
from views import get_config, get_store

bp = Blueprint("alerts", __name__)


@bp.app_context_processor
def alert_settings_helper() -> dict[str, Any]:
    """Give every template `alert_settings()`, which the included section calls."""
    return {"alert_settings": lambda: notifier.alert_settings(get_config(), get_store())}


@bp.route("/alerts/test", methods=("POST",))
@login_required
def send_test() -> Response:
    """Send a test message now and say whether Telegram accepted it."""
    error = notifier.send_test_alert(get_config(), get_store())
    if error is None:
        flash("Test alert sent: check your Telegram chat.", "success")
    else:
        flash(f"Test alert not sent. {error}", "danger")
    return redirect(safe_next(request.form.get("next")))
