"""`python backtest.py`: the files a user gets, the printed summary, the sweep, bad input."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import pytest

import backtest
from backtesting import html_report, metrics, results, sweep
from backtesting.costs import NO_COSTS, DeliveryCosts
from backtesting.data import load_csv_dir
from backtesting.engine import Settings
from cli import EXIT_BROKEN_PIPE
from config import Config
from tests.backtest.scenario import (
    DATES,
    FIRST,
    FIRST_ENTRY_DAY,
    LAST,
    PARAMS,
    SCENARIO_ARGS,
    sweep_args,
)

PROJECT = Path(backtest.__file__).resolve().parent


def run_cli(config: Config, *args: str, stdout: int = subprocess.PIPE
            ) -> subprocess.CompletedProcess:
    """`python backtest.py ARGS` in a fresh process on `config`'s data folder."""
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox"}
    return subprocess.run([sys.executable, "backtest.py", *args], cwd=PROJECT, env=env,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)


def test_cli_writes_trades_equity_and_summary(scenario_dir, config, tmp_path):
    out = tmp_path / "run"
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--slippage", "0",
                   "--costs", "0", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert re.search(r"Final equity \(₹\) +3,050\.00\n", done.stdout)
    assert re.search(r"Initial capital \(₹\) +2,900\.00\n", done.stdout)
    assert re.search(r"Buys skipped \(cash short\) +1\n", done.stdout)  # a count stays whole
    # Both sales made money: no average loss, rather than one of 0.00.
    assert re.search(r"\nWinning trades +2\n", done.stdout)
    assert re.search(r"\nAvg win \(₹\) +75\.00\nAvg loss \(₹\) +— \(no losing trade\)\n",
                     done.stdout)
    trades = pd.read_csv(out / "trades.csv")
    assert list(trades.columns) == ["date", "symbol", "side", "qty", "price", "costs", "pnl",
                                    "reason"]
    assert trades["side"].tolist() == ["BUY", "BUY", "BUY", "SELL", "SELL"]
    assert trades["pnl"].dropna().tolist() == [100.0, 50.0]
    equity = pd.read_csv(out / "equity.csv")
    assert list(equity.columns) == ["date", "cash", "holdings_value", "equity", "buy_and_hold"]
    # ₹2,900 over three symbols at 100 on day 0; CCC ends at 100 too, AAA and BBB at 100.
    assert equity["buy_and_hold"].iloc[0] == 2900.0
    report = (out / "report.html").read_text()
    assert "<title>Backtest 2024-01-01 → 2024-02-09</title>" in report
    assert report.count("<polyline") == 3  # strategy, buy-and-hold, drawdown
    assert "<tr><td>Final equity (₹)</td><td>3,050.00</td></tr>" in report
    assert "<tr><td>Avg loss (₹)</td><td>— <small>(no losing trade)</small></td></tr>" in report
    assert "<h2>Fills (5)</h2>" in report and report.count("<td>NSE:AAA-EQ</td>") == 3
    assert "<script" not in report
    assert equity["date"].tolist() == DATES
    assert equity["equity"].iloc[-1] == 3050.0
    saved = json.loads((out / "summary.json").read_text())
    assert saved["summary"]["trades"] == 5
    assert saved["params"]["ma_period"] == 5


def test_a_reader_gone_early_ends_the_run_quietly_with_its_files_saved(scenario_dir, config,
                                                                      tmp_path, closed_pipe):
    out = tmp_path / "run"
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--from", FIRST_ENTRY_DAY,
                   "--out", str(out), stdout=closed_pipe)
    assert (done.returncode, done.stderr) == (EXIT_BROKEN_PIPE, "")
    assert (out / "report.html").is_file()


def test_costs_are_charged_on_each_fill(scenario_dir, config, tmp_path):
    out = tmp_path / "run"
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, "--slippage", "0.1",
                          "--costs", "1", "--out", str(out)], config) == 0
    first = pd.read_csv(out / "trades.csv").iloc[0]
    # 10 × 97.097 = 970.97: STT 0.97097 + NSE 0.02884 + SEBI 0.00097 + GST 0.00537
    # + stamp 0.14565 = 1.1518 → ₹1.15.
    assert first["price"] == pytest.approx(97.097)
    assert first["costs"] == 1.15


