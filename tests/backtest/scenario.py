"""A hand-made 3-symbol, 30-day market, the parameters it is read with, and its CSV writer."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from strategy_rules import StrategyParams

DAYS = 30
# 30 consecutive weekdays from Monday 1 Jan 2024 (day 0) to Friday 9 Feb 2024 (day 29).
DATES = [str(day) for day in np.busday_offset("2024-01-01", range(DAYS), roll="forward")]
FIRST, LAST = date(2024, 1, 1), date(2024, 2, 9)
# Day 5, the first with MA_PERIOD earlier closes: from it on, backtest.py has no warm-up note.
FIRST_ENTRY_DAY = "2024-01-08"

# MA over 5 closes; buy 2 % below it; sell 5 % up; average down more than 3 % below the last buy;
# ₹1,000 a trade.
PARAMS = StrategyParams(ma_period=5, entry_threshold_pct=2.0, exit_threshold_pct=5.0,
                        averaging_threshold_pct=3.0, entry_candidates=5, max_trade_value=1000.0,
                        max_new_entries_per_run=1)
# The same run on the command line.
SCENARIO_ARGS = ["--from", "2024-01-01", "--to", "2024-02-09", "--capital", "2900",
                 "--ma-period", "5", "--entry", "2", "--exit", "5", "--average", "3",
                 "--max-trade-value", "1000"]


def sweep_args(*items: str) -> list[str]:
    """SCENARIO_ARGS with `--sweep ITEMS` (`entry=1,2` …, or another `--sweep`), less the
    options of the settings the items sweep: backtest.py refuses a setting given twice."""
    swept = {"--ma-period" if key == "ma" else f"--{key}"
             for key in (item.partition("=")[0] for item in items)}
    pairs = zip(SCENARIO_ARGS[::2], SCENARIO_ARGS[1::2], strict=True)
    return [*(arg for pair in pairs if pair[0] not in swept for arg in pair), "--sweep", *items]


def scenario_closes() -> dict[str, list[float]]:
    """Closes per symbol: 100 every day except the moves the scenario test walks through."""
    closes = {symbol: [100.0] * DAYS for symbol in ("AAA", "BBB", "CCC")}
    closes["AAA"][5:9] = [97.0] * 4   # day 5: 3 % below its MA → entry
    closes["AAA"][9] = 93.0           # day 9: > 3 % below the last buy → average down
    closes["BBB"][7:11] = [95.0] * 4  # day 7: 5 % below → entry (AAA is no longer 2 % below)
    closes["CCC"][8] = 90.0           # day 8: the best candidate, but cash is short
    return closes


def write_csv(folder, name: str, closes: list[float]) -> None:
    """One symbol's file with the documented columns date,open,high,low,close,volume."""
    pd.DataFrame({"date": DATES[:len(closes)], "open": closes, "high": closes, "low": closes,
                  "close": closes, "volume": 1000}).to_csv(folder / f"{name}.csv", index=False)
