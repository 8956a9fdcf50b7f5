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
# The port `make run` and `make serve` listen on (127.0.0.1 only).
PORT = 8000
# How many connections the kernel queues for the server before it accepts them. A deploy makes
# every page reconnect at once; with Twisted's default of 50 the queue overflows, the kernel drops
# SYNs and the clients send them again only after 1 s, 3 s, ...: a bare app under daphne opened
# about 330 sockets/s of a crowd of 1,000 instead of 1,300. `make serve` keeps uvicorn's own
# default (2048), which held back none of 5,000. Linux silently caps it at net.core.somaxconn
# (`sysctl net.core.somaxconn`; 4096 on kernels since 5.4); docs/DEPLOYING.md "Reconnect storms".
BACKLOG ?= 4096
# How long daphne lets the application take to accept a socket before it drops the handshake (its
# default is 5 s). With the whole crowd taken in at once, the last of 1,000 handshakes queue for
# longer than 5 s behind the others and were dropped, to reconnect later into the same queue;
# uvicorn lets them wait. A handshake that cannot reach the database is still answered in 4 s
# (4503, REALTIME_HANDSHAKE_DATABASE_TIMEOUT). docs/DEPLOYING.md "Reconnect storms".
HANDSHAKE_TIMEOUT ?= 30

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

run: bootstrap ## migrate, seed the demo and serve on http://127.0.0.1:8000 (daphne)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python -m daphne -e tcp:port=$(PORT):interface=127.0.0.1:backlog=$(BACKLOG) --websocket_connect_timeout $(HANDSHAKE_TIMEOUT) project.asgi:application

serve: bootstrap ## migrate and serve on every core: uvicorn, one worker per core (WORKERS=n to choose), each with its own listener
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m uvicorn --host 127.0.0.1 --port $(PORT) --workers $(WORKERS) --forwarded-allow-ips '$(FORWARDED_ALLOW_IPS)' --lifespan on --ws websockets-sansio project.asgi:application

test: bootstrap package ## lint, type-check, check migrations, build the manual and the package, the whole suite, then a subset on a second PostgreSQL major
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(MAKE) docs
	$(BIN)/pytest
	$(MAKE) second-major

package: bootstrap ## build the sdist and wheel into dist/, check them with twine and that the wheel carries its SQL, JS and tags
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist . >/dev/null
	$(BIN)/python -m twine check --strict dist/*
	$(BIN)/python -m zipfile -l dist/*.whl > dist/wheel-files.txt
	@for f in listener/py.typed listener/static/listener/realtime.js listener/static/listener/live.js \
		listener/static/listener/idiomorph.esm.js listener/static/listener/idiomorph.LICENSE listener/templatetags/realtime.py \
		listener/sql/realtime_waker_v2.sql listener/migrations/0001_initial.py; do \
		grep -q "^$$f " dist/wheel-files.txt || { echo "the wheel lacks $$f"; exit 1; }; done

# The second major of `make test`: the embedded PostgreSQL 16 (the suite itself runs on 18, or on
# DATABASE_URL's server), with the tests that read and write the log the most. Not the 50k-row
# transaction (over a minute here): what it adds to the rest, paging through one transaction, is
# Python that is the same on every major, over the same queries the others run; the main suite
# runs it, and `make matrix` on each major.
SECOND_MAJOR := 16
SECOND_MAJOR_TESTS ?= tests/capture tests/log/test_cursors.py tests/log/test_log_scan.py \
	tests/log/test_retention.py tests/log/test_waker.py \
	--deselect tests/log/test_log_scan.py::test_a_transaction_of_50k_rows_arrives_whole_in_order_and_resumes_in_the_middle
second-major: bootstrap ## the capture and log tests on a second PostgreSQL major (SECOND_MAJOR=16)
	$(BIN)/python -m nox -s "django52(postgres='$(SECOND_MAJOR)')" -- $(SECOND_MAJOR_TESTS)

matrix: bootstrap ## the library's wings on PostgreSQL 14-18 (14 and 17 from npm, into .postgres-npm/) x Django 5.2 and 6.0 (noxfile.py)
	$(BIN)/python -m nox -s django52 django60

# Not --quiet: it silences the warnings that --strict counts, and a broken link would then pass.
docs: bootstrap ## build the manual (docs/, mkdocs.yml) into site/, warnings as errors
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: bootstrap ## the side-by-side benchmark against Channels + channels-redis (needs Redis)
	$(BIN)/python -m bench.run

bench-layer: bootstrap ## the channel layer against channels-redis: send/group_send rate, latency and order (needs Redis)
	$(BIN)/python -m bench.layer

bench-prune: bootstrap ## pruning 1M events beside live delivery: p99 commit-to-dispatch and log size, one statement vs batches
	$(BIN)/python -m bench.prune

bench-handshake: bootstrap ## handshakes/s and ms per handshake, ours, Channels + channels-redis and a bare app (the server's ceiling): daphne at 300 and 1,000 at once, uvicorn at 300, 1,000 and 5,000, with `make run`'s and `make serve`'s backlog (needs Redis)
	$(BIN)/python -m bench.handshake --server daphne --crowds 300,1000 --designs ours,baseline,bare
	$(BIN)/python -m bench.handshake --server uvicorn --crowds 300,1000,5000 --designs ours,baseline,bare

stop-db: ## stop the embedded Postgres
	$(BIN)/python -m project.embedded_postgres stop

bootstrap: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

.PHONY: help run serve test docs package second-major matrix bench bench-layer bench-prune bench-handshake stop-db bootstrap