def test_default_out_is_listed_under_the_data_folder(scenario_dir, config):
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS], config) == 0
    saved = list((config.data_dir / "backtests").glob("*/summary.json"))
    assert len(saved) == 1


def test_a_period_starting_before_the_ma_can_is_noted(scenario_dir, config, tmp_path):
    early = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--to", "2024-01-05",
                    "--out", str(tmp_path / "early"))
    assert early.returncode == 0 and re.search(r"\nFills \(buys and sells\) +0\n", early.stdout)
    assert early.stderr == ("backtest: note: no symbol has 5 closes before 2024-01-08, so no "
                            "entry is possible before then (start --from later, or give "
                            "earlier candles)\n")
    never = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--ma-period", "30",
                    "--out", str(tmp_path / "never"))
    assert never.stderr == ("backtest: note: no symbol has more than 30 closes, so no entry is "
                            "possible (give earlier candles, or a shorter MA)\n")
    ready = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--from", FIRST_ENTRY_DAY,
                    "--out", str(tmp_path / "ready"))
    assert ready.returncode == 0 and ready.stderr == ""
    # A sweep notes each MA length that starts too late: 3 closes are there by 2024-01-04.
    swept = run_cli(config, "--csv", str(scenario_dir), *sweep_args("ma=3,5"),
                    "--from", "2024-01-04", "--out", str(tmp_path / "swept"))
    assert swept.returncode == 0, swept.stderr
    assert [line for line in swept.stderr.splitlines() if "note:" in line] == [
        "backtest: note: no symbol has 5 closes before 2024-01-08, so no entry is possible "
        "before then (start --from later, or give earlier candles)"]


def test_missing_csv_folder_is_a_clear_error(config, tmp_path, capsys):
    assert backtest.main(["--csv", str(tmp_path / "none"), *SCENARIO_ARGS], config) == 1
    assert capsys.readouterr().err == f"backtest: the folder {tmp_path}/none does not exist\n"


def test_doubtful_candles_are_warned_of_on_every_run_cached_or_not(scenario_dir, config,
                                                                   tmp_path):
    (scenario_dir / "DDD.csv").write_text("date,close\n2024-01-01,100\n2024-01-02,100\n"
                                          "2024-01-02,101\n2024-01-03,100\n2024-01-03,100\n")
    (scenario_dir / "EEE.csv").write_text("date,open,high,low,close,volume\n")
    warnings = ("WARNING backtesting.data: DDD.csv: 1 date(s) repeated with different closes "
                "(the first 2024-01-02); the last row of each is kept\n"
                "WARNING backtesting.data: EEE.csv: no candles, so NSE:EEE-EQ is left out\n")
    for run in ("cold", "warm"):
        done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS,
                       "--out", str(tmp_path / run))
        assert done.returncode == 0, done.stderr
        assert warnings in done.stderr, run
        assert list((config.data_dir / "candle-cache").glob("*.marshal")), run


def test_bad_sweep_key_is_a_usage_error(scenario_dir, config, capsys):
    with pytest.raises(SystemExit) as exit_info:
        backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, "--sweep", "speed=1,2"],
                      config)
    assert exit_info.value.code == 2
    assert "bad --sweep item 'speed=1,2'" in capsys.readouterr().err


def test_parse_sweep_gives_every_combination():
    assert backtest.parse_sweep(["entry=0,1", "exit=5,6.28"]) == [
        {"entry_threshold_pct": 0.0, "exit_threshold_pct": 5.0},
        {"entry_threshold_pct": 0.0, "exit_threshold_pct": 6.28},
        {"entry_threshold_pct": 1.0, "exit_threshold_pct": 5.0},
        {"entry_threshold_pct": 1.0, "exit_threshold_pct": 6.28},
    ]


