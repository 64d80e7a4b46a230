# Two commands matter: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
SANDBOX_PORT ?= 8765
# e.g. SANDBOX_START=2026-12-08T11:00 (IST): the sandbox's clock in a session, to see fills at night
SANDBOX_START ?=

.PHONY: run test venv lint lock bench bench-store bench-run bench-web bench-backtest lighthouse mongo-server clean

venv: $(VENV)/.installed

# Re-install only when a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# Web app on the embedded SQLite store + the local Fyers sandbox in its demo mode (market orders
# fill at once, no MPP; refresh works); Ctrl-C stops both.
run: venv
	@$(PY) -m fyers_sandbox --port $(SANDBOX_PORT) --state data/sandbox.db --demo \
		$(if $(SANDBOX_START),--start $(SANDBOX_START)) & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	FYERS_SANDBOX_URL=$${FYERS_SANDBOX_URL:-http://127.0.0.1:$(SANDBOX_PORT)} \
	FYERS_REDIRECT_URI=$${FYERS_REDIRECT_URI:-http://127.0.0.1:$(PORT)/tokens/callback} \
	$(PY) run_prod.py --host 127.0.0.1 --port $(PORT) --first-run

test: venv
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check .

# requirements.lock: requirements.txt with every dependency pinned and hashed, for the GitHub
# workflow (Python 3.11, any platform); run it after changing requirements.txt.
lock: venv
	$(VENV)/bin/uv pip compile requirements.txt --universal --generate-hashes \
		--python-version 3.11 --custom-compile-command "make lock" -o requirements.lock

# The store benchmark adds MongoDB-wire figures when a server can be had (FerretDB via Go).
MONGO_FOR_BENCH = TEST_MONGO_URI=$${TEST_MONGO_URI:-$$(bash .ci/mongo-server.sh --background 2>/dev/null)}

bench: venv
	$(MONGO_FOR_BENCH) $(PY) -m bench

bench-store: venv
	$(MONGO_FOR_BENCH) $(PY) -m bench store

bench-run: venv
	$(PY) -m bench run

bench-web: venv
	$(PY) -m bench web

bench-backtest: venv
	$(PY) -m bench backtest

# Lighthouse from the npm registry, pinned in bench/lighthouse/ (Node 20: 12.2.3); `make test`
# never needs npm.
LIGHTHOUSE := bench/lighthouse/node_modules/.bin/lighthouse

$(LIGHTHOUSE): bench/lighthouse/package.json bench/lighthouse/package-lock.json
	cd bench/lighthouse && npm ci --no-audit --no-fund
	@touch $@

lighthouse: venv $(LIGHTHOUSE)
	$(PY) -m bench lighthouse

mongo-server:
	bash .ci/mongo-server.sh

clean:
	rm -rf $(VENV) .pytest_cache artifacts
