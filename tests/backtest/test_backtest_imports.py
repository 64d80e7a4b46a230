"""A CSV backtest starts light: neither the engine nor a whole `backtest.py --csv` run loads the
broker SDK, the scheduler, the trading calendar, the store, babel, pandas or numpy (importing
them took longer than a naive backtest's whole run), nor what only a sweep needs (its process
pool, its table printer, the cluster extra)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import backtest
from tests.backtest.scenario import SCENARIO_ARGS

PROJECT = Path(backtest.__file__).resolve().parent
HEAVY = {"fyers_apiv3", "aiohttp", "broker", "apscheduler", "scheduler", "exchange_calendars",
         "trading_calendar", "store", "babel", "pandas", "numpy", "dask", "distributed",
         "tabulate", "multiprocessing"}
PRINT_MODULES = "print(*sorted({name.split('.')[0] for name in sys.modules}))"


def top_level_modules(config, code: str) -> set[str]:
    """The top-level packages loaded once `code` has run in a fresh interpreter."""
    env = {**os.environ, "DATABASE_URL": config.database_url, "FYERS_MODE": "sandbox"}
    done = subprocess.run([sys.executable, "-c", f"import sys\n{code}\n{PRINT_MODULES}"],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_engine_loads_nothing_heavy(config):
    modules = top_level_modules(config, "import backtesting.engine, backtesting.results")
    assert "strategy_rules" in modules
    assert modules & HEAVY == set()


def test_a_csv_backtest_run_loads_nothing_heavy(config, scenario_dir, tmp_path):
    argv = ["backtest.py", "--csv", str(scenario_dir), *SCENARIO_ARGS, "--out", str(tmp_path)]
    modules = top_level_modules(config, f"""
import runpy
sys.argv = {argv!r}
try:
    runpy.run_path("backtest.py", run_name="__main__")
except SystemExit as exit:
    assert exit.code == 0, exit.code
""")
    assert (tmp_path / "trades.csv").is_file()
    assert modules & HEAVY == set()