def test_sweep_ranks_by_cagr_and_matches_single_runs(scenario_dir, tmp_path):
    histories = load_csv_dir(scenario_dir)
    settings = Settings(capital=2900.0, slippage_pct=0.0)
    grid = backtest.parse_sweep(["exit=5,8"])
    prepared = sweep.prepare(histories, PARAMS, settings, FIRST, LAST, grid)
    table = sweep.ranked(sweep.run(prepared, grid, tmp_path / "sweep", workers=2)["rows"])
    # One swept parameter: each heat map is one row of two cells.
    page = (tmp_path / "sweep" / "sweep.html").read_text()
    assert page.count('aria-label="exit 5.0: ') == 2  # total return, drawdown
    assert [row["cagr_pct"] for row in table] == sorted((row["cagr_pct"] for row in table),
                                                       reverse=True)
    for row in table:
        params = replace(PARAMS, exit_threshold_pct=row["exit_threshold_pct"])
        _, summary = backtest.run_backtest(histories, params, settings, FIRST, LAST)
        assert summary["final_equity"] == row["final_equity"]


@pytest.mark.parametrize(("args", "message"), [
    (["--capital", "0"], "argument --capital: '0' is not a number greater than 0 and at most "
                         "10,00,00,00,00,000"),
    (["--capital", "nan"], "argument --capital: 'nan' is not a number greater than 0 and at "
                           "most 10,00,00,00,00,000"),
    (["--capital", "1e308"], "argument --capital: '1e308' is not a number greater than 0 and at "
                             "most 10,00,00,00,00,000"),
    (["--ma-period", "-3"], "argument --ma-period: MA_PERIOD='-3' is invalid: must be between "
                            "2 and 250"),
    (["--entry", "99"], "argument --entry: ENTRY_THRESHOLD_PCT='99' is invalid: must be between "
                        "0 and 50"),
    (["--slippage", "-1"], "argument --slippage: '-1' is not a number from 0 to 10"),
    (["--slippage", "150"], "argument --slippage: '150' is not a number from 0 to 10"),
    (["--sweep", "entry=0,1", "--workers", "0"], "argument --workers: '0' is not a whole number "
                                                 "of at least 1"),
    (["--workers", "2"], "--workers needs --sweep: a single run has no use for it"),
    (["--engine", "dask"], "--engine needs --sweep: a single run has no use for it"),
    (["--cluster", "tcp://127.0.0.1:8786"], "--cluster needs --sweep: a single run has no use "
                                            "for it"),
    (["--sweep", "ma=5,10", "--ma-period", "5", "--cluster", "tcp://127.0.0.1:8786"],
     "--cluster needs --engine dask: a local sweep uses this machine's cores"),
    (["--sweep", "entry=0,1"], "ENTRY_THRESHOLD_PCT is given twice, by --entry and by --sweep "
                               "entry=…; give it once"),
    (["--sweep", "candidates=1,2", "ma=5,10"], "MA_PERIOD is given twice, by --ma-period and by "
                                               "--sweep ma=…; give it once"),
    (["--from", "2024-02-01", "--to", "2024-01-01"], "--from 2024-02-01 is after --to 2024-01-01"),
    (["--out", ""], "argument --out: no folder given; leave --out out for a new folder under "
                    "data/backtests/"),
    (["--sweep", "ma=5,0"], "bad --sweep item 'ma=5,0': MA_PERIOD='0' is invalid: must be "
                            "between 2 and 250"),
])
def test_bad_options_are_one_line_usage_errors(scenario_dir, config, args, message):
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, *args)
    assert done.returncode == 2
    assert done.stderr == f"python backtest.py: error: {message} (see --help)\n"
    assert not list((config.data_dir / "backtests").glob("*"))


def test_out_in_the_csv_folder_is_a_usage_error(scenario_dir, config):
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out",
                   f"{scenario_dir}/.")
    assert done.returncode == 2
    assert done.stderr == ("python backtest.py: error: --out is the --csv folder: its next read "
                           "would take trades.csv and equity.csv for symbols' candles; choose "
                           "another folder (see --help)\n")
    assert not (scenario_dir / "trades.csv").exists()


def test_out_on_an_unwritable_path_is_a_one_line_usage_error(scenario_dir, config, tmp_path):
    (tmp_path / "a-file").write_text("")
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS,
                   "--out", str(tmp_path / "a-file" / "run"))
    assert done.returncode == 2
    assert done.stderr == (f"python backtest.py: error: argument --out: cannot create "
                           f"{tmp_path}/a-file/run: Not a directory (see --help)\n")


