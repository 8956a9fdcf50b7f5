"""The side-by-side benchmark's rig: where things live, the defaults, and what one invocation measures.

Every benchmark that drives servers and clients (bench/run.py, light.py, cores.py, handshake.py,
gc_profile.py, socket_memory.py, capture_cost.py) starts from these, so their figures compare.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pathlib
import secrets
from typing import Any

from bench import database

ROOT = pathlib.Path(__file__).resolve().parents[1]
RAW_DIR = ROOT / "bench" / "results" / "raw"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_realtime"
DESIGNS = ("ours", "baseline")
WARM_SOCKETS = 10
FIXED_RATE = 10.0
# A rate is sustained when the p99 stays within this and no frame is lost and no socket closed.
P99_BUDGET_MS = 100.0
QUIET_SUBSCRIBERS = 1000

CTX = multiprocessing.get_context("spawn")


class Config:
    """What one invocation measures, and how long it may take."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quick: bool = args.quick
        self.url: str = args.database_url
        self.runs: int = args.runs or (2 if args.quick else 3)
        self.subscribers: list[int] = [int(n) for n in args.subscribers.split(",")]
        self.server: str = args.server
        self.client_procs: int = args.client_procs
        self.fixed_seconds = 2.0 if args.quick else 3.0
        self.sweep_seconds = 1.5 if args.quick else 2.0
        self.light_seconds = 15.0 if args.quick else 30.0
        # Deliveries per second tried in turn (rate = target / subscribers), until one fails.
        self.targets = (
            [2_000, 5_000, 10_000, 20_000, 40_000]
            if args.quick
            else [1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 40_000, 60_000]
        )
        self.write_slice = 1.0
        self.write_rounds = 2 if args.quick else 4
        self.catchup_events = 1000
        self.catchup_repeats = 2 if args.quick else 3
        self.redis_prefix = "bench-%s" % secrets.token_hex(4)


def single_server(
    database_url: str, server: str, subscribers: str, runs: int, users: int
) -> tuple[Config, dict[str, Any]]:
    """The set-up of the one-server benchmarks (light, gc_profile, socket_memory): their config,
    the database created and migrated, and ``users`` logged-in users on one room."""
    config = Config(
        argparse.Namespace(
            quick=True,
            database_url=database_url,
            runs=runs,
            subscribers=subscribers,
            server=server,
            client_procs=2,
        )
    )
    database.create_database(config.url)
    database.migrate(dict(os.environ, DATABASE_URL=config.url, DJANGO_SETTINGS_MODULE="project.settings"))
    with CTX.Pool(1) as pool:
        fixtures = pool.apply(database.prepare, (config.url, users))
    return config, fixtures
