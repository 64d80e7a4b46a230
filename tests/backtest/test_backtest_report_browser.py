"""The Backtests pages in Debian's Chromium: a report's charts draw under the CSP, without errors,
and its figures read as report.html's; a saved sweep's heat map fits a phone and a desktop, and
a cell opens its run, whose report draws equity against buy-and-hold."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

import backtest
from app import create_app
from backtesting import results
from tests.backtest.scenario import SCENARIO_ARGS, sweep_args
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser
SWEEP_ID = "20260101T000000-sweep"


@pytest.fixture
def app_url(config, scenario_dir) -> Iterator[str]:
    """The app on a free loopback port, with a saved sweep, then a saved backtest (listed
    first, being newer), and a user."""
    assert backtest.main(["--csv", str(scenario_dir), *sweep_args("entry=1,2", "exit=5,6,8"),
                          "--workers", "2", "--out",
                          str(config.data_dir / "backtests" / SWEEP_ID)], config) == 0
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS], config) == 0
    with served(config) as url:
        yield url


@contextmanager
def served(config) -> Iterator[str]:
    """The app on a free loopback port, with a user, while the block runs."""
    app = create_app(config)
    app.extensions["store"].create_user("alice", generate_password_hash(PASSWORD))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        app.extensions["store"].close()


def logged_in_page(browser, app_url: str, width: int, problems: list[str]):
    """A page of `width` px logged in as alice, gathering console errors into `problems`."""
    page = browser.new_page(viewport={"width": width, "height": 844})
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{app_url}/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def test_report_draws_equity_and_drawdown(app_url, browser):
    problems: list[str] = []
    page = logged_in_page(browser, app_url, 390, problems)
    page.goto(f"{app_url}/backtests")
    page.click("table a")
    page.wait_for_function(
        "() => window.Chart !== undefined && Chart.getChart('backtest-drawdown') !== undefined")
    points = page.evaluate("() => ['backtest-equity', 'backtest-drawdown'].map("
                           "(id) => Chart.getChart(id).data.datasets[0].data.length)")
    page.close()
    assert points == [30, 30]
    assert problems == []


@pytest.mark.parametrize("width", [375, 1280])
def test_a_heat_map_cell_opens_its_run(app_url, browser, width, tmp_path):
    problems: list[str] = []
    page = logged_in_page(browser, app_url, width, problems)
    page.goto(f"{app_url}/backtests")
    page.click(f"a[href='/backtests/{SWEEP_ID}']")
    cells = page.locator(".heatmap a")
    assert cells.count() == 6
    # Nothing wider than the screen but the heat map's own scrolling box.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.screenshot(path=tmp_path / f"sweep-{width}.png", full_page=True)  # to look at
    assert cells.nth(5).get_attribute("aria-label").startswith(
        "entry 2.0, exit 8.0: Total return (%) ")
    cells.nth(5).click()
    page.wait_for_function(
        "() => window.Chart !== undefined && Chart.getChart('backtest-drawdown') !== undefined")
    lines = page.evaluate("() => Chart.getChart('backtest-equity').data.datasets.map("
                          "(d) => [d.label, d.data.length])")
    assert lines == [["Strategy", 30], ["Buy and hold, equal weight", 30]]
    assert page.locator(".backtest-trades tbody tr").count() >= 1
    page.screenshot(path=tmp_path / f"run-{width}.png", full_page=True)
    page.close()
    assert problems == []


def test_the_web_report_gives_the_figures_of_report_html_in_its_words(app_url, browser, config):
    root = results.backtests_root(config.data_dir)
    (run,) = [run for run in results.list_saved(root) if run["kind"] == "run"]
    # Their words, wherever a line breaks (report.html puts a note under its value)
    cells = ("(rows) => rows.map((row) => [...row.cells].map("
             "(cell) => cell.innerText.replace(/\\s+/g, ' ')))")
    page = browser.new_page()
    page.goto((root / run["id"] / "report.html").as_uri())
    in_report_html = page.locator("table").first.locator("tbody tr").evaluate_all(cells)
    problems: list[str] = []
    page = logged_in_page(browser, app_url, 1280, problems)
    page.goto(f"{app_url}/backtests/{run['id']}")
    on_the_web = page.locator("h2:text-is('Figures') + table tr").evaluate_all(cells)
    page.close()
    assert on_the_web == in_report_html
    assert ["Fills (buys and sells)", "5"] in on_the_web
    assert ["CAGR (%)", "— (not annualised: under a year)"] in on_the_web
    assert "Total return, buy and hold (%)" in [label for label, _ in on_the_web]
    assert problems == []
