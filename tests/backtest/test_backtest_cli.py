"""`python backtest.py`: the files a user gets, the printed summary, the sweep, bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import backtest
from backtesting.data import load_csv_dir
from backtesting.engine import Settings
from backtesting.sweep import sweep
from tests.backtest.scenario import DATES, FIRST, LAST, PARAMS, SCENARIO_ARGS

PROJECT = Path(backtest.__file__).resolve().parent


def test_cli_writes_trades_equity_and_summary(scenario_dir, config, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox"}
    done = subprocess.run(
        [sys.executable, "backtest.py", "--csv", str(scenario_dir), *SCENARIO_ARGS,
         "--slippage", "0", "--costs", "0", "--out", str(out)],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Final equity (₹)" in done.stdout and "3050.0" in done.stdout
    trades = pd.read_csv(out / "trades.csv")
    assert list(trades.columns) == ["date", "symbol", "side", "qty", "price", "costs", "pnl",
                                    "reason"]
    assert trades["side"].tolist() == ["BUY", "BUY", "BUY", "SELL", "SELL"]
    assert trades["pnl"].dropna().tolist() == [100.0, 50.0]
    equity = pd.read_csv(out / "equity.csv")
    assert list(equity.columns) == ["date", "cash", "holdings_value", "equity"]
    assert equity["date"].tolist() == DATES
    assert equity["equity"].iloc[-1] == 3050.0
    saved = json.loads((out / "summary.json").read_text())
    assert saved["summary"]["trades"] == 5
    assert saved["params"]["ma_period"] == 5


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


def test_missing_csv_folder_is_a_clear_error(config, tmp_path, capsys):
    assert backtest.main(["--csv", str(tmp_path / "none"), *SCENARIO_ARGS], config) == 1
    assert "no .csv files" in capsys.readouterr().err


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


def test_sweep_ranks_by_cagr_and_matches_single_runs(scenario_dir):
    histories = load_csv_dir(scenario_dir)
    settings = Settings(capital=2900.0, slippage_pct=0.0)
    grid = backtest.parse_sweep(["exit=5,8"])
    table = sweep(histories, PARAMS, settings, FIRST, LAST, grid)
    assert [row["cagr_pct"] for row in table] == sorted((row["cagr_pct"] for row in table),
                                                       reverse=True)
    for row in table:
        params = replace(PARAMS, exit_threshold_pct=row["exit_threshold_pct"])
        _, summary = backtest.run_backtest(histories, params, settings, FIRST, LAST)
        assert summary["final_equity"] == row["final_equity"]
