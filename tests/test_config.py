"""Config: typed values, defaults, and one clear error naming a bad key."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from config import (
    PROJECT_DIR,
    Config,
    ConfigError,
    describe_settings,
    parse_setting,
    setting_range,
)
from store import open_store


def test_defaults_match_the_design():
    config = Config.from_mapping({})
    assert config.ma_period == 20
    assert config.exit_threshold_pct == 6.28
    assert config.averaging_threshold_pct == 3.14
    assert config.max_trade_value == 10000.0
    assert config.store_url == "sqlite:///data/nifty_shop.db"
    assert config.is_sandbox and config.client_id == "SANDBOX-100"


@pytest.mark.parametrize("key,value", [
    ("MA_PERIOD", "abc"), ("MAX_TRADE_VALUE", "-5"), ("SCHEDULER_ENABLED", "maybe"),
    ("FYERS_MODE", "paper"), ("RUN_TIME_IST", "25:00"), ("EXIT_THRESHOLD_PCT", "0"),
    ("LOGIN_RATE_LIMIT", "lots please"), ("ORDER_FILL_TIMEOUT_S", "nan"),
    ("ORDER_FILL_TIMEOUT_S", "inf"), ("SESSION_MAX_HOURS", "1e9"),
    ("SESSION_MAX_HOURS", "1000000000"), ("APP_LOGS_PER_PAGE_HOME", "1e6"),
    ("APP_LOGS_PER_PAGE_HOME", "1000000"), ("MAX_TRADE_VALUE", "1e400"),
    ("ENTRY_THRESHOLD_PCT", "-inf"), ("LOG_RETENTION_DAYS", "0"), ("LOGS_PAGE_SIZE", "10**6"),
])
def test_bad_value_names_the_key(key, value):
    with pytest.raises(ConfigError, match=key) as raised:
        Config.from_mapping({key: value})
    assert "\n" not in str(raised.value)


def test_a_malformed_encryption_key_is_refused_without_echoing_it():
    with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEY is invalid: must be a Fernet key"
                       ) as raised:
        Config.from_mapping({"TOKEN_ENCRYPTION_KEY": "abc-secret-ish"})
    assert "abc-secret-ish" not in str(raised.value)


def test_every_default_is_within_its_declared_range():
    for spec in fields(Config):
        if spec.default not in ("", None):
            assert parse_setting(spec.name, str(spec.default)) == spec.default, spec.name


def test_an_empty_value_means_the_default():
    every_key_empty = {spec.name.upper(): "" for spec in fields(Config)}
    assert Config.from_mapping(every_key_empty) == Config.from_mapping({})
    config = Config.from_mapping({"MONGO_URI": "mongodb://db:27017", "MONGO_DB_NAME": " "})
    assert config.mongo_database == "nifty_shop"


def test_mongo_uri_wins_and_non_prod_gets_a_suffixed_database():
    config = Config.from_mapping({"MONGO_URI": "mongodb://db:27017", "MONGO_ENV": "test"})
    assert config.store_url == "mongodb://db:27017"
    assert config.mongo_database == "nifty_shop_test"
    assert Config.from_mapping({"MONGO_ENV": "prod"}).mongo_database == "nifty_shop"


def test_live_mode_requires_credentials():
    with pytest.raises(ConfigError, match="FYERS_CLIENT_ID"):
        Config.from_mapping({"FYERS_MODE": "live"})
    live = Config.from_mapping({"FYERS_CLIENT_ID": "XB1-100", "FYERS_SECRET_KEY": "s"})
    assert live.fyers_mode == "live"


def test_env_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("MA_PERIOD=30\nMAX_TRADE_VALUE=5000\n")
    monkeypatch.setenv("MAX_TRADE_VALUE", "7000")
    config = Config.from_env(env_file=env_file)
    assert (config.ma_period, config.max_trade_value) == (30, 7000.0)


@pytest.mark.parametrize("encoded", [b"TELEGRAM_CHAT_ID=caf\xe9\n",  # Latin-1
                                     "MA_PERIOD=30\n".encode("utf-16")])  # as Notepad saves
def test_an_env_file_that_is_not_utf8_is_one_clear_error(tmp_path, encoded):
    env_file = tmp_path / ".env"
    env_file.write_bytes(encoded)
    with pytest.raises(ConfigError, match=rf"^{env_file} is not UTF-8 text \(byte 0x[0-9a-f]{{2}} "
                                          rf"at offset \d+\): save it as UTF-8$"):
        Config.from_env(env_file=env_file)


def test_a_misspelt_setting_in_env_is_named_not_silently_ignored(tmp_path, capsys):
    env_file = tmp_path / ".env"
    env_file.write_text("MA_PERIDO=30\nma_period=25\nBACKUP_HOST=nas\n")
    assert Config.from_env(env_file=env_file).ma_period == 20  # neither is MA_PERIOD
    assert capsys.readouterr().err == (
        "warning: .env: MA_PERIDO is not a setting, so it is ignored; did you mean MA_PERIOD?\n"
        "warning: .env: ma_period is not a setting, so it is ignored; did you mean MA_PERIOD?\n")


def test_generated_secret_is_stable_and_private(config):
    first = config.with_overrides(secret_key="").secret("secret_key")
    assert first == config.with_overrides(secret_key="").secret("secret_key")
    mode = (config.data_dir / ".secret_key").stat().st_mode & 0o777
    assert mode == 0o600


def test_env_example_documents_every_key_with_its_default_range_and_meaning():
    lines = (PROJECT_DIR / ".env.example").read_text().splitlines()
    wrong = []
    for key, default, meaning in describe_settings():
        at = [n for n, line in enumerate(lines) if line.startswith(f"{key}=")]
        range_words = setting_range(key.lower())
        comment = f"# {meaning}" + (f" ({range_words})" if range_words else "")
        if len(at) != 1 or lines[at[0]] != f"{key}={default}" or lines[at[0] - 1] != comment:
            wrong.append(key)
    assert wrong == []


CLIS = [["verify_db.py"], ["executor.py", "--dry-run"], ["token_refresh.py", "status"],
        ["run_prod.py", "--port", "0"], ["backtest.py", "--from", "2024-01-01", "--to", "2024-02-01"],
        ["-m", "flask", "--app", "app", "users", "unlock", "admin"]]


def run_cli(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *command], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60)


@pytest.mark.parametrize("command", CLIS, ids=lambda command: command[0 if command[0] != "-m" else 1])
def test_every_cli_reports_bad_config_in_one_line(tmp_path, command):
    result = run_cli(command, {"MA_PERIOD": "abc", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2
    assert result.stderr.startswith("config error: MA_PERIOD")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", CLIS, ids=lambda command: command[0 if command[0] != "-m" else 1])
def test_every_cli_names_an_empty_key_file_in_one_line(tmp_path, command):
    open_store(f"sqlite:///{tmp_path}/x.db").close()  # read-only tools refuse a missing one
    (tmp_path / ".token_encryption_key").write_text("")
    result = run_cli(command, {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2
    assert f"{tmp_path}/.token_encryption_key is empty" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