def test_a_backtest_into_an_earlier_ones_out_replaces_all_its_files(scenario_dir, config,
                                                                    tmp_path):
    out = tmp_path / "backtests" / "tuning"
    into = ["--csv", str(scenario_dir), "--out", str(out)]
    assert run_cli(config, *into, *sweep_args("exit=5,6,8"), "--workers", "1").returncode == 0
    (out / "notes.txt").write_text("the owner's own file")
    done = run_cli(config, *into, *sweep_args("exit=5,8"), "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert (f"backtest: replaced the earlier backtest in {out}: sweep.json, sweep.html, "
            f"runs/\n") in done.stderr
    assert sorted(path.name for path in (out / "runs").iterdir()) == ["0000", "0001"]
    done = run_cli(config, *into, *SCENARIO_ARGS)  # one run, where the sweep was
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in out.iterdir()) == [
        "equity.csv", "notes.txt", "report.html", "summary.json", "trades.csv"]
    assert [(run["id"], run["kind"]) for run in results.list_saved(out.parent)] == [
        ("tuning", "run")]


def test_more_workers_than_cores_is_a_note_and_the_sweep_still_runs(scenario_dir, config,
                                                                    tmp_path):
    cores = os.cpu_count() or 1
    out = tmp_path / "many-workers"
    done = run_cli(config, "--csv", str(scenario_dir), "--out", str(out),
                   *sweep_args("exit=5,8"), "--workers", str(cores + 1))
    assert done.returncode == 0, done.stderr
    assert (f"backtest: note: --workers {cores + 1} on {cores} core{'s' if cores != 1 else ''}: "
            f"the workers take turns on them, so the sweep runs no faster than with --workers "
            f"{cores}\n") in done.stderr
    assert sorted(path.name for path in (out / "runs").iterdir()) == ["0000", "0001"]
    done = run_cli(config, "--csv", str(scenario_dir), "--out", str(tmp_path / "one-a-core"),
                   *sweep_args("exit=5,8"), "--workers", str(cores))
    assert done.returncode == 0, done.stderr
    assert "take turns" not in done.stderr


def test_an_out_holding_files_no_backtest_wrote_is_refused_and_left_alone(scenario_dir, config,
                                                                         tmp_path):
    out = tmp_path / "project"
    (out / "runs" / "exp1").mkdir(parents=True)
    (out / "runs" / "exp1" / "model.txt").write_text("the owner's own work")
    (out / "trades.csv").write_text("an export of the owner's")
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out", str(out))
    assert done.returncode == 2
    assert done.stderr == (f"backtest: {out} holds trades.csv, runs/, which no backtest wrote (it "
                           f"has no readable summary.json or sweep.json), and the results would "
                           f"replace them: choose another --out\n")
    assert (out / "trades.csv").read_text() == "an export of the owner's"
    assert sorted(path.name for path in out.iterdir()) == ["runs", "trades.csv"]
    assert (out / "runs" / "exp1" / "model.txt").is_file()


def test_results_that_fail_to_write_leave_the_earlier_backtest_whole(scenario_dir, config,
                                                                     tmp_path):
    """A full disk while writing (here: the block raises as write() would): the earlier run's
    files are as they were, and nothing of the new one is left."""
    out = tmp_path / "run"
    assert run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out",
                   str(out)).returncode == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    with pytest.raises(OSError), results.staged(out) as stage:
        (stage.folder / "trades.csv").write_text("date\n")
        raise OSError(28, "No space left on device")
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    with results.staged(out) as stage:  # and one that is written replaces it whole
        (stage.folder / "summary.json").write_text("{}")
    assert stage.replaced == ["trades.csv", "equity.csv", "summary.json", "report.html"]
    assert [path.name for path in out.iterdir()] == ["summary.json"]


def test_results_kept_beside_or_dropped_leave_the_earlier_backtest_whole(scenario_dir, config,
                                                                       tmp_path):
    """What a stopped sweep does with a folder holding an earlier backtest."""
    out = tmp_path / "run"
    assert run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out",
                   str(out)).returncode == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    for instead in (tmp_path / "beside", None):
        with results.staged(out) as stage:
            assert results.holds_backtest(out)
            (stage.folder / "sweep.json").write_text("{}")
            stage.keep_earlier(instead)
        assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert [path.name for path in (tmp_path / "beside").iterdir()] == ["sweep.json"]


