"""Concurrent logged-in page loads on one server process: statuses and Postgres backends.

    .venv/bin/python -m bench.page_crowd [--pages 60 200] [--runs 3] [--server daphne]
        [--max-connections 100] [--env DJANGO_CONN_MAX_AGE=60 --env DJANGO_DB_POOL=0]

Starts a throwaway Postgres (``--max-connections``, default 100 like the shared server), seeds
40 room members with a session each, then per run starts one server process with the project's
settings (plus ``--env``), opens one socket-free page to warm it, and fires ``--pages``
concurrent loads of the room page. Prints per run: statuses, client backends before, at the
peak (sampled every 50 ms) and 10 s after the crowd, and the crowd's wall time. Each load is
bounded by 60 s; leftover backends are terminated between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from bench import servers as bench_servers
from tests import http_crowd, servers, throwaway_postgres

MEMBERS = 40
LINGER = 10.0


def run_once(
    cluster: throwaway_postgres.Cluster,
    fixtures: dict[str, Any],
    pages: int,
    command: list[str],
    env: dict[str, str],
) -> dict[str, Any]:
    full_env = {**os.environ, "DATABASE_URL": cluster.url, "DJANGO_DEBUG": "0", **env}
    full_env.pop("DJANGO_TEST_DATABASE", None)
    path = "/rooms/%d/" % fixtures["room"]
    cookies = list(fixtures["cookies"])
    try:
        with bench_servers.project(command, full_env) as server:
            asyncio.run(http_crowd.crowd(server.port, path, cookies, 1))
            with cluster.admin() as conn:
                sampler = http_crowd.BackendSampler(conn)
                before = sampler.now()
                started = time.monotonic()
                with sampler:
                    statuses = asyncio.run(http_crowd.crowd(server.port, path, cookies, pages))
                wall = time.monotonic() - started
                time.sleep(LINGER)
                after = sampler.now()
    finally:
        with cluster.admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
    return {
        "statuses": http_crowd.counts(statuses),
        "before": before,
        "peak": sampler.peak,
        "after": after,
        "wall": wall,
        "sampler_errors": sampler.errors[:1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[60, 200])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--max-connections", type=int, default=100)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()
    if not 1 <= max(args.pages) <= 500 or not 1 <= args.runs <= 10:
        parser.error("--pages within 1..500 and --runs within 1..10")
    env = dict(item.split("=", 1) for item in args.env)
    command = servers.DAPHNE if args.server == "daphne" else servers.UVICORN
    with throwaway_postgres.cluster(args.max_connections) as cluster:
        fixtures = throwaway_postgres.seed(cluster.url, MEMBERS)
        print("server=%s max_connections=%d env=%s" % (args.server, args.max_connections, env), flush=True)
        for pages in args.pages:
            peaks, walls, oks = [], [], []
            for n in range(args.runs):
                result = run_once(cluster, fixtures, pages, command, env)
                print(
                    "  pages=%d run=%d statuses=%s backends before=%s peak=%s after%.0fs=%s wall=%.1fs%s"
                    % (
                        pages,
                        n + 1,
                        result["statuses"],
                        result["before"],
                        result["peak"],
                        LINGER,
                        result["after"],
                        result["wall"],
                        " sampler: %s" % result["sampler_errors"] if result["sampler_errors"] else "",
                    ),
                    flush=True,
                )
                peaks.append(result["peak"])
                walls.append(result["wall"])
                oks.append(result["statuses"].get(200, 0))
            print(
                "pages=%d medians: 200s %s of %d, peak backends %s, wall %.1fs"
                % (
                    pages,
                    statistics.median(oks),
                    pages,
                    statistics.median(peaks),
                    statistics.median(walls),
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
