"""The Backtests pages: saved runs listed with their figures, a report with chart data."""
from __future__ import annotations

import json

import pytest

import backtest
import strategy_settings
from backtesting import html_report, results
from backtesting.engine import BacktestResult, Trade
from backtesting.metrics import summarize
from tests.backtest.scenario import SCENARIO_ARGS
from tests.web.text import text


@pytest.fixture
def saved_id(scenario_dir, config) -> str:
    """One run saved by the CLI where the web app looks."""
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, "--costs", "0",
                          "--slippage", "0"], config) == 0
    (run,) = results.list_saved(results.backtests_root(config.data_dir))
    return run["id"]


def test_list_shows_the_saved_run_with_its_figures(logged_in, saved_id):
    page = logged_in.get("/backtests").get_data(as_text=True)
    assert f'href="/backtests/{saved_id}"' in page
    assert ('<span class="text-nowrap">2024-01-01</span> → '
            '<span class="text-nowrap">2024-02-09</span>') in page  # no date breaks mid-way
    assert "₹3,050.00" in page


def test_empty_list_says_how_to_make_one(logged_in):
    page = logged_in.get("/backtests").get_data(as_text=True)
    assert "No saved backtests yet" in page


def test_report_page_has_figures_and_chart_canvases(logged_in, saved_id):
    response = logged_in.get(f"/backtests/{saved_id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "₹3,050.00" in page and "1.38%" in page   # final equity, max drawdown
    assert f'data-src="/backtests/{saved_id}/series.json"' in page
    assert 'id="backtest-drawdown"' in page
    assert "<script>" not in page                      # CSP: scripts only from files


def test_series_feeds_the_charts(logged_in, saved_id):
    series = logged_in.get(f"/backtests/{saved_id}/series.json").get_json()
    assert len(series["dates"]) == 30
    assert series["equity"][-1] == 3050.0
    assert min(series["drawdown_pct"]) == pytest.approx(-1.38)


def test_trades_csv_downloads(logged_in, saved_id):
    response = logged_in.get(f"/backtests/{saved_id}/trades.csv")
    assert response.status_code == 200
    assert response.get_data(as_text=True).splitlines()[0] == (
        "date,symbol,side,qty,price,costs,pnl,reason")


@pytest.mark.parametrize("path", ["/backtests/nope", "/backtests/..%2F..%2Fetc",
                                  "/backtests/nope/series.json", "/backtests/nope/trades.csv"])
def test_unknown_runs_are_404_pages(logged_in, path):
    response = logged_in.get(path)
    assert response.status_code == 404


def test_pages_need_login(client, saved_id):
    response = client.get(f"/backtests/{saved_id}")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_truncated_summary_is_listed_as_unreadable(logged_in, saved_id, config):
    root = results.backtests_root(config.data_dir)
    broken = root / "20260101T000000-broken"
    broken.mkdir()
    (broken / "summary.json").write_text((root / saved_id / "summary.json").read_text()[:60])
    response = logged_in.get("/backtests")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'href="/backtests/{saved_id}"' in page and "₹3,050.00" in page
    assert "Unreadable run <code>20260101T000000-broken</code>: summary.json cannot be read" in page
    assert 'href="/backtests/20260101T000000-broken"' not in page


def test_a_summary_without_the_figures_is_listed_as_unreadable(logged_in, config):
    broken = results.backtests_root(config.data_dir) / "hand-edited"
    broken.mkdir(parents=True)
    (broken / "summary.json").write_text('{"summary": {"start": "2024-01-01"}}')
    page = logged_in.get("/backtests").get_data(as_text=True)
    assert "Unreadable run <code>hand-edited</code>: summary.json lacks some of" in page


def test_a_summary_with_a_period_that_is_no_date_is_listed_as_unreadable(logged_in, saved_id,
                                                                          config):
    # The list reads each period's ends (CAGR only over a year): one bad date must not take
    # the whole list down.
    root = results.backtests_root(config.data_dir)
    edited = json.loads((root / saved_id / "summary.json").read_text())
    edited["summary"]["end"] = "9 Feb 2024"
    (root / "hand-edited").mkdir()
    (root / "hand-edited" / "summary.json").write_text(json.dumps(edited))
    response = logged_in.get("/backtests")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and f'href="/backtests/{saved_id}"' in page
    assert "Unreadable run <code>hand-edited</code>: summary.json lacks some of" in page


@pytest.mark.parametrize("path", ["/backtests/{id}", "/backtests/{id}/series.json"])
def test_a_run_with_a_cut_equity_file_is_a_404_saying_why(logged_in, saved_id, config, path):
    equity = results.backtests_root(config.data_dir) / saved_id / "equity.csv"
    equity.write_text("date,cash,holdings_value,equ")
    response = logged_in.get(path.format(id=saved_id))
    assert response.status_code == 404
    assert "equity.csv cannot be read" in response.get_data(as_text=True)


def test_report_page_lists_the_money_settings_as_report_html_reads_numbers(logged_in, saved_id):
    page = logged_in.get(f"/backtests/{saved_id}").get_data(as_text=True)
    parameters = page.split(">Parameters</h2>")[1]
    for name, shown in [("max_trade_value", "1,000.00"), ("capital", "2,900.00"),
                        ("slippage_pct", "0.00"), ("costs", "none")]:
        assert (f'<th scope="row" class="fw-normal"><code>{name}</code></th>'
                f'<td class="text-end">{shown}</td>') in parameters


def test_a_run_saved_before_buy_and_hold_s_return_still_shows(logged_in, saved_id, config):
    path = results.backtests_root(config.data_dir) / saved_id / "summary.json"
    document = json.loads(path.read_text())
    del document["summary"]["buy_and_hold_return_pct"]
    path.write_text(json.dumps(document))
    assert f'href="/backtests/{saved_id}"' in logged_in.get("/backtests").get_data(as_text=True)
    response = logged_in.get(f"/backtests/{saved_id}")
    assert response.status_code == 200
    assert ('Total return, buy and hold (%)</th><td class="text-end">— <small class="text-body-'
            'secondary">(saved before this figure was added)</small>') in response.get_data(
        as_text=True)


def test_without_a_losing_trade_there_is_no_average_loss_unless_the_run_cannot_tell(
        logged_in, saved_id, config):
    def avg_loss() -> str:
        page = logged_in.get(f"/backtests/{saved_id}").get_data(as_text=True)
        return page.split("Avg loss (₹)</th>", 1)[1].split("</td>", 1)[0]

    # the scenario's two sales both made money
    assert avg_loss() == ('<td class="text-end">— <small class="text-body-secondary">'
                          '(no losing trade)</small>')
    path = results.backtests_root(config.data_dir) / saved_id / "summary.json"
    document = json.loads(path.read_text())
    del document["summary"]["winning_trades"]  # saved before they were counted
    path.write_text(json.dumps(document))
    assert avg_loss() == '<td class="text-end">0.00'


def test_under_a_year_the_pages_give_no_cagr_and_say_why(logged_in, saved_id):
    listing = logged_in.get("/backtests").get_data(as_text=True)
    assert '<span title="not annualised: under a year">—</span>' in listing
    assert '<th class="text-end">Fills</th>' in listing
    report = logged_in.get(f"/backtests/{saved_id}").get_data(as_text=True)
    assert ('<div class="small text-body-secondary">not annualised: under a year'
            '</div>') in report  # under the CAGR's "—"


def test_the_fills_read_as_the_other_pages_write_stocks_and_rupees(logged_in, saved_id):
    report = logged_in.get(f"/backtests/{saved_id}").get_data(as_text=True)
    fills = report.split('class="table table-sm align-middle text-nowrap backtest-trades"')[1]
    # The scenario's first fill: 10 AAA bought at 97 on 8 Jan (no slippage, no costs).
    first = fills.split("<tr>")[2]
    assert '<strong title="NSE:AAA-EQ">AAA</strong>' in first
    assert '<td class="text-end">₹97.00</td>' in first and ">—</td>" in first  # no P&L on a buy
    assert "NSE:AAA-EQ</td>" not in fills


def test_a_run_without_a_closed_trade_has_no_win_rate(logged_in, scenario_dir, config):
    # To 10 Jan the scenario only buys: a win rate of 0.00 % would read as every trade lost.
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, "--to", "2024-01-10"],
                         config) == 0
    (run,) = results.list_saved(results.backtests_root(config.data_dir))
    assert run["summary"]["closed_trades"] == 0
    listing = logged_in.get("/backtests").get_data(as_text=True)
    assert '<td data-label="Win rate" class="text-end"><span title="no closed trade">—</span>' \
        in listing
    report = logged_in.get(f"/backtests/{run['id']}").get_data(as_text=True)
    assert '<div class="small text-body-secondary">no closed trade</div>' in report
    assert "<tr><td>Win rate (%)</td><td>— <small>(no closed trade)</small></td></tr>" in (
        results.backtests_root(config.data_dir) / run["id"] / "report.html").read_text()


