"""The backtest charts as people see them in Debian's Chromium: report.html and sweep.html keep
their words readable on a phone and fit its width but for a table's or heat map's own scrolling
box; heat-map column labels never overlap; a grid of one value is drawn neutral and says so; a
failed combination is crossed out, in sweep.html and on the web page, and its error wraps; the
ranked table takes a desktop's width and links each run; a one-day run says there is not
enough to draw, in report.html and on the web page."""
from __future__ import annotations

import errno
import json
import os
import re
from itertools import combinations

import pytest

import backtest
from backtesting import results, sweep
from backtesting.charts import CELL_WIDTH, CROSS, GOOD, heatmap_svg, missing_legend
from tests.backtest.scenario import SCENARIO_ARGS, sweep_args
from tests.backtest.test_backtest_report_browser import SWEEP_ID, logged_in_page, served

pytestmark = pytest.mark.browser
ONE_DAY = ["--from", "2024-01-01", "--to", "2024-01-01", "--capital", "2900"]
ONE_DAY_NOTE = ("Not enough days to draw: a chart needs at least two trading days, and this run "
                "has 1.")
# Each SVG word's font size as drawn, in CSS px: its own size times the scale its SVG is drawn at.
DRAWN_FONT_SIZES = """() => [...document.querySelectorAll('svg text')].map((text) => {
  const m = text.getScreenCTM();
  return parseFloat(getComputedStyle(text).fontSize) * Math.hypot(m.a, m.b);
})"""
# Per label, the screen box of each of its characters (turned labels' boxes stay small, so two
# labels overlap exactly when some of their boxes do).
CHARACTER_BOXES = """(names) => [...document.querySelectorAll('svg.heatmap > text')]
  .filter((text) => names.includes(text.textContent)).map((text) => {
    const m = text.getScreenCTM();
    return [...Array(text.getNumberOfChars()).keys()].map((i) => {
      const r = text.getExtentOfChar(i);
      const corners = [[r.x, r.y], [r.x + r.width, r.y], [r.x, r.y + r.height],
                       [r.x + r.width, r.y + r.height]]
        .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
      const xs = corners.map((c) => c[0]), ys = corners.map((c) => c[1]);
      return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
    });
  })"""


def cli(config, *args: str) -> None:
    """Run backtest.py as the command line does, requiring success."""
    assert backtest.main(list(args), config) == 0


def failed_sweep(monkeypatch, config, scenario_dir, out, blocked: list[str]) -> None:
    """Sweep entry=1 and exit=5,8 into `out`, the combinations numbered `blocked` failing as on
    a full disk, with the long path of their folder in the error (the forked workers inherit
    the patch)."""
    save_run = sweep.save_run

    def full_disk_for_blocked(folder, *rest):
        if folder.name in blocked:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "trades.csv"))
        save_run(folder, *rest)

    monkeypatch.setattr(sweep, "save_run", full_disk_for_blocked)
    assert backtest.main(["--csv", str(scenario_dir), *sweep_args("entry=1", "exit=5,8"),
                          "--out", str(out)], config) == 1


def crossed_out(page) -> list[str]:
    """The titles of the failed cells on `page`, each checked to be drawn crossed out."""
    cells = page.locator(".heatmap .failed")
    for cell in cells.all():
        assert cell.is_visible() and cell.bounding_box()["width"] >= CELL_WIDTH - 4
        assert cell.locator("path").evaluate("(cross) => getComputedStyle(cross).stroke") == (
            "rgb({}, {}, {})".format(*(int(CROSS[i:i + 2], 16) for i in (1, 3, 5))))
    return cells.locator("title").all_text_contents()


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
    # The largest capital there is: its amounts are the widest a figure can be.
    cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--capital", "1e12", "--out",
        str(tmp_path / "run"))
    page = opened(browser, (tmp_path / "run" / "report.html").as_uri(), width)
    assert page.locator("polyline").count() == 3
    fits_and_reads(page)
    # The figures and parameters fit: their names and notes wrap rather than scroll.
    assert page.locator(".scroll").evaluate_all(
        "(boxes) => boxes.slice(0, 2).map((box) => box.scrollWidth <= box.clientWidth)"
    ) == [True, True]
    # The trades keep one line a row: their table scrolls in its own box on a phone.
    date = page.locator("h2:has-text('Fills') ~ .scroll td").first
    assert date.bounding_box()["height"] < 2 * float(date.evaluate(
        "(cell) => parseFloat(getComputedStyle(cell).fontSize)"))
    page.screenshot(path=tmp_path / f"report-{width}.png", full_page=True)  # to look at
    page.close()


