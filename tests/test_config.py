"""Config: typed values, defaults, and one clear error naming a bad key."""
from __future__ import annotations

import subprocess
import sys

import pytest

from config import PROJECT_DIR, Config, ConfigError, describe_settings


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
])
def test_bad_value_names_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        Config.from_mapping({key: value})


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


def test_generated_secret_is_stable_and_private(config):
    first = config.with_overrides(secret_key="").secret("secret_key")
    assert first == config.with_overrides(secret_key="").secret("secret_key")
    mode = (config.data_dir / ".secret_key").stat().st_mode & 0o777
    assert mode == 0o600


def test_env_example_documents_every_key():
    example = (PROJECT_DIR / ".env.example").read_text()
    missing = [key for key, _, _ in describe_settings() if f"{key}=" not in example]
    assert missing == []


@pytest.mark.parametrize("command", [
    ["verify_db.py"], ["executor.py", "--dry-run"], ["token_refresh.py", "status"],
    ["run_prod.py", "--port", "0"], ["-m", "flask", "--app", "app", "users", "unlock", "admin"],
], ids=lambda command: command[-2] if command[0] == "-m" else command[0])
def test_every_cli_reports_bad_config_in_one_line(tmp_path, command):
    result = subprocess.run(
        [sys.executable, *command],
        env={"MA_PERIOD": "abc", "PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60)
    assert result.returncode != 0
    assert "MA_PERIOD" in result.stderr
    assert "Traceback" not in result.stderr