def test_the_command_shown_carries_the_settings_saved_on_the_strategy_page(logged_in, config):
    """backtest.py reads the environment's settings: the page's command passes those saved
    with another value, as options where it has them, else as environment assignments."""
    page = text(logged_in.get("/backtests").get_data(as_text=True))
    assert "Run .venv/bin/python backtest.py --from 2016-01-01 --to 2025-12-31 on this host" in page
    store = logged_in.application.extensions["store"]
    form = {setting.key: str(setting.value) for setting in strategy_settings.describe(config)}
    strategy_settings.save(config, store, {**form, "EXIT_THRESHOLD_PCT": "6.2345678",
                                           "MAX_TRADE_VALUE": "1234567",
                                           "ENTRY_CANDIDATES": "7"}, who="alice")
    page = text(logged_in.get("/backtests").get_data(as_text=True))
    command = ("ENTRY_CANDIDATES=7 .venv/bin/python backtest.py --from 2016-01-01 --to "
               "2025-12-31 --exit 6.2345678 --max-trade-value 1234567")
    assert command in page and "differ from this host's environment" in page
    args = backtest.build_parser(config).parse_args(command.split()[3:])
    assert (args.exit_threshold_pct, args.max_trade_value) == (6.2345678, 1234567)
    assert args.ma_period == config.ma_period


