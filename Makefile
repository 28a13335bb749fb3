# Two commands on a fresh machine: `make run` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck migrate clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start the central system on SQLite with the demo garage (Ctrl-C stops it).
run: $(STAMP)
	$(BIN)/python -m central_system --seed-demo

## Everything CI checks: format, lint, types, and every test tier.
test: $(STAMP) lint typecheck browser
	$(BIN)/pytest

## Debian's headless Chromium and its driver for the owner page's browser test (root only).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	fi

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

## Apply the database migrations without starting the server.
migrate: $(STAMP)
	$(BIN)/python -m central_system.persistence.migrate

## The benchmark, not a test: limit, peer and ours side by side, written to bench/results/
## (about 14 minutes; `make bench BENCH_ARGS=--quick` for a 2-minute smoke run), then the
## cluster run: two worker processes against one on PostgreSQL and Redis.
.PHONY: bench
bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.cluster --rounds 1

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
