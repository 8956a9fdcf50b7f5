"""The side-by-side benchmark: ours (Postgres triggers + listener) against the article's design.

``python -m bench.run [--quick]`` (``make bench``). Real components only: Postgres, one
daphne process per design serving its ASGI app, WebSocket clients in separate processes,
writers in separate processes. Writes ``docs/benchmarks.md``, ``docs/latency_vs_subscribers.png``
and the raw figures (``bench/results/raw/``, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import sys
import time
from typing import Any

from bench import catchup, database, host, light, report, write_cost, writers
from bench.fanout import fan_out_stage
from bench.rig import (
    CTX,
    DEFAULT_URL,
    DESIGNS,
    FIXED_RATE,
    P99_BUDGET_MS,
    QUIET_SUBSCRIBERS,
    RAW_DIR,
    ROOT,
    Config,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter rounds (~5 minutes)")
    parser.add_argument("--runs", type=int, default=0, help="repetitions (default 3, quick 2)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--subscribers", default="100,1000,2000")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--only", default="fanout,light,writes,catchup", help="stages to run")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/")
    parser.add_argument(
        "--report-from", metavar="RAW_JSON", help="only rewrite docs/ from earlier raw results"
    )
    args = parser.parse_args(argv)
    if args.report_from:
        report.write(json.loads(pathlib.Path(args.report_from).read_text()), ROOT / "docs")
        return
    # A terminated run still stops its servers and clients (the finally clauses).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    config = Config(args)
    stages = set(args.only.split(","))
    started = time.time()
    load_at_start = [round(x, 1) for x in os.getloadavg()]
    print("benchmark: %s, %d run(s), database %s" % (config.server, config.runs, config.url), flush=True)
    database.create_database(config.url)
    database.migrate(dict(os.environ, DATABASE_URL=config.url, DJANGO_SETTINGS_MODULE="project.settings"))
    with CTX.Pool(1) as pool:
        fixtures = pool.apply(database.prepare, (config.url, max(config.subscribers) + 10))
    runs = []
    for number in range(config.runs):
        print("run %d/%d" % (number + 1, config.runs), flush=True)
        run: dict[str, Any] = {"fanout": [], "light": None, "writes": None, "catchup": None}
        if "fanout" in stages:
            for subscribers in config.subscribers:
                # Alternate which design goes first, so neither always meets a warmer machine.
                order = DESIGNS if (number + subscribers) % 2 == 0 else DESIGNS[::-1]
                for design in order:
                    run["fanout"].append(fan_out_stage(design, subscribers, config, fixtures))
                if subscribers == QUIET_SUBSCRIBERS:
                    # The latency cost of REALTIME_NOTIFY = "off" (polling instead of wake-ups).
                    run["fanout"].append(
                        fan_out_stage("ours_quiet", subscribers, config, fixtures, sweep_rates=False)
                    )
        if "light" in stages:
            # Light load side by side: where the collector's pauses show most (light.py).
            run["light"] = {
                design: light.stage(design, config, fixtures, config.light_seconds)
                for design in (DESIGNS if number % 2 == 0 else DESIGNS[::-1])
            }
        if "writes" in stages:
            run["writes"] = write_cost.stage(config, fixtures)
        if "catchup" in stages:
            run["catchup"] = catchup.stage(config, fixtures)
            print(
                "  catch-up of %d events: %s ms" % (config.catchup_events, run["catchup"]["ms"]), flush=True
            )
        runs.append(run)
    result = {
        "config": {
            "quick": config.quick,
            "runs": config.runs,
            "server": config.server,
            "database": config.url,
            "subscribers": config.subscribers,
            "fixed_rate": FIXED_RATE,
            "light_rate": light.RATE,
            "light_seconds": config.light_seconds,
            "targets": config.targets,
            "p99_budget_ms": P99_BUDGET_MS,
            "catchup_events": config.catchup_events,
            "message_size": writers.MESSAGE_SIZE,
            "client_procs": config.client_procs,
            "load_at_start": load_at_start,
            "seconds": time.time() - started,
        },
        "machine": host.describe(config.url),
        "runs": runs,
    }
    RAW_DIR.mkdir(parents=True, exist_ok=True)
    raw = RAW_DIR / ("%s-%s.json" % (time.strftime("%Y%m%d-%H%M%S"), config.server))
    raw.write_text(json.dumps(result, indent=1))
    print("raw results: %s" % raw.relative_to(ROOT))
    if not args.no_report:
        report.write(result, ROOT / "docs")
        print("wrote docs/benchmarks.md and docs/latency_vs_subscribers.png")
    print("took %.0f s" % (time.time() - started))


if __name__ == "__main__":
    main()
