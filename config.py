"""One typed, validated configuration read from the environment and `.env`.

This is the only module that reads `os.environ`. Everything else receives a `Config`.
A bad value (unparseable, not finite, out of its declared range) stops start-up with
`ConfigError`, whose one-line message names the key; an empty value means the default.
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from indian_digits import grouped
from strategy_rules import StrategyParams

PROJECT_DIR = Path(__file__).resolve().parent
# India Standard Time: one fixed UTC+05:30 offset, no daylight saving (the same every date).
IST = timezone(timedelta(hours=5, minutes=30), "IST")
SANDBOX_CLIENT_ID = "SANDBOX-100"
SANDBOX_SECRET_KEY = "sandbox-secret"
NEW_KEY_COMMAND = ("python -c 'from cryptography.fernet import Fernet; "
                   "print(Fernet.generate_key().decode())'")
CI_MARKERS = ("GITHUB_ACTIONS", "CI")  # set on every GitHub Actions (and most CI) runner
# Values of settings whose name holds one of these words are never echoed in an error.
_SENSITIVE_WORDS = ("secret", "token", "key", "pin", "uri", "password")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""


def _text(raw: str) -> str:
    return raw.strip()


def _int(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError("expected a whole number, e.g. 20") from None


def _float(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("expected a number, e.g. 6.28") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true/false")


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


def _rate_limit(raw: str) -> str:
    """A flask-limiter rate such as '10 per minute' (several separated by ';')."""
    from limits import parse_many  # here, not at the top: it costs every CLI ~50 ms to import

    value = raw.strip()
    try:
        parse_many(value)
    except ValueError:
        raise ValueError("expected a rate such as '10 per minute'") from None
    return value


def _fernet_key(raw: str) -> str:
    from cryptography.fernet import Fernet  # here: a CSV backtest never needs cryptography

    value = raw.strip()
    try:
        Fernet(value.encode())
    except ValueError:
        raise ValueError(f"must be a Fernet key (44 characters of url-safe base64), e.g. "
                         f"from: {NEW_KEY_COMMAND}") from None
    return value


def _setting(parse: Callable[[str], Any], default: Any, help: str, *,
             low: float | None = None, high: float | None = None) -> Any:
    """A Config field: `parse` turns the text into a value, `low`/`high` bound it (inclusive)."""
    return field(default=default, metadata={"parse": parse, "help": help, "low": low,
                                            "high": high})


def _dotenv(path: Path) -> dict[str, str]:
    """The settings of the .env file at `path` ({} without one), a near miss of a setting's
    name said on stderr (it would be ignored); ConfigError when the file is not UTF-8 text."""
    try:
        values = {key: value for key, value in dotenv_values(path).items() if value is not None}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                          f"offset {exc.start}): save it as UTF-8") from None
    known = {name.upper() for name in _FIELDS}
    for key in sorted(values.keys() - known):
        if near := _near_miss(key, known):
            print(f"warning: {path.name}: {key} is not a setting, so it is ignored; did you mean "
                  f"{near}?", file=sys.stderr)
    return values


def _near_miss(key: str, known: set[str]) -> str | None:
    """The setting `key` was probably meant to be (another case, a typo), or None."""
    if key.upper() in known:
        return key.upper()
    import difflib  # only for a key that is not a setting

    close = difflib.get_close_matches(key.upper(), known, n=1, cutoff=0.85)
    return close[0] if close else None


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
    log_retention_days: int = _setting(_int, 365, "Log rows older than this many days are "
                                       "removed by the daily retention job", low=1, high=36500)
    strategy_from_env: bool = _setting(_bool, False,
                                       "Strategy settings come from the environment, not from "
                                       "those saved on the Strategy page (which is then read-only)")

    # Web
    secret_key: str = _setting(_text, "", "Flask session/CSRF key; generated into data/ when empty")
    token_encryption_key: str = _setting(_fernet_key, "",
                                         "Fernet key for tokens at rest; generated into data/ when empty")
    app_logs_per_page_home: int = _setting(_int, 7, "Days of recent activity on the dashboard",
                                           low=1, high=366)
    logs_page_size: int = _setting(_int, 50, "Log rows per page on the logs page",
                                   low=1, high=1000)
    max_failed_logins: int = _setting(_int, 5, "Failed logins before a user is locked",
                                      low=1, high=100)
    lockout_minutes: int = _setting(_int, 15, "How long a locked user stays locked",
                                    low=1, high=7 * 24 * 60)
    max_sessions_per_user: int = _setting(_int, 3, "Concurrent sessions per user", low=1, high=100)
    session_idle_minutes: int = _setting(_int, 120, "Idle time before a session ends",
                                         low=1, high=31 * 24 * 60)
    session_max_hours: int = _setting(_int, 24 * 7, "Absolute session lifetime",
                                      low=1, high=366 * 24)
    login_rate_limit: str = _setting(_rate_limit, "10 per minute",
                                     "Per-IP login attempts (flask-limiter syntax)")
    scheduler_enabled: bool = _setting(_bool, False,
                                       "Run the strategy from the web process at RUN_TIME_IST on weekdays")
    run_time_ist: str = _setting(_hhmm, "15:10", "Time of the daily run, IST")
    trusted_proxies: int = _setting(_int, 0,
                                    "Reverse proxies in front of the app whose X-Forwarded-* headers to trust",
                                    low=0, high=10)

    # Fyers
    fyers_mode: str = _setting(_one_of("sandbox", "live"), "",
                               "sandbox or live; sandbox when no FYERS_CLIENT_ID is set")
    fyers_sandbox_url: str = _setting(_text, "http://127.0.0.1:8765", "Where the local sandbox listens")
    fyers_client_id: str = _setting(_text, "", "Fyers app id, e.g. XB12345-100")
    fyers_secret_key: str = _setting(_text, "", "Fyers app secret")
    fyers_pin: str = _setting(_text, "", "Fyers 4-digit PIN, needed to refresh the access token")
    fyers_redirect_uri: str = _setting(_text, "http://127.0.0.1:8080/tokens/callback",
                                       "Redirect URI registered with the Fyers app (this app's callback)")
    access_token_validity: int = _setting(_int, 24 * 3600,
                                          "Seconds an access token lives when its JWT has no exp",
                                          low=60, high=31 * 24 * 3600)
    refresh_token_validity: int = _setting(_int, 15 * 24 * 3600, "Seconds a refresh token lives",
                                           low=60, high=366 * 24 * 3600)
    order_fill_timeout_s: float = _setting(_float, 30.0,
                                           "Seconds to wait for a fill before cancelling",
                                           low=0.1, high=300)
    after_market_orders: bool = _setting(
        _bool, False, "Outside NSE hours place after-market orders (offlineOrder) for the next "
        "open instead of placing nothing")
    broker_timeout_s: float = _setting(_float, 10.0,
                                       "Seconds any Fyers call may take to answer (connecting: at most 5)",
                                       low=1, high=120)
    run_deadline_s: float = _setting(_float, 300.0,
                                     "Hard limit on one run: past it the run stops and fails",
                                     low=30, high=3600)
    rate_limit_window_s: float = _setting(
        _float, 60.0,
        "Fyers' rate-limit window: after a 429 on an order, wait until it ends, then go on",
        low=1, high=600)

    # Paper trading (docs/paper.md): real quotes and history, orders filled by a local simulator
    paper_trading: bool = _setting(_bool, False,
                                   "Paper trading: orders are simulated against Fyers' live quotes, "
                                   "never sent; first-run default, then switched on the Strategy page")
    paper_capital: float = _setting(_float, 100000.0,
                                    "Rupees a new paper account starts with; once opened it keeps "
                                    "its capital", low=1000, high=100_000_000)

    # Backtest
    dask_scheduler_address: str = _setting(
        _text, "", "Dask scheduler for `backtest.py --sweep … --engine dask`, e.g. "
                   "tcp://scheduler-host:8786 (none: a local cluster)")

    # Strategy: every field from MA_PERIOD to the Alerts section is a strategy setting, kept in
    # the store and edited on the Strategy page (strategy_settings.py); these are its defaults.
    ma_period: int = _setting(_int, 20, "Moving-average length in completed daily closes",
                              low=2, high=250)
    entry_threshold_pct: float = _setting(_float, 0.0,
                                          "Buy when price is this % or more below the MA",
                                          low=0, high=50)
    exit_threshold_pct: float = _setting(_float, 6.28, "Sell a holding up this %",
                                         low=0.01, high=100)
    averaging_threshold_pct: float = _setting(_float, 3.14,
                                              "Average down when price is this % below the last buy",
                                              low=0.01, high=50)
    entry_candidates: int = _setting(_int, 5, "How many most-negative symbols to consider",
                                     low=1, high=50)
    max_trade_value: float = _setting(_float, 10000.0, "Rupees per buy", low=100, high=10_000_000)
    max_new_entries_per_run: int = _setting(_int, 1, "New symbols bought per run", low=1, high=50)
    max_new_entries_per_day: int = _setting(_int, 1,
                                            "New symbols bought per trading day, over all runs",
                                            low=1, high=50)
    rebuy_cooldown_days: int = _setting(_int, 5,
                                        "Trading days a symbol sold by hand is not bought back",
                                        low=0, high=250)

    # Alerts
    telegram_bot_token: str = _setting(_text, "", "Telegram bot token for alerts (optional)")
    telegram_chat_id: str = _setting(_text, "", "Telegram chat id for alerts (optional)")
    telegram_api_url: str = _setting(_text, "https://api.telegram.org", "Telegram Bot API base URL")
    alert_reminder_time_ist: str = _setting(
        _hhmm, "14:30", "When to send the Fyers login reminder and the missed-run alert, IST")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = None
                 ) -> Config:
        """Build from `.env` overlaid by the process environment (or `environ` when given)."""
        if environ is None:
            path = Path(env_file) if env_file else PROJECT_DIR / ".env"
            values = _dotenv(path)
            values.update(os.environ)
        else:
            values = dict(environ)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Config:
        """Parse upper-case keys; unknown keys are ignored, an empty value means the default,
        bad ones raise `ConfigError`. On a CI runner a store that would vanish is refused first."""
        refuse_throwaway_store(values)
        parsed = {spec.name: parse_setting(spec.name, values[spec.name.upper()])
                  for spec in fields(cls)
                  if (values.get(spec.name.upper()) or "").strip()}
        return cls(**parsed)

    def __post_init__(self) -> None:
        if not self.fyers_mode:
            object.__setattr__(self, "fyers_mode", "live" if self.fyers_client_id else "sandbox")
        if self.fyers_mode == "live" and not (self.fyers_client_id and self.fyers_secret_key):
            raise ConfigError("FYERS_MODE=live needs FYERS_CLIENT_ID and FYERS_SECRET_KEY")

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
        """The rules' knobs from this Config (a run's Config comes from strategy_settings.py)."""
        return StrategyParams(**{spec.name: getattr(self, spec.name)
                                 for spec in fields(StrategyParams)})

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
        into the data folder (so a single host needs no setup; two hosts must set both keys).
        ConfigError names a key file that is unreadable, empty or not a key."""
        configured = getattr(self, name)
        if configured:
            return configured
        path = self.data_dir / f".{name}"
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            return _new_key_file(path)
        except OSError as exc:
            raise ConfigError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"the key file {path} holds no valid key: it is not text") from None
        if not value and name == "secret_key":  # it only signs cookies: nothing is lost
            path.unlink()
            return _new_key_file(path)
        if not value:
            raise ConfigError(
                f"the key file {path} is empty (left by a failed start?): put the key back, or "
                f"delete the file to generate a new one (stored Fyers tokens and two-factor "
                f"secrets then need setting up again), or set {name.upper()}")
        if name == "token_encryption_key":
            try:
                _fernet_key(value)
            except ValueError as exc:
                raise ConfigError(f"the key file {path} holds no valid key: it {exc}") from None
        return value

    def with_secrets(self) -> Config:
        """This Config with SECRET_KEY and TOKEN_ENCRYPTION_KEY resolved (generated or read)."""
        return self.with_overrides(secret_key=self.secret("secret_key"),
                                   token_encryption_key=self.secret("token_encryption_key"))