@pytest.mark.parametrize("name,listed", [("my run", False), ("exp/entry-test", False),
                                         ("_scratch", False), ("entry-0.5_exit-8", True)])
def test_an_out_the_backtests_page_will_not_list_is_noted(scenario_dir, config, name, listed,
                                                        logged_in):
    out = results.backtests_root(config.data_dir) / name
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out", str(out))
    assert done.returncode == 0
    note = f"backtest: note: the Backtests page will not list {out}: it lists the folders"
    assert (note in done.stderr) is not listed
    page = logged_in.get("/backtests").get_data(as_text=True)
    assert (f'href="/backtests/{name}"' in page) is listed


def test_results_that_cannot_be_saved_are_one_line_errors(scenario_dir, config, capsys):
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / "backtests").write_text("a file where the runs' folder should be")
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, "--from", FIRST_ENTRY_DAY],
                         config) == 2
    error = capsys.readouterr().err
    assert error.startswith("backtest: cannot write the results into ")
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "earlier backtest" not in error  # there was none to keep


@pytest.mark.parametrize("args", [
    ["--sweep", "speed=1,2"], ["--sweep", "entry=1,60"], ["--sweep", "exit="],
    ["--sweep", "exit=5", "exit=6"], ["--from", "2024-02-10"], ["--capital", "0"],
])
def test_a_refused_command_leaves_no_out_folder_behind(scenario_dir, config, tmp_path, args):
    out = tmp_path / "results" / "run"
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out", str(out), *args)
    assert done.returncode == 2
    assert not (tmp_path / "results").exists()


def test_drawdown_counts_from_the_starting_capital(scenario_dir, config, tmp_path):
    # AAA is bought on the one day at a slipped price, with charges: it ends below the capital.
    out = tmp_path / "run"
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, "--from", "2024-01-08",
                          "--to", "2024-01-08", "--slippage", "1", "--out", str(out)],
                         config) == 0
    summary = json.loads((out / "summary.json").read_text())["summary"]
    assert summary["total_return_pct"] == -0.37
    assert summary["max_drawdown_pct"] == 0.37
    # The Backtests page's drawdown chart (series.json) starts there too.
    assert results.load_saved(tmp_path, "run")["series"]["drawdown_pct"] == [-0.37]


def test_a_loss_too_small_to_show_reads_zero_not_minus_zero(scenario_dir, config, tmp_path,
                                                            capsys):
    # One day, one buy: ₹1.15 of charges on ₹1,000,000 is a -0.0001 % return.
    out = tmp_path / "run"
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, "--capital", "1000000",
                          "--from", "2024-01-08", "--to", "2024-01-08", "--out", str(out)],
                         config) == 0
    printed = capsys.readouterr().out
    assert re.search(r"\nTotal return \(%\) +0\.00\n", printed)
    assert "-0.0" not in printed and "\u22120.0" not in printed  # nor with a real minus sign
    assert "-0.0" not in (out / "summary.json").read_text()


def test_report_html_draws_the_drawdown_from_the_starting_capital(scenario_dir, config,
                                                                    tmp_path):
    out = tmp_path / "run"
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, "--from", "2024-01-08",
                          "--to", "2024-01-09", "--slippage", "1", "--out", str(out)],
                         config) == 0
    worst = json.loads((out / "summary.json").read_text())["summary"]["max_drawdown_pct"]
    drawdown_chart = (out / "report.html").read_text().split("<h2>Drawdown</h2>")[1]
    low_label = re.findall(r"<text[^>]*>(-?[\d.]+%)</text>", drawdown_chart)[1]
    assert worst > 0 and low_label == f"{-worst:.1f}%"


def test_sweep_html_ranks_the_swept_values_as_given_and_figures_to_two_decimals():
    document = {"start": "2020-01-01", "end": "2024-02-09", "axes": {"exit_threshold_pct": [5.0]},
                "failed": [], "rows": [{"exit_threshold_pct": 5.0, "total_return_pct": 4.5,
                                        "max_drawdown_pct": 0.0, "cagr_pct": 1234.5,
                                        "trades": 7, "run": "runs/0000"}]}
    page = html_report.sweep_html(document)
    assert ("<tr><td>5.0</td><td>4.50</td><td>0.00</td><td>1,234.50</td><td>7</td>"
            '<td><a href="runs/0000/report.html">runs/0000</a></td></tr>') in page


