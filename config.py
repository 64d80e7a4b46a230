"""One typed, validated configuration read from the environment and `.env`.

This is the only module that reads `os.environ`. Everything else receives a `Config`.
A bad value stops start-up with `ConfigError`, whose message names the key.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from dotenv import dotenv_values

from strategy_rules import StrategyParams

PROJECT_DIR = Path(__file__).resolve().parent
# India Standard Time: one fixed UTC+05:30 offset, no daylight saving (the same every date).
IST = timezone(timedelta(hours=5, minutes=30), "IST")
SANDBOX_CLIENT_ID = "SANDBOX-100"
SANDBOX_SECRET_KEY = "sandbox-secret"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""


def _text(raw: str) -> str:
    return raw.strip()


def _int(raw: str) -> int:
    return int(raw.strip())


def _float(raw: str) -> float:
    return float(raw.strip())


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true/false")


def _positive(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_positive(raw: str) -> Any:
        value = parse(raw)
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    return parse_positive


def _non_negative(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_non_negative(raw: str) -> Any:
        value = parse(raw)
        if value < 0:
            raise ValueError("must not be negative")
        return value

    return parse_non_negative


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse_choice(raw: str) -> str:
        value = raw.strip().lower()
        if value and value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse_choice


def _hhmm(raw: str) -> str:
    hours, _, minutes = raw.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
        raise ValueError("expected HH:MM (24-hour, IST)")
    return f"{int(hours):02d}:{int(minutes):02d}"


def _setting(parse: Callable[[str], Any], default: Any, help: str) -> Any:
    return field(default=default, metadata={"parse": parse, "help": help})


@dataclass(frozen=True)
class Config:
    """Every setting of Nifty Shop. Field names are the environment keys, lower-cased."""

    # Store
    database_url: str = _setting(_text, "sqlite:///data/nifty_shop.db",
                                 "Embedded store (SQLite file) used when MONGO_URI is empty")
    mongo_uri: str = _setting(_text, "", "MongoDB URL; when set it wins over DATABASE_URL")
    mongo_db_name: str = _setting(_text, "nifty_shop", "MongoDB database name")
    mongo_env: str = _setting(_text, "prod",
                              "prod uses MONGO_DB_NAME as is; anything else appends _<env>")

    # Web
    secret_key: str = _setting(_text, "", "Flask session/CSRF key; generated into data/ when empty")
    token_encryption_key: str = _setting(_text, "",
                                         "Fernet key for tokens at rest; generated into data/ when empty")
    app_logs_per_page_home: int = _setting(_positive(_int), 7,
                                           "Days of recent activity on the dashboard")
    logs_page_size: int = _setting(_positive(_int), 50, "Log rows per page on the logs page")
    max_failed_logins: int = _setting(_positive(_int), 5, "Failed logins before a user is locked")
    lockout_minutes: int = _setting(_positive(_int), 15, "How long a locked user stays locked")
    max_sessions_per_user: int = _setting(_positive(_int), 3, "Concurrent sessions per user")
    session_idle_minutes: int = _setting(_positive(_int), 120, "Idle time before a session ends")
    session_max_hours: int = _setting(_positive(_int), 24 * 7, "Absolute session lifetime")
    login_rate_limit: str = _setting(_text, "10 per minute", "Per-IP login attempts (flask-limiter syntax)")
    scheduler_enabled: bool = _setting(_bool, False,
                                       "Run the strategy from the web process at RUN_TIME_IST on weekdays")
    run_time_ist: str = _setting(_hhmm, "15:10", "Time of the daily run, IST")
    trusted_proxies: int = _setting(_non_negative(_int), 0,
                                    "Reverse proxies in front of the app whose X-Forwarded-* headers to trust")

    # Fyers
    fyers_mode: str = _setting(_one_of("sandbox", "live"), "",
                               "sandbox or live; sandbox when no FYERS_CLIENT_ID is set")
    fyers_sandbox_url: str = _setting(_text, "http://127.0.0.1:8765", "Where the local sandbox listens")
    fyers_client_id: str = _setting(_text, "", "Fyers app id, e.g. XB12345-100")
    fyers_secret_key: str = _setting(_text, "", "Fyers app secret")
    fyers_pin: str = _setting(_text, "", "Fyers 4-digit PIN, needed to refresh the access token")
    fyers_redirect_uri: str = _setting(_text, "http://127.0.0.1:8080/tokens/callback",
                                       "Redirect URI registered with the Fyers app (this app's callback)")
    access_token_validity: int = _setting(_positive(_int), 24 * 3600,
                                          "Seconds an access token lives when its JWT has no exp")
    refresh_token_validity: int = _setting(_positive(_int), 15 * 24 * 3600,
                                           "Seconds a refresh token lives")
    order_fill_timeout_s: float = _setting(_positive(_float), 30.0,
                                           "Seconds to wait for a fill before cancelling")
    broker_timeout_s: float = _setting(_positive(_float), 10.0,
                                       "Seconds any Fyers call may take to answer (connecting: at most 5)")
    run_deadline_s: float = _setting(_positive(_float), 300.0,
                                     "Hard limit on one run: past it the run stops and fails")
    rate_limit_window_s: float = _setting(
        _positive(_float), 60.0,
        "Fyers' rate-limit window: after a 429 on an order, wait until it ends, then go on")

    # Strategy
    ma_period: int = _setting(_positive(_int), 20, "Moving-average length in completed daily closes")
    entry_threshold_pct: float = _setting(_non_negative(_float), 0.0,
                                          "Buy when price is this % or more below the MA")
    exit_threshold_pct: float = _setting(_positive(_float), 6.28, "Sell a holding up this %")
    averaging_threshold_pct: float = _setting(_positive(_float), 3.14,
                                              "Average down when price is this % below the last buy")
    entry_candidates: int = _setting(_positive(_int), 5, "How many most-negative symbols to consider")
    max_trade_value: float = _setting(_positive(_float), 10000.0, "Rupees per buy")
    max_new_entries_per_run: int = _setting(_positive(_int), 1, "New symbols bought per run")
    max_new_entries_per_day: int = _setting(_positive(_int), 1,
                                            "New symbols bought per trading day, over all runs")
    rebuy_cooldown_days: int = _setting(_non_negative(_int), 5,
                                        "Trading days a symbol sold by hand is not bought back")

    # Alerts
    telegram_bot_token: str = _setting(_text, "", "Telegram bot token for alerts (optional)")
    telegram_chat_id: str = _setting(_text, "", "Telegram chat id for alerts (optional)")
    telegram_api_url: str = _setting(_text, "https://api.telegram.org", "Telegram Bot API base URL")
    alert_reminder_time_ist: str = _setting(_hhmm, "14:30",
                                            "When to remind about the Fyers login on trading days, IST")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = None
                 ) -> Config:
        """Build from `.env` overlaid by the process environment (or `environ` when given)."""
        if environ is None:
            path = Path(env_file) if env_file else PROJECT_DIR / ".env"
            values = {k: v for k, v in dotenv_values(path).items() if v is not None}
            values.update(os.environ)
        else:
            values = dict(environ)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Config:
        """Parse upper-case keys; unknown keys are ignored, bad ones raise `ConfigError`."""
        parsed: dict[str, Any] = {}
        for spec in fields(cls):
            key = spec.name.upper()
            raw = values.get(key)
            if raw is None:
                continue
            try:
                parsed[spec.name] = spec.metadata["parse"](raw)
            except ValueError as exc:
                raise ConfigError(f"{key}={raw!r} is invalid: {exc}") from None
        return cls(**parsed)

    def __post_init__(self) -> None:
        if not self.fyers_mode:
            object.__setattr__(self, "fyers_mode", "live" if self.fyers_client_id else "sandbox")
        if self.fyers_mode == "live" and not (self.fyers_client_id and self.fyers_secret_key):
            raise ConfigError("FYERS_MODE=live needs FYERS_CLIENT_ID and FYERS_SECRET_KEY")
        if not (self.mongo_uri or self.database_url):
            raise ConfigError("DATABASE_URL is empty and MONGO_URI is not set")

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with some fields changed (tests, CLIs)."""
        return replace(self, **changes)

    @property
    def store_url(self) -> str:
        """MONGO_URI when set, else DATABASE_URL."""
        return self.mongo_uri or self.database_url

    @property
    def mongo_database(self) -> str:
        """Database name; non-prod environments get a suffix so tests never touch prod data."""
        if self.mongo_env.lower() == "prod":
            return self.mongo_db_name
        return f"{self.mongo_db_name}_{self.mongo_env.lower()}"

    def strategy_params(self) -> StrategyParams:
        """The strategy's knobs as configured."""
        return StrategyParams(
            ma_period=self.ma_period,
            entry_threshold_pct=self.entry_threshold_pct,
            exit_threshold_pct=self.exit_threshold_pct,
            averaging_threshold_pct=self.averaging_threshold_pct,
            entry_candidates=self.entry_candidates,
            max_trade_value=self.max_trade_value,
            max_new_entries_per_run=self.max_new_entries_per_run,
            max_new_entries_per_day=self.max_new_entries_per_day,
        )

    @property
    def is_sandbox(self) -> bool:
        return self.fyers_mode == "sandbox"

    @property
    def client_id(self) -> str:
        """The Fyers app id in use: the sandbox's own unless one is configured."""
        return self.fyers_client_id or (SANDBOX_CLIENT_ID if self.is_sandbox else "")

    @property
    def client_secret(self) -> str:
        return self.fyers_secret_key or (SANDBOX_SECRET_KEY if self.is_sandbox else "")

    @property
    def data_dir(self) -> Path:
        """Folder for generated keys: beside the SQLite file, else `data/` in the project."""
        if not self.mongo_uri and self.database_url.startswith("sqlite:///"):
            return sqlite_path(self.database_url).parent
        return PROJECT_DIR / "data"

    def secret(self, name: str) -> str:
        """SECRET_KEY or TOKEN_ENCRYPTION_KEY: the configured value, else one generated once
        into the data folder (so a single host needs no setup; two hosts must set both keys)."""
        configured = getattr(self, name)
        if configured:
            return configured
        path = self.data_dir / f".{name}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            value = Fernet.generate_key().decode()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(value)
        return path.read_text().strip()


def sqlite_path(url: str) -> Path:
    """`sqlite:///data/x.db` → project-relative path; `sqlite:////abs/x.db` → absolute path."""
    raw = url.removeprefix("sqlite:///")
    path = Path(raw)
    return path if path.is_absolute() else PROJECT_DIR / path


def load_config_or_exit() -> Config:
    """For CLIs: the Config, or one line on stderr naming the bad key and exit status 2."""
    try:
        return Config.from_env()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(KEY, default, help) for every setting; used to check `.env.example` stays complete."""
    return [(f.name.upper(), str(f.default), f.metadata["help"]) for f in fields(Config)]