def test_a_price_at_half_a_paisa_reads_the_same_in_report_html_and_on_the_page(logged_in,
                                                                               config):
    """Slippage leaves prices between paise; trades.csv keeps four decimals, which the page
    reads, so report.html rounds that value too: both say ₹3,751.89, not one of them .90."""
    days = ["2024-01-01", "2024-01-02"]
    price = 3751.895 + 1e-10  # a hair above the half paisa, as a multiplication leaves it
    trade = Trade(days[1], "NSE:AAA-EQ", "BUY", 2, price, 0.0, None, "entry")
    equity = {"date": days, "cash": [10_000.0, 2496.21], "holdings_value": [0.0, 7503.79],
              "equity": [10_000.0, 10_000.0], "buy_and_hold": [10_000.0, 10_000.0]}
    result = BacktestResult([trade], equity, 7503.79, 0)
    summary = summarize(result, 10_000.0)
    folder = results.backtests_root(config.data_dir) / "half-paisa"
    results.save(folder, result, summary, {"params": {}, "settings": {}})
    report = html_report.run_html(summary, {}, equity, [trade])
    page = text(logged_in.get("/backtests/half-paisa").get_data(as_text=True))
    assert "<td>3,751.89</td>" in report and "3,751.90" not in report
    assert "₹3,751.89" in page