def _new_key_file(path: Path) -> str:
    """Write a new key into `path`, readable by this user only, in its own 0700 folder.

    The key is written to a temporary file and linked into place, so a full disk or a
    concurrent start never leaves an empty or half-written key file behind.
    """
    from cryptography.fernet import Fernet

    value = Fernet.generate_key().decode()
    try:
        make_private_folder(path.parent)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(value)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot write the key file {path}: {exc.strerror or exc}") from None
    return value


def make_private_folder(folder: Path) -> None:
    """Create `folder` (and its parents) when missing; a folder this creates is 0700."""
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def sqlite_path(url: str) -> Path:
    """`sqlite:///data/x.db` → project-relative path; `sqlite:////abs/x.db` → absolute path."""
    raw = url.removeprefix("sqlite:///")
    path = Path(raw)
    return path if path.is_absolute() else PROJECT_DIR / path


def parse_setting(name: str, raw: str) -> Any:
    """The value of setting `name` (a Config field) from its text, parsed and range-checked;
    ConfigError names the key (and echoes the value unless it may be a secret)."""
    spec = _FIELDS[name]
    try:
        value = spec.metadata["parse"](raw)
        low, high = spec.metadata["low"], spec.metadata["high"]
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"must be {setting_range(name)}")
    except ValueError as exc:
        shown = "" if any(word in name for word in _SENSITIVE_WORDS) else f"={raw!r}"
        raise ConfigError(f"{name.upper()}{shown} is invalid: {exc}") from None
    return value