def test_a_sweep_under_a_year_gives_no_cagr_in_either_ranked_table():
    document = {"start": "2024-01-01", "end": "2024-02-09", "axes": {"exit_threshold_pct": [5.0]},
                "rows": [{"exit_threshold_pct": 5.0, "total_return_pct": 4.5,
                          "max_drawdown_pct": 0.0, "cagr_pct": 1234.5, "trades": 7,
                          "run": "runs/0000"}]}
    assert '<td><span title="not annualised: under a year">—</span></td>' in (
        html_report.sweep_html(document))
    assert [figure.text for figure in html_report.sweep_figures(document, document["rows"][0])
            ] == ["4.50", "0.00", "—", "7"]  # the Backtests page's row


def test_the_printed_sweep_table_calls_fills_fills():
    document = {"start": "2020-01-01", "end": "2024-02-09", "axes": {"exit_threshold_pct": [5.0]},
                "rows": [{"exit_threshold_pct": 5.0, "total_return_pct": 4.5,
                          "max_drawdown_pct": 0.0, "cagr_pct": 1.5, "win_rate_pct": 50.0,
                          "trades": 7, "final_equity": 104500.0, "peak_capital_used": 9000.0,
                          "skipped_buys": 0, "run": "runs/0000"}]}
    header, _, row = sweep.format_table(document).splitlines()
    assert header.split() == ["exit", "CAGR", "%", "max", "drawdown", "%", "win",
                              "rate", "%", "fills", "final", "equity", "peak", "cost", "buys",
                              "skipped", "run"]
    assert row.split()[4] == "7" and "trades" not in header


def test_report_html_lists_the_parameters_as_the_figures_read(scenario_dir, config, tmp_path):
    out = tmp_path / "run"
    assert run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out",
                   str(out)).returncode == 0
    parameters = (out / "report.html").read_text().split("<h2>Parameters</h2>")[1]
    assert "<tr><td>max_trade_value</td><td>1,000.00</td></tr>" in parameters
    assert "<tr><td>entry_threshold_pct</td><td>2.00</td></tr>" in parameters
    assert "<tr><td>ma_period</td><td>5</td></tr>" in parameters
    assert ("<tr><td>capital</td><td>2,900.00</td></tr><tr><td>slippage_pct</td><td>0.05</td>"
            "</tr><tr><td>costs</td><td>Indian delivery charges</td></tr>") in parameters


@pytest.mark.parametrize(("costs", "shown"), [(DeliveryCosts(), "Indian delivery charges"),
                                              (NO_COSTS, "none")])
def test_report_html_lists_the_money_settings_of_the_run(scenario_dir, costs, shown):
    settings = Settings(capital=2900.0, slippage_pct=0.1, costs=costs)
    result, summary = backtest.run_backtest(load_csv_dir(scenario_dir), PARAMS, settings, FIRST,
                                            LAST)
    page = html_report.run_html(summary, asdict(PARAMS), result.equity, result.trades,
                                settings=asdict(settings))
    parameters = page.split("<h2>Parameters</h2>")[1].split("<h2>")[0]
    assert ("<tr><td>capital</td><td>2,900.00</td></tr><tr><td>slippage_pct</td><td>0.10</td>"
            f"</tr><tr><td>costs</td><td>{shown}</td></tr>") in parameters


def test_fills_and_the_cost_of_open_positions_say_what_they_count(scenario_dir, config,
                                                                    tmp_path):
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--slippage", "0",
                   "--costs", "0", "--out", str(tmp_path / "run"))
    # Three buys and two sells; at most two ₹1,000 positions (AAA twice, then BBB) open at once.
    assert re.search(r"\nFills \(buys and sells\) +5\n", done.stdout)
    assert re.search(r"\nCost of open positions at peak \(₹\) +2,\d{3}\.\d\d\n", done.stdout)
    report = (tmp_path / "run" / "report.html").read_text()
    assert "<tr><td>Fills (buys and sells)</td><td>5</td></tr>" in report


