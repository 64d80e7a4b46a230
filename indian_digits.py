"""Indian digit grouping, the way an Indian reader writes amounts: the last three digits, then
pairs (1,23,45,678.90). One formatter for every amount the pages, the alerts, the settings and
the backtest reports show, stdlib only, so the backtest CLI and the pure strategy rules can use
it without the import time of a locale library.
"""
from __future__ import annotations

MINUS = "\u2212"  # a real minus sign reads better than a hyphen


def grouped(value: float, decimals: int = 2) -> str:
    """`value` rounded to `decimals` places with Indian grouping and a real minus sign:
    −12,34,567.89. What rounds to zero has no sign."""
    text = f"{abs(value):.{decimals}f}"
    whole, point, fraction = text.partition(".")
    head, last_three = whole[:-3], whole[-3:]
    pairs = [head[max(end - 2, 0):end] for end in range(len(head), 0, -2)]
    digits = ",".join([*reversed(pairs), last_three])
    sign = MINUS if value < 0 and float(text) else ""
    return f"{sign}{digits}{point}{fraction}"