def setting_range(name: str) -> str:
    """The declared range of a setting in words ('between 1 and 50'), or '' when it has none."""
    low, high = _FIELDS[name].metadata["low"], _FIELDS[name].metadata["high"]
    if low is not None and high is not None:
        return f"between {_bound(low)} and {_bound(high)}"
    if low is not None:
        return f"at least {_bound(low)}"
    return f"at most {_bound(high)}" if high is not None else ""


def _bound(value: float) -> str:
    """A range bound as a person in India writes it: 10000000 → '1,00,00,000', 0.01 → '0.01'."""
    return grouped(value, 0) if float(value).is_integer() else f"{value:g}"


def strategy_fields() -> list[Field]:
    """Config's Strategy section, MA_PERIOD up to the Alerts section: the settings a run reads
    from the store. A field added at the end of that section is one of them."""
    names = [spec.name for spec in fields(Config)]
    section = names[names.index("ma_period"):names.index("telegram_bot_token")]
    return [_FIELDS[name] for name in section]


def on_ci_runner(values: Mapping[str, str]) -> bool:
    """Whether these are a CI runner's variables (GITHUB_ACTIONS or CI set and not false)."""
    return any((values.get(name) or "").strip().lower() not in ("", "0", "false")
               for name in CI_MARKERS)


