"""`python notifier.py remind`: the login reminder of a deployment without the in-process
scheduler (the GitHub workflow's morning job)."""
from __future__ import annotations

import subprocess
import sys

import notifier
from config import PROJECT_DIR
from tests.alerts.test_login_reminder import SATURDAY_1430, THURSDAY_1430


def test_a_missing_login_on_a_trading_day_sends_the_tokens_page_link_once(env, telegram, capsys):
    assert notifier.main(["remind"], now=THURSDAY_1430) == 0
    assert capsys.readouterr().out.startswith("login reminder sent: No Fyers token is stored")
    assert telegram.texts[0].endswith("Log in: https://shop.example.in/tokens")
    assert notifier.main(["remind"], now=THURSDAY_1430 + 60) == 0
    assert "no login reminder due" in capsys.readouterr().out
    assert len(telegram.texts) == 1


def test_nothing_is_sent_when_nse_is_closed(env, telegram, capsys):
    assert notifier.main(["remind"], now=SATURDAY_1430) == 0
    assert telegram.request_count == 0


def test_a_refused_reminder_fails_the_job_in_one_line(env, telegram, capsys):
    telegram.fail_next(400)
    assert notifier.main(["remind"], now=THURSDAY_1430) == 1
    last_line = capsys.readouterr().err.splitlines()[-1]  # after the log lines on the console
    assert last_line.startswith("notifier: the login reminder was not sent: Telegram answered 400")


def test_without_telegram_settings_the_cli_names_them(config):
    result = subprocess.run([sys.executable, "notifier.py", "remind"], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": config.database_url})
    assert result.returncode == 1
    assert result.stderr == ("notifier: Alerts are off: set TELEGRAM_BOT_TOKEN and "
                             "TELEGRAM_CHAT_ID.\n")
