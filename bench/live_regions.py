"""Live regions' two modes against JSON frames: latency, server CPU and renders per event.

    DATABASE_URL=postgres://.../db .venv/bin/python -m bench.live_regions [--pages 1 1000]
        [--modes json streams refresh] [--events 20] [--refresh-events 3] [--runs 3]

Against ``DATABASE_URL`` (migrated here), seeds one room whose owner and members each hold a
session, starts one daphne process (with ``bench.live_settings``: the chat plus the bench's refresh
region) and per page count opens that many home pages on the members' user topics, in each mode in
turn, interleaved run by run (``bench/live_clients.py``): ``json`` (today's frames), ``streams``
(the chat's ``home`` region: rendered elements) and ``refresh`` (the same rooms in refresh mode:
each page GETs its own URL). Then renames the room from outside Django (psycopg, autocommit, as
``psql`` would), ``--events`` times (``--refresh-events`` for refresh), each once every page showed
the previous one, plus 100 ms: one event's cost, not a backlog's. Each rename reaches every page.
Prints per mode the p50/p99 from the commit returning to the page showing the new title (the frame
arriving; for refresh, the refetched page arriving), the server process's CPU per event (user +
system, all of it: frames, renders and page GETs), the renders per event (``/metrics``) and the
page GETs per event. Clients share this process and the machine's cores with the server. Every wait
is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import time
import urllib.request
from typing import Any

import psutil
import psycopg

from bench import live_clients
from bench import servers as bench_servers
from tests import servers, throwaway_postgres

SETUP = """
import json
from django.contrib.auth.models import User
from django.test import Client
from chat import models
User.objects.filter(username__startswith="livebench").delete()
users = User.objects.bulk_create(User(username="livebench%%d" %% n, password="!") for n in range(%(users)d))
room = models.ChatRoom.objects.create(owner=users[0], title="Bench")
room.member_set.add(*users[1:])
pages = []
for user in users:
    client = Client()
    client.force_login(user)
    pages.append([user.id, "sessionid=%%s" %% client.cookies["sessionid"].value])
print("SETUP " + json.dumps({"room": room.id, "pages": pages}))
"""
# After every page showed one rename, before the next.
INTERVAL = 0.1


def seed(url: str, users: int) -> dict[str, Any]:
    out = throwaway_postgres.manage(url, "shell", "-c", SETUP % {"users": users})
    line = next(line for line in out.splitlines() if line.startswith("SETUP "))
    loaded: dict[str, Any] = json.loads(line[len("SETUP ") :])
    return loaded


def renders(port: int) -> float:
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as response:
        text = response.read().decode()
    match = re.search(r"^realtime_live_renders_total (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else 0.0


def server_env() -> dict[str, str]:
    """The server's environment: the project's settings plus the bench's refresh region."""
    return {**os.environ, "DJANGO_DEBUG": "0", "DJANGO_SETTINGS_MODULE": "bench.live_settings"}


async def rename(url: str, room: int, numbers: range, interval: float, after: Any = None) -> dict[int, float]:
    """Rename the room to ``bench-<n>`` for each n, from outside Django (psycopg, autocommit, as
    ``psql`` would); when each commit returned. ``after(n)`` (if given) is awaited after each."""
    committed: dict[int, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for n in numbers:
            conn.execute("UPDATE chat_chatroom SET title = %s WHERE id = %s", ("bench-%d" % n, room))
            committed[n] = time.perf_counter()
            if after is not None:
                await after(n)
            await asyncio.sleep(interval)
    return committed


async def run_mode(
    url: str, server: Any, fixtures: dict[str, Any], pages: int, events: int, mode: str, base: int
) -> dict[str, Any]:
    opened = await live_clients.open_pages(server.port, fixtures["pages"][:pages], mode)
    await asyncio.sleep(0.5)
    readers = [asyncio.create_task(page.follow()) for page in opened]
    cpu = psutil.Process(server.process.pid)
    before, cpu_before = renders(server.port), sum(cpu.cpu_times()[:2])
    numbers = range(base, base + events)

    async def settled(n: int) -> None:
        # Each rename waits until every page shows it: the figures are one event's, not a queue
        # of events behind events (a region renders the row as it is when it renders, so under
        # a backlog one frame shows several renames; one refresh per burst is that mode's design).
        await live_clients.wait_shown(opened, n, live_clients.RECEIVE_TIMEOUT)

    committed = await rename(url, fixtures["room"], numbers, INTERVAL, settled)
    await live_clients.wait_shown(opened, numbers[-1], live_clients.RECEIVE_TIMEOUT)
    cpu_after, after = sum(cpu.cpu_times()[:2]), renders(server.port)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for page in opened:
        await page.close()
    latencies = live_clients.latencies(opened, committed)
    return {
        "shown": len(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "cpu_ms_per_event": (cpu_after - cpu_before) * 1000 / events,
        "renders_per_event": (after - before) / events,
        "fetches_per_event": sum(page.fetches for page in opened) / events,
        "failed_fetches": sum(page.failed_fetches for page in opened),
    }


def line(result: dict[str, Any]) -> str:
    return (
        "p50=%.1fms p99=%.1fms server-cpu/event=%.1fms renders/event=%.2f page-GETs/event=%.1f (%d failed)"
        % (
            result["p50"],
            result["p99"],
            result["cpu_ms_per_event"],
            result["renders_per_event"],
            result["fetches_per_event"],
            result["failed_fetches"],
        )
    )


def spread(values: list[float]) -> str:
    return "%.1f (%.1f-%.1f)" % (statistics.median(values), min(values), max(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[1, 1000])
    parser.add_argument(
        "--modes", nargs="+", choices=list(live_clients.REGIONS), default=list(live_clients.REGIONS)
    )
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--refresh-events", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= max(args.pages) <= 1000 or not 1 <= args.runs <= 5:
        parser.error("--pages within 1..1000, --runs within 1..5")
    if not 1 <= args.events <= 200 or not 1 <= args.refresh_events <= 50:
        parser.error("--events within 1..200, --refresh-events within 1..50")
    url = os.environ["DATABASE_URL"]
    throwaway_postgres.manage(url, "migrate", "--noinput", "-v", "0")
    fixtures = seed(url, max(args.pages))
    with bench_servers.project(servers.DAPHNE, server_env()) as server:
        print("load average before: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)
        base = 0
        for pages in args.pages:
            results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in args.modes}
            for run in range(args.runs):
                # Interleaved: each run measures every mode, one after the other, on one server.
                for mode in args.modes:
                    events = args.refresh_events if mode == "refresh" else args.events
                    live_clients.quiet(server.process.pid)
                    result = asyncio.run(run_mode(url, server, fixtures, pages, events, mode, base))
                    base += events
                    results[mode].append(result)
                    print(
                        "  pages=%d run=%d %s: shown=%d of %d %s"
                        % (pages, run + 1, mode, result["shown"], pages * events, line(result)),
                        flush=True,
                    )
            for mode, runs in results.items():
                print(
                    "pages=%d %-7s medians (min-max) of %d runs: p50 %s ms, p99 %s ms,"
                    " server CPU/event %s ms, renders/event %.2f, page GETs/event %.1f"
                    % (
                        pages,
                        mode,
                        len(runs),
                        spread([r["p50"] for r in runs]),
                        spread([r["p99"] for r in runs]),
                        spread([r["cpu_ms_per_event"] for r in runs]),
                        statistics.median(r["renders_per_event"] for r in runs),
                        statistics.median(r["fetches_per_event"] for r in runs),
                    ),
                    flush=True,
                )
        print("load average after: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)


if __name__ == "__main__":
    main()
