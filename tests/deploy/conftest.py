"""actionlint, the GitHub Actions workflow checker, built once from its Go module and cached
outside the repository (like .ci/mongo-server.sh caches FerretDB)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ACTIONLINT_MODULE = "github.com/rhysd/actionlint/cmd/actionlint"
ACTIONLINT_VERSION = "v1.7.12"
BUILD_TIMEOUT_S = 600


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nifty-shop" / f"actionlint-{ACTIONLINT_VERSION}"


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """The actionlint binary: cached, else built with the Go toolchain (go install)."""
    binary = _cache_dir() / "actionlint"
    if binary.exists():
        return binary
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists()
                                else None)
    if go is None:
        pytest.fail("actionlint needs the Go toolchain (go) to be built: install Go 1.21+, or run "
                    "bash .ci/go-toolchain.sh and put the folder it prints on PATH")
    built = subprocess.run([go, "install", f"{ACTIONLINT_MODULE}@{ACTIONLINT_VERSION}"],
                           env={**os.environ, "GOBIN": str(binary.parent), "CGO_ENABLED": "0"},
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if built.returncode != 0:
        pytest.fail(f"building actionlint failed: {built.stderr.strip().splitlines()[-1:]}")
    return binary