def refuse_throwaway_store(values: Mapping[str, str]) -> None:
    """On a CI runner, refuse an embedded store or a generated token key: both would be lost
    with the runner (the run record and logs with them)."""
    if not on_ci_runner(values):
        return
    if not (values.get("MONGO_URI") or "").strip():
        raise ConfigError("MONGO_URI is not set: on a CI runner the embedded SQLite store would "
                          "be lost with the runner; set the MONGO_URI secret to your MongoDB")
    if not (values.get("TOKEN_ENCRYPTION_KEY") or "").strip():
        raise ConfigError("TOKEN_ENCRYPTION_KEY is not set: on a CI runner a generated key "
                          "cannot read the web host's tokens; set the TOKEN_ENCRYPTION_KEY "
                          "secret to the web host's key")


def load_config_or_exit(*, resolve_keys: bool = True) -> Config:
    """For CLIs: the Config with its keys resolved (read from, or generated into, the data
    folder; `resolve_keys=False` leaves them for later), or one line on stderr naming the bad
    key (or key file) and exit status 2."""
    config = config_or_exit(Config.from_env)
    return config_or_exit(config.with_secrets) if resolve_keys else config


def config_or_exit(make: Callable[[], Config]) -> Config:
    """`make()`, or its ConfigError as one line on stderr and exit status 2 (for CLIs)."""
    try:
        return make()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(KEY, default, help) for every setting; used to check `.env.example` stays complete."""
    return [(f.name.upper(), str(f.default), f.metadata["help"]) for f in fields(Config)]


_FIELDS: dict[str, Field] = {spec.name: spec for spec in fields(Config)}
