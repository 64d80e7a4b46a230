"""How the command line names the strategy settings: the options that set them (`--exit 8`) and
the keys a sweep varies (`--sweep entry=0,1 exit=5,8`), so that sweep.html and the Backtests
page name them as the user typed them, as its failure lines do, with each setting's own name
beside it."""
from __future__ import annotations

from collections.abc import Iterable

# --sweep KEY → the StrategyParams field (and Config setting, whose range it must be in).
SWEEP_KEYS = {"entry": "entry_threshold_pct", "exit": "exit_threshold_pct",
              "average": "averaging_threshold_pct", "ma": "ma_period",
              "candidates": "entry_candidates", "max-trade-value": "max_trade_value"}
_KEY_OF = {field: key for key, field in SWEEP_KEYS.items()}
# The StrategyParams field → the backtest.py option that sets it for one run; the other fields
# come from the environment, as the live run's do without saved settings.
OPTIONS = {"ma_period": "--ma-period", "entry_threshold_pct": "--entry",
           "exit_threshold_pct": "--exit", "averaging_threshold_pct": "--average",
           "max_trade_value": "--max-trade-value"}


def sweep_key(field: str) -> str:
    """The --sweep key of a setting ('entry' for entry_threshold_pct); one without a key keeps its
    own name."""
    return _KEY_OF.get(field, field)


def swept_settings(fields: Iterable[str]) -> str:
    """The line that says which setting each swept key is: 'Swept: entry (entry_threshold_pct),
    exit (exit_threshold_pct).'"""
    return "Swept: " + ", ".join(f"{sweep_key(field)} ({field})" for field in fields) + "."
