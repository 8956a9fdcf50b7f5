"""Live regions against JSON frames: commit-to-frame latency and renders per event, 1 and N pages.

    DATABASE_URL=postgres://.../db .venv/bin/python -m bench.live_regions [--pages 1 200] [--events 20]

Against ``DATABASE_URL`` (migrated here), seeds one room whose owner and members each hold a
session, starts one daphne process, and per page count opens that many home pages on the
members' user topics, in two modes side by side: ``json`` (``/ws/user/<id>``, today's frames)
and ``live`` (``?live=home``, Turbo Stream elements). Then renames the room ``--events`` times
from outside Django (psycopg, autocommit, as ``psql`` would), one every 100 ms: each rename reaches
every page. Prints per mode the p50/p99 from the write's commit returning to the frame arriving at
each page (clients in this process), and for ``live`` the renders per event, from the server's
``/metrics``. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any

import psycopg
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

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
TITLE = re.compile(r"bench-(\d+)")
RECEIVE_TIMEOUT = 20.0


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


async def open_page(port: int, user_id: int, cookie: str, live: bool) -> ClientConnection:
    path = "/ws/user/%d%s" % (user_id, "?live=home" if live else "")
    return await connect(
        "ws://127.0.0.1:%d%s" % (port, path),
        origin=Origin("http://127.0.0.1:%d" % port),
        additional_headers={"Cookie": cookie},
        proxy=None,
        max_size=None,
    )


async def listen(socket: ClientConnection, events: int, arrivals: dict[int, list[float]]) -> None:
    """Record when each rename's frame arrives, until all ``events`` came."""
    seen = 0
    while seen < events:
        text = await asyncio.wait_for(socket.recv(), RECEIVE_TIMEOUT)
        now = time.perf_counter()
        match = TITLE.search(text if isinstance(text, str) else text.decode())
        if match:
            arrivals.setdefault(int(match[1]), []).append(now)
            seen += 1


async def run_mode(
    url: str, port: int, fixtures: dict[str, Any], pages: int, events: int, live: bool, base: int
) -> dict[str, Any]:
    chosen = fixtures["pages"][:pages]
    sockets = [await open_page(port, user_id, cookie, live) for user_id, cookie in chosen]
    await asyncio.sleep(0.5)
    arrivals: dict[int, list[float]] = {}
    listeners = [asyncio.create_task(listen(s, events, arrivals)) for s in sockets]
    committed: dict[int, float] = {}
    before = renders(port)
    with psycopg.connect(url, autocommit=True) as conn:
        for n in range(base, base + events):
            conn.execute(
                "UPDATE chat_chatroom SET title = %s WHERE id = %s", ("bench-%d" % n, fixtures["room"])
            )
            committed[n] = time.perf_counter()
            await asyncio.sleep(0.1)
    await asyncio.wait_for(asyncio.gather(*listeners), RECEIVE_TIMEOUT + events)
    after = renders(port)
    for socket in sockets:
        await socket.close()
    latencies = sorted((arrived - committed[n]) * 1000 for n, times in arrivals.items() for arrived in times)
    return {
        "frames": len(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "renders_per_event": (after - before) / events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[1, 200])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= max(args.pages) <= 1000 or not 1 <= args.events <= 200 or not 1 <= args.runs <= 5:
        parser.error("--pages within 1..1000, --events within 1..200, --runs within 1..5")
    url = os.environ["DATABASE_URL"]
    throwaway_postgres.manage(url, "migrate", "--noinput", "-v", "0")
    fixtures = seed(url, max(args.pages))
    port = servers.free_port()
    env = {**os.environ, "DJANGO_DEBUG": "0"}
    process = subprocess.Popen(
        [sys.executable, *(arg.format(port=port) for arg in servers.DAPHNE)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        servers.wait_until_up(servers.Server(process, port))
        print("load average before: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)
        base = 0
        for pages in args.pages:
            results: dict[str, list[dict[str, Any]]] = {"json": [], "live": []}
            for run in range(args.runs):
                for mode in ("json", "live"):
                    result = asyncio.run(
                        run_mode(url, port, fixtures, pages, args.events, mode == "live", base)
                    )
                    base += args.events
                    results[mode].append(result)
                    print(
                        "  pages=%d run=%d %s: frames=%d p50=%.1fms p99=%.1fms renders/event=%.2f"
                        % (
                            pages,
                            run + 1,
                            mode,
                            result["frames"],
                            result["p50"],
                            result["p99"],
                            result["renders_per_event"],
                        ),
                        flush=True,
                    )
            for mode, runs in results.items():
                print(
                    "pages=%d %s medians of %d runs: p50=%.1fms p99=%.1fms renders/event=%.2f"
                    % (
                        pages,
                        mode,
                        len(runs),
                        statistics.median(r["p50"] for r in runs),
                        statistics.median(r["p99"] for r in runs),
                        statistics.median(r["renders_per_event"] for r in runs),
                    ),
                    flush=True,
                )
        print("load average after: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
