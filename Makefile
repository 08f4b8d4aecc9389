# The two commands a fresh machine needs: `make run` and `make test` (see README.md).
SHELL := /bin/sh
VENV := .venv
PY := $(VENV)/bin/python
# Re-install when the pinned requirements change; the stamp lives inside .venv so that
# deleting .venv starts over cleanly.
STAMP := $(VENV)/.requirements-installed

.PHONY: run test lint typecheck check bench bench-quick venv clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@python=$$(./scripts/find-python) || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
		rm -rf $(VENV); echo "Creating $(VENV) with $$python"; "$$python" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.txt
	@touch $(STAMP)

# Portal on :8000 (PORTAL_PORT), sandbox upstream on :8001 (SANDBOX_PORT), Celery worker and beat.
run: $(STAMP)
	$(PY) -m portal.runstack

# The whole suite. DATABASE_URL / REDIS_URL select PostgreSQL and Redis; without them it runs
# on SQLite and the database-backed fallbacks.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy .

check: lint typecheck test

# The gateway benchmark (bench/gateway/): the proxy against nginx and LiteLLM in one run,
# ~10 minutes; writes bench/results/gateway.{json,md}. `make bench BENCH_ARGS=--update-readme`
# also puts the summary table into README.md. The other benches: python -m bench.<name>.
bench: $(STAMP)
	$(PY) -m bench.gateway $(BENCH_ARGS)

# About a minute; fails when the proxy's added p50 is more than a set multiple of nginx's.
bench-quick: $(STAMP)
	$(PY) -m bench.gateway --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
