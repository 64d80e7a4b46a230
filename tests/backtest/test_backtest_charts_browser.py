"""The backtest charts as people see them in Debian's Chromium: report.html and sweep.html keep
their words readable on a phone and fit its width but for a table's or heat map's own scrolling
box."""
from __future__ import annotations

import pytest

import backtest
from tests.backtest.scenario import SCENARIO_ARGS

pytestmark = pytest.mark.browser
# Each SVG word's font size as drawn, in CSS px: its own size times the scale its SVG is drawn at.
DRAWN_FONT_SIZES = """() => [...document.querySelectorAll('svg text')].map((text) => {
  const m = text.getScreenCTM();
  return parseFloat(getComputedStyle(text).fontSize) * Math.hypot(m.a, m.b);
})"""


def cli(config, *args: str) -> None:
    """Run backtest.py as the command line does, requiring success."""
    assert backtest.main(list(args), config) == 0


def opened(browser, url: str, width: int):
    """A page `width` px wide showing `url`."""
    page = browser.new_page(viewport={"width": width, "height": 844})
    page.goto(url)
    return page


def fits_and_reads(page) -> None:
    """Nothing wider than the screen, and every chart word drawn at 10 px or more."""
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    sizes = page.evaluate(DRAWN_FONT_SIZES)
    assert sizes and min(sizes) >= 10


@pytest.mark.parametrize("width", [390, 1280])
def test_report_html_reads_on_a_phone_and_a_desktop(browser, config, scenario_dir, tmp_path,
                                                    width):
    cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out", str(tmp_path / "run"))
    page = opened(browser, (tmp_path / "run" / "report.html").as_uri(), width)
    assert page.locator("polyline").count() == 3
    fits_and_reads(page)
    # The trades keep one line a row: their table scrolls in its own box on a phone.
    date = page.locator("h2:has-text('Trades') ~ .scroll td").first
    assert date.bounding_box()["height"] < 2 * float(date.evaluate(
        "(cell) => parseFloat(getComputedStyle(cell).fontSize)"))
    page.screenshot(path=tmp_path / f"report-{width}.png", full_page=True)  # to look at
    page.close()


def test_sweep_html_heat_maps_read_on_a_phone(browser, config, scenario_dir, tmp_path):
    # Six columns are wider than a phone: the map scrolls in its box rather than shrinking.
    cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out", str(tmp_path / "sweep"),
        "--sweep", "entry=0,0.5,1,1.5,2,2.5", "exit=5,8")
    page = opened(browser, (tmp_path / "sweep" / "sweep.html").as_uri(), 390)
    assert page.locator(".heatmap a").count() == 24
    fits_and_reads(page)
    page.screenshot(path=tmp_path / "sweep-390.png", full_page=True)
    page.close()