def test_sweep_html_heat_maps_read_on_a_phone(browser, config, scenario_dir, tmp_path):
    # Six columns are wider than a phone: the map scrolls in its box rather than shrinking.
    cli(config, "--csv", str(scenario_dir), "--out", str(tmp_path / "sweep"),
        *sweep_args("entry=0,0.5,1,1.5,2,2.5", "exit=5,8"))
    page = opened(browser, (tmp_path / "sweep" / "sweep.html").as_uri(), 390)
    assert page.locator(".heatmap a").count() == 24
    fits_and_reads(page)
    page.screenshot(path=tmp_path / "sweep-390.png", full_page=True)
    page.close()


def heat_map_page(browser, xs: list, values: dict[tuple, float]):
    """A page holding the heat map of `values` over xs across and 1, 2 down."""
    page = browser.new_page(viewport={"width": 1280, "height": 844})
    cells = {key: {"value": value} for key, value in values.items()}
    page.set_content(heatmap_svg(xs, [1, 2], cells, x_label="max_trade_value", y_label="ma",
                                 value_label="Total return (%)", higher_is_better=True,
                                 link=lambda cell: "#"))
    return page


@pytest.mark.parametrize("xs", [
    [1234567.891, 2345678.912, 3456789.123, 4567891.234],  # longer than a cell is wide
    [round(5 + 0.25 * i, 2) for i in range(16)],           # many columns
], ids=["long", "many"])
def test_heat_map_column_labels_never_overlap(browser, xs):
    page = heat_map_page(browser, xs, {(x, y): float(i) for i, (x, y) in enumerate(
        (x, y) for x in xs for y in (1, 2))})
    labels = page.evaluate(CHARACTER_BOXES, [str(x) for x in xs])
    frame = page.locator("svg").bounding_box()
    page.close()
    assert len(labels) == len(xs)
    for one, other in combinations(labels, 2):
        for a in one:
            assert not any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                           for b in other), "two column labels overlap"
    # And none is cut off at the map's edge.
    for box in (box for label in labels for box in label):
        assert box[0] >= frame["x"] and box[2] <= frame["x"] + frame["width"] + 1
        assert box[1] >= frame["y"] - 1


def map_fills(page) -> list[str]:
    """The fill of each cell of the page's heat map, in order (rows, then columns)."""
    return page.evaluate("() => [...document.querySelectorAll('.heatmap a rect')]"
                         ".map((rect) => getComputedStyle(rect).fill)")


def test_a_gain_is_never_red_nor_a_loss_green(browser):
    """Every combination gained: the smallest gain is pale green, not the loss colour; with a
    loss among them, only the loss is red, and a gain near zero is pale."""
    def reddish(fill: str) -> bool:
        red, green, _ = (int(part) for part in re.findall(r"\d+", fill))
        return red > green

    xs = [5.0, 8.0]
    gains = heat_map_page(browser, xs, {(5.0, 1): 100.0, (8.0, 1): 315.73, (5.0, 2): 150.0,
                                        (8.0, 2): 200.0})
    fills = map_fills(gains)
    assert not any(reddish(fill) for fill in fills)
    assert fills[1] == "rgb({}, {}, {})".format(*GOOD)  # the best gain, darkest green
    gains.close()
    mixed = heat_map_page(browser, xs, {(5.0, 1): -12.5, (8.0, 1): 315.73, (5.0, 2): 0.5,
                                        (8.0, 2): 200.0})
    assert [reddish(fill) for fill in map_fills(mixed)] == [True, False, False, False]
    mixed.close()


def test_a_uniform_heat_map_is_neutral_and_says_so(browser):
    xs = [5.0, 6.28, 8.0]
    page = heat_map_page(browser, xs, {(x, y): 0.0 for x in xs for y in (1, 2)})
    fills = map_fills(page)
    text = page.inner_text("body")
    page.close()
    assert len(fills) == 6 and len(set(fills)) == 1
    assert fills[0] != "rgb({}, {}, {})".format(*GOOD)
    assert "Every combination shown gave the same Total return (%): 0.00." in text


def test_a_one_day_report_html_says_there_is_not_enough_to_draw(browser, config, scenario_dir,
                                                                tmp_path):
    cli(config, "--csv", str(scenario_dir), *ONE_DAY, "--out", str(tmp_path / "day"))
    page = opened(browser, (tmp_path / "day" / "report.html").as_uri(), 390)
    notes = page.locator(f"text={ONE_DAY_NOTE}")
    assert notes.count() == 2  # equity, drawdown
    assert notes.first.is_visible()
    assert page.locator("svg").count() == 0
    page.close()