def test_buy_and_hold_return_is_beside_the_strategy_and_cagr_waits_for_a_year(
        scenario_dir, config, tmp_path):
    # To 10 Jan: AAA at 97, BBB at 95 and CCC at 100 of the 100 they were bought at.
    out = tmp_path / "run"
    done = run_cli(config, "--csv", str(scenario_dir), *SCENARIO_ARGS, "--to", "2024-01-10",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "summary.json").read_text())["summary"][
        "buy_and_hold_return_pct"] == -2.67
    report = (out / "report.html").read_text()
    # a loss has a real minus sign, as on the app's pages
    assert re.search(r"<tr><td>Total return \(%\)</td><td>−?[\d.]+</td></tr>"
                     r"<tr><td>Total return, buy and hold \(%\)</td><td>−2\.67</td></tr>", report)
    assert ("<tr><td>CAGR (%)</td><td>— <small>(not annualised: under a year)"
            "</small></td></tr>") in report
    # The printed summary reads as report.html does.
    assert re.search(r"\nTotal return, buy and hold \(%\) +−2\.67\n", done.stdout)
    assert re.search(r"\nCAGR \(%\) +— \(not annualised: under a year\)\n", done.stdout)


@pytest.mark.parametrize(("start", "end", "shown"), [
    ("2024-01-01", "2024-01-03", False),  # two days
    ("2023-01-02", "2023-12-29", True),   # a calendar year's first to last trading day
    ("2016-01-01", "2025-12-31", True),
])
def test_cagr_is_shown_for_a_year_or_more(start, end, shown):
    summary = {key: 1.0 for key in metrics.FIGURE_LABELS} | {"start": start, "end": end}
    assert (metrics.figure(summary, "cagr_pct").text != "—") is shown


def test_sweep_html_names_the_swept_settings_as_the_command_line_does(scenario_dir, config,
                                                                     tmp_path):
    out = tmp_path / "sweep"
    assert run_cli(config, "--csv", str(scenario_dir), *sweep_args("entry=1", "exit=5,8"),
                   "--out", str(out)).returncode == 0
    page = (out / "sweep.html").read_text()
    assert "<p>Swept: entry (entry_threshold_pct), exit (exit_threshold_pct).</p>" in page
    assert "<h2>entry × exit</h2>" in page
    assert 'aria-label="entry 1.0, exit 8.0: Total return (%) ' in page
    assert ('<th><span title="entry_threshold_pct">entry</span></th>'
            '<th><span title="exit_threshold_pct">exit</span></th>') in page


def test_amounts_are_grouped_in_lakhs_as_the_app_s_pages_group_them(scenario_dir, config,
                                                                    tmp_path, capsys):
    # ₹2 crore of capital and buys of ₹25 lakh read as on the Trading page (2,00,00,000.00),
    # never 20,000,000.00: in the printed summary, report.html and its fills (an exit's P&L above a
    # lakh), and a sweep's table (whose one-month CAGR is "—", as on sweep.html).
    lakhs = ["--capital", "20000000", "--max-trade-value", "2500000"]
    out = tmp_path / "run"
    assert backtest.main(["--csv", str(scenario_dir), *SCENARIO_ARGS, *lakhs, "--out", str(out)],
                         config) == 0
    printed = capsys.readouterr().out
    assert re.search(r"\nInitial capital \(₹\) +2,00,00,000\.00\n", printed)
    report = (out / "report.html").read_text()
    assert "<tr><td>Initial capital (₹)</td><td>2,00,00,000.00</td></tr>" in report
    fills = report.split("<h2>Fills", 1)[1]
    assert re.search(r"<td>\d,\d\d,\d\d\d\.\d\d</td><td>exit</td>", fills), fills
    swept = tmp_path / "sweep"
    assert backtest.main(["--csv", str(scenario_dir), *sweep_args("exit=5,8"), *lakhs,
                          "--out", str(swept)], config) == 0
    table = capsys.readouterr().out.split("\nSaved ", 1)[0]
    assert re.search(r"\n +5\.0 +— .* 2,\d\d,\d\d,\d\d\d\.\d\d .*runs/0000", table), table
    assert not re.search(r"\d,\d\d\d,\d\d\d", printed + report + table)
