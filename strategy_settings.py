"""Strategy settings kept in the store, so every run uses the same ones wherever it runs (the
web host, its scheduler, a GitHub runner), edited on the Strategy page.

The settings are Config's Strategy section (`config.strategy_fields()`), validated like the
environment's. The store holds the saved values under one key; a setting never saved takes the
environment's value, which is also what the web app saves on its first start. With
STRATEGY_FROM_ENV=true the environment wins and the page only shows the values.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from backtesting.sweep_keys import OPTIONS
from config import Config, ConfigError, parse_setting, setting_range, strategy_fields
from store.base import Store
from strategy_rules import StrategyParams

logger = logging.getLogger(__name__)

STORE_KEY = "strategy_settings"


@dataclass(frozen=True)
class Setting:
    """One strategy setting as the Strategy page shows it."""

    key: str  # the environment key, e.g. MA_PERIOD
    value: Any
    range: str  # e.g. "between 2 and 250"
    help: str
    is_int: bool


class SettingsRejected(ValueError):
    """Submitted settings that are not valid; nothing was saved. `errors` maps KEY → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def for_runs(config: Config, store: Store) -> Config:
    """`config` with the saved strategy settings: what a run uses (one store read)."""
    if config.strategy_from_env:
        return config
    saved = store.get_setting(STORE_KEY) or {}
    names = {spec.name for spec in strategy_fields()}
    try:
        return config.with_overrides(**{name: parse_setting(name, str(value))
                                        for name, value in saved.items() if name in names})
    except ConfigError as exc:
        raise ConfigError(f"a strategy setting saved in the store is invalid: {exc}; save the "
                          f"settings on the Strategy page again") from None


def save_first_run_defaults(config: Config, store: Store) -> None:
    """On the web app's first start, save the environment's strategy settings to the store, so
    a runner without them (e.g. GitHub Actions) uses the same ones."""
    if config.strategy_from_env or store.get_setting(STORE_KEY) is not None:
        return
    store.set_setting(STORE_KEY, _values(config))
    logger.info("strategy settings saved to the store from the environment (first start): %s",
                listed(config))


def describe(config: Config) -> list[Setting]:
    """The strategy settings of `config` (for_runs' result), with their ranges, for the page."""
    return [Setting(spec.name.upper(), getattr(config, spec.name), setting_range(spec.name),
                    spec.metadata["help"], isinstance(spec.default, int))
            for spec in strategy_fields()]


def save(config: Config, store: Store, submitted: Mapping[str, str], who: str) -> list[str]:
    """Validate every submitted setting (KEY → text) and save them together, logging who
    changed what; returns the changes ('MA_PERIOD 20 → 30'). SettingsRejected saves nothing."""
    if config.strategy_from_env:
        raise SettingsRejected({"STRATEGY_FROM_ENV": "STRATEGY_FROM_ENV is set: the strategy "
                                "settings come from the environment and cannot be saved here"})
    current = for_runs(config, store)
    values, errors = {}, {}
    for spec in strategy_fields():
        key = spec.name.upper()
        raw = submitted.get(key, "")
        try:
            if not raw.strip():
                raise ConfigError(f"{key} is empty: enter a value {setting_range(spec.name)}")
            values[spec.name] = parse_setting(spec.name, raw)
        except ConfigError as exc:
            errors[key] = str(exc)
    if errors:
        raise SettingsRejected(errors)
    changes = [f"{name.upper()} {getattr(current, name)} → {value}"
               for name, value in values.items() if value != getattr(current, name)]
    if changes:
        store.set_setting(STORE_KEY, values)
        logger.info("strategy settings changed by %s: %s", who, ", ".join(changes))
    return changes


def listed(config: Config) -> str:
    """'MA_PERIOD=20, ENTRY_THRESHOLD_PCT=0.0, …': the strategy settings of `config`, for logs."""
    return ", ".join(f"{name.upper()}={value}" for name, value in _values(config).items())


def _values(config: Config) -> dict[str, Any]:
    return {spec.name: getattr(config, spec.name) for spec in strategy_fields()}


def backtest_arguments(config: Config, store: Store) -> tuple[list[str], list[str]]:
    """What `python backtest.py` needs to use the saved settings, which it does not read (it
    takes the environment's): environment assignments to put before it ('ENTRY_CANDIDATES=10')
    and its options ('--exit 8'), only for the settings saved with another value."""
    saved, own = for_runs(config, store).strategy_params(), config.strategy_params()
    assignments, options = [], []
    for spec in fields(StrategyParams):
        value = getattr(saved, spec.name)
        if value == getattr(own, spec.name):
            continue
        shown = f"{value:.15g}" if isinstance(value, float) else str(value)  # as saved, all digits
        if spec.name in OPTIONS:
            options.append(f"{OPTIONS[spec.name]} {shown}")
        else:
            assignments.append(f"{spec.name.upper()}={shown}")
    return assignments, options
