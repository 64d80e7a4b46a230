"""The GitHub Actions workflow is the whole second deployment: it passes actionlint, a broken
one does not, and every secret it uses is documented."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import notifier
from config import PROJECT_DIR

WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "run-cron-script.yml"
TEXT = WORKFLOW.read_text()


def lint(actionlint: Path, root: Path) -> subprocess.CompletedProcess:
    """actionlint on the workflow under `root` (shellcheck and pyflakes off: they are not
    installed everywhere, and the run steps are one-liners)."""
    return subprocess.run([str(actionlint), "-no-color", "-shellcheck=", "-pyflakes=",
                           str(WORKFLOW.relative_to(PROJECT_DIR))],
                          cwd=root, capture_output=True, text=True, timeout=120)


def test_the_workflow_passes_actionlint(actionlint):
    result = lint(actionlint, PROJECT_DIR)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout


@pytest.mark.parametrize("broken,error", [
    (("runs-on: ${{ vars.RUNNER", "run-on: ${{ vars.RUNNER"), '"runs-on" section is missing'),
    (("${{ secrets.MONGO_URI }}", "${{ secrets.MONGO_URI }"), "got unexpected EOF while lexing end marker"),
    (("'40 9 * * 1-5'\n", "'40 9 * * 8'\n"), "invalid CRON format"),
    (("inputs.job == 'run'", "inputs.jobs == 'run'"), 'property "jobs" is not defined'),
    (("timeout-minutes: 20", "timeout-minutes: soon"), "expecting a single ${{...}} expression or float number literal"),
], ids=["no runner", "unclosed expression", "bad cron", "unknown input", "bad timeout"])
def test_a_broken_workflow_fails_the_check(actionlint, tmp_path, broken, error):
    shutil.copytree(PROJECT_DIR / ".github", tmp_path / ".github")
    copy = tmp_path / ".github" / "workflows" / WORKFLOW.name
    old, new = broken
    assert old in TEXT
    copy.write_text(TEXT.replace(old, new, 1))
    result = lint(actionlint, tmp_path)
    assert result.returncode == 1 and error in result.stdout, result.stdout


def test_the_jobs_run_the_strategy_the_reminder_and_the_retention():
    assert "cron: '40 9 * * 1-5'" in TEXT and "cron: '30 3 * * *'" in TEXT
    assert notifier.WORKFLOW_MORNING_IST == "09:00"  # 03:30 UTC, as the Tokens page says
    for command in ('python executor.py --trigger "$TRIGGER"', "python notifier.py remind",
                    "python retention.py"):
        assert f"run: {command}\n" in TEXT
    assert "pip install --require-hashes -r requirements.lock" in (
        PROJECT_DIR / ".github" / "actions" / "setup" / "action.yml").read_text()


def normalized(name: str) -> str:
    """A package's name as the index compares them (PEP 503): backports.zstd = backports-zstd."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_holds_every_pinned_requirement_with_its_hashes():
    """requirements.lock (`make lock`) is what the workflow installs: the same versions as
    requirements.txt, each dependency with the hashes of its files."""
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (PROJECT_DIR / "requirements.txt")
                           .read_text(), re.MULTILINE))
    lock = (PROJECT_DIR / "requirements.lock").read_text()
    entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)(?: ;[^\\]*)? \\\n((?: +--hash=sha256:[0-9a-f]{64}"
                         r"(?: \\)?\n)+)", lock, re.MULTILINE)
    locked = {normalized(name): version for name, version, _ in entries}
    assert len(entries) == len(re.findall(r"^[A-Za-z0-9_.-]+==", lock, re.MULTILINE)) > len(pins)
    stale = {name: (version, locked.get(normalized(name))) for name, version in pins.items()
             if locked.get(normalized(name)) != version}
    assert not stale, f"requirements.txt and requirements.lock differ: run make lock ({stale})"


def test_every_secret_the_workflow_uses_is_documented():
    secrets = set(re.findall(r"secrets\.([A-Z_]+)", TEXT))
    assert {"MONGO_URI", "TOKEN_ENCRYPTION_KEY", "FYERS_CLIENT_ID", "TELEGRAM_BOT_TOKEN"} <= secrets
    production = (PROJECT_DIR / "README.md").read_text().split("## Production")[1]
    deploy = (PROJECT_DIR / "docs" / "deploy.md").read_text()
    for name in sorted(secrets):
        assert f"`{name}`" in production, f"README's Production section lacks {name}"
        assert f"`{name}`" in deploy, f"docs/deploy.md lacks {name}"
        assert f"#   {name}" in TEXT or f", {name}" in TEXT, f"the workflow's header lacks {name}"


def test_actions_are_pinned_to_commits():
    """A tag can be moved to other code; a commit cannot (the version stays in a comment)."""
    action = (PROJECT_DIR / ".github" / "actions" / "setup" / "action.yml").read_text()
    remote = re.findall(r"uses: ([^.\s][^\s@]*)@(\S+)", TEXT + action)
    assert {name for name, _ in remote} == {"actions/checkout", "actions/setup-python"}
    assert all(re.fullmatch(r"[0-9a-f]{40}", ref) for _, ref in remote), remote


def test_only_the_python_steps_see_the_secrets():
    """Not the workflow or the job env, which pip and the actions would see too."""
    uses = [line for line in TEXT.splitlines() if "${{ secrets." in line]
    assert len(uses) == 9 and all(len(line) - len(line.lstrip()) == 10 for line in uses)  # step env
    steps = re.findall(r"\n {8}run: (python .*)\n {8}env: ([&*]secrets)\n", TEXT)
    assert [command for command, _ in steps] == [
        'python executor.py --trigger "$TRIGGER"', "python notifier.py remind",
        "python retention.py"]
    assert [anchor for _, anchor in steps] == ["&secrets", "*secrets", "*secrets"]