def test_a_one_day_run_on_the_web_page_says_there_is_not_enough_to_draw(browser, config,
                                                                       scenario_dir):
    cli(config, "--csv", str(scenario_dir), *ONE_DAY)
    (run,) = results.list_saved(results.backtests_root(config.data_dir))
    problems: list[str] = []
    with served(config) as url:
        page = logged_in_page(browser, url, 390, problems)
        page.goto(f"{url}/backtests/{run['id']}")
        assert page.locator(f"text={ONE_DAY_NOTE}").is_visible()  # report.html's words
        assert page.locator("canvas").count() == 0
        page.close()
    assert problems == []


@pytest.mark.parametrize(("width", "scrolls"), [(390, True), (1366, False)])
def test_sweep_html_ranks_every_combination_with_a_link_to_its_report(
        browser, config, scenario_dir, tmp_path, width, scrolls):
    # Six swept settings make the table wider than the body's 60rem.
    cli(config, "--csv", str(scenario_dir), "--out", str(tmp_path / "sweep"),
        *sweep_args("entry=1", "exit=5", "average=3", "ma=5", "candidates=5",
                    "max-trade-value=1000,2000"))
    page = opened(browser, (tmp_path / "sweep" / "sweep.html").as_uri(), width)
    box = page.locator("h2:text-is('Every combination') + .scroll")
    # A desktop shows it whole, past the body's width; a phone scrolls it in its own box.
    assert box.evaluate("(box) => box.scrollWidth > box.clientWidth") is scrolls
    assert scrolls or box.bounding_box()["width"] > 960
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(path=tmp_path / f"ranked-{width}.png", full_page=True)
    box.locator("a").first.click()
    assert page.title() == "Backtest 2024-01-01 → 2024-02-09"
    page.close()


@pytest.mark.parametrize(("blocked", "failed"), [
    (["0001"], ["entry 1.0, exit 8.0"]),
    (["0000", "0001"], ["entry 1.0, exit 5.0", "entry 1.0, exit 8.0"]),  # nothing to colour
], ids=["one", "every"])
def test_sweep_html_crosses_out_a_failed_combination_and_says_so(
        browser, monkeypatch, config, scenario_dir, tmp_path, blocked, failed):
    failed_sweep(monkeypatch, config, scenario_dir, tmp_path / "sweep", blocked)
    page = opened(browser, (tmp_path / "sweep" / "sweep.html").as_uri(), 390)
    assert crossed_out(page) == [f"{where}: failed, no result" for where in failed] * 2
    legend = page.locator(f"svg.heatmap text:text-is('{missing_legend('failed')}')")
    assert legend.count() == 2 and legend.first.is_visible()  # under each figure's map
    fits_and_reads(page)
    page.screenshot(path=tmp_path / "failed-390.png", full_page=True)
    page.close()


def test_the_web_heat_map_crosses_out_a_failed_combination(browser, monkeypatch, config,
                                                           scenario_dir):
    failed_sweep(monkeypatch, config, scenario_dir, config.data_dir / "backtests" / SWEEP_ID, ["0001"])
    problems: list[str] = []
    with served(config) as url:
        page = logged_in_page(browser, url, 390, problems)
        page.goto(f"{url}/backtests/{SWEEP_ID}")
        assert crossed_out(page) == ["entry 1.0, exit 8.0: failed, no result"]
        assert page.locator(f"svg.heatmap text:text-is('{missing_legend('failed')}')").is_visible()
        # The failure's error, a long path, wraps on the phone rather than widen the page.
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
        page.close()
    assert problems == []


def test_sweep_html_wraps_a_failed_combination_s_error_on_a_phone(browser, monkeypatch, config,
                                                                  scenario_dir, tmp_path):
    failed_sweep(monkeypatch, config, scenario_dir, tmp_path / "sweep", ["0001"])
    (failed,) = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["failed"]
    page = opened(browser, (tmp_path / "sweep" / "sweep.html").as_uri(), 390)
    box = page.locator("h2:text-is('Failed combinations') + .scroll")
    # All of it in its box: none cut off at the right, where the box would have to scroll.
    assert box.evaluate("(box) => box.scrollWidth <= box.clientWidth")
    assert box.locator("td").last.inner_text() == failed["error"]
    page.close()
