# Real-time Django on Postgres. `make` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHONDONTWRITEBYTECODE := 1
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
# Addresses whose X-Forwarded-For uvicorn believes. Its default trusts loopback, so any program on
# the host could claim any client address and dodge the per-address limits. Empty: `make serve`
# has no proxy in front and trusts nobody; behind a proxy on this host, FORWARDED_ALLOW_IPS=127.0.0.1.
FORWARDED_ALLOW_IPS ?=

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

run: bootstrap ## migrate, seed the demo and serve on http://127.0.0.1:8000 (daphne)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python -m daphne -b 127.0.0.1 -p 8000 project.asgi:application

serve: bootstrap ## migrate and serve on every core: uvicorn, one worker per core (WORKERS=n to choose), each with its own listener
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m uvicorn --host 127.0.0.1 --port 8000 --workers $(WORKERS) --forwarded-allow-ips '$(FORWARDED_ALLOW_IPS)' --lifespan on --ws websockets-sansio project.asgi:application

test: bootstrap ## lint, type-check, check migrations, build the manual, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(MAKE) docs
	$(BIN)/pytest

docs: bootstrap ## build the manual (docs/, mkdocs.yml) into site/, warnings as errors
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: bootstrap ## the side-by-side benchmark against Channels + channels-redis (needs Redis)
	$(BIN)/python -m bench.run

bench-layer: bootstrap ## the channel layer against channels-redis: send/group_send rate, latency and order (needs Redis)
	$(BIN)/python -m bench.layer

bench-prune: bootstrap ## pruning 1M events beside live delivery: p99 commit-to-dispatch and log size, one statement vs batches
	$(BIN)/python -m bench.prune

bench-handshake: bootstrap ## handshakes/s and ms per handshake at 300, 1,000 and 5,000 at once, ours and Channels + channels-redis (needs Redis)
	$(BIN)/python -m bench.handshake

stop-db: ## stop the embedded Postgres
	$(BIN)/python -m project.embedded_postgres stop

bootstrap: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

.PHONY: help run serve test docs bench bench-layer bench-prune bench-handshake stop-db bootstrap
