"""The backtest report in Debian's Chromium: both charts draw under the CSP, without errors."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

import backtest
from app import create_app
from tests.backtest.scenario import SCENARIO_ARGS
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app_url(config, scenario_dir) -> Iterator[str]:
    """The app on a free loopback port, with one saved backtest and a user."""
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS], config) == 0
    app = create_app(config)
    app.extensions["store"].create_user("alice", generate_password_hash(PASSWORD))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["store"].close()


def test_report_draws_equity_and_drawdown(app_url, browser):
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{app_url}/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{app_url}/backtests")
    page.click("table a")
    page.wait_for_function(
        "() => window.Chart !== undefined && Chart.getChart('backtest-drawdown') !== undefined")
    points = page.evaluate("() => ['backtest-equity', 'backtest-drawdown'].map("
                           "(id) => Chart.getChart(id).data.datasets[0].data.length)")
    page.close()
    assert points == [30, 30]
    assert problems == []
