"""What presence costs: Postgres writes per socket open/close, a 1,000-socket open storm with
presence on and off, how long a killed server process's users take to leave, and (``--crowd``,
``--flap``: bench/presence_frames.py) the presence frames each page gets.

``python -m bench.presence [--runs 3] [--crash] [--no-storm] [--crowd 100,1000] [--flap]``
against the machine's Postgres (``--url``, default
``postgres://postgres@127.0.0.1:5432/bench_presence``); one daphne process,
clients in this process, loopback only. Bounded: 1,000 sockets per storm, 60 s per wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

import psycopg
import websockets.asyncio.client as ws_client
import websockets.exceptions as ws_exceptions

from bench import database
from tests import servers

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_presence"
USERS = 50
ROOMS = 20  # every user in every room: 1,000 distinct (room, user) sockets, 20 per user (the cap)
CONCURRENCY = 64
WAIT = 60.0


def fixtures() -> dict[str, Any]:
    from django.contrib.auth.models import User

    from chat import models
    from tests.conftest import session_cookie

    owner, _ = User.objects.get_or_create(username="bench-owner")
    users = [User.objects.get_or_create(username="bench-%d" % i)[0] for i in range(USERS)]
    rooms = list(models.ChatRoom.objects.filter(owner=owner).order_by("id")[:ROOMS])
    while len(rooms) < ROOMS:
        rooms.append(models.ChatRoom.objects.create(owner=owner, title="bench %d" % len(rooms)))
    for room in rooms:
        room.member_set.add(*users)
    return {
        "cookies": [session_cookie(user).decode() for user in users],
        "rooms": [room.id for room in rooms],
        "watch": session_cookie(owner).decode(),
    }


def counters(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),"
            " (SELECT count(*) FROM listener_event WHERE type = 'did_alter_presence'),"
            " (SELECT count(*) FROM listener_presence)"
        ).fetchone()
    assert row is not None
    return {"commits": int(row[0]), "events": int(row[1]), "rows": int(row[2])}


def cpu_seconds(pid: int) -> float:
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_rows(url: str, count: int) -> float:
    started = time.perf_counter()
    while counters(url)["rows"] != count:
        if time.perf_counter() - started > WAIT:
            raise RuntimeError("presence rows did not reach %d in %.0f s" % (count, WAIT))
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def open_all(server: servers.Server, fix: dict[str, Any]) -> list[ws_client.ClientConnection]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(cookie: str, room: int) -> ws_client.ClientConnection:
        # daphne drops a handshake now and then when the two cores are saturated: retry twice.
        for attempt in range(3):
            try:
                async with gate:
                    return await ws_client.connect(
                        server.ws + "/ws/room/%d" % room,
                        additional_headers={"Origin": server.http, "Cookie": cookie},
                        open_timeout=WAIT,
                        max_queue=None,
                    )
            except (OSError, ws_exceptions.WebSocketException) as exc:
                print("handshake failed (%s), attempt %d" % (exc, attempt + 1), file=sys.stderr)
        raise RuntimeError("a socket did not open in 3 attempts")

    return await asyncio.gather(*(one(c, r) for c in fix["cookies"] for r in fix["rooms"]))


async def storm(url: str, fix: dict[str, Any], presence: bool) -> dict[str, float]:
    env = {"REALTIME_PRESENCE": "1" if presence else "0", "REALTIME_LOG_LEVEL": "WARNING"}
    port = servers.free_port()
    server = servers.Server(servers.spawn(port, env), port)
    try:
        servers.wait_until_up(server)
        before, cpu = counters(url), cpu_seconds(server.process.pid)
        started = time.perf_counter()
        sockets = await open_all(server, fix)
        opened = time.perf_counter() - started
        settled = opened + (await wait_rows(url, len(sockets)) if presence else 0.0)
        cpu_open = cpu_seconds(server.process.pid) - cpu
        mid = counters(url)
        await asyncio.gather(*(s.close() for s in sockets))
        if presence:
            await wait_rows(url, 0)
        after = counters(url)
        return {
            "open_s": opened,
            "settled_s": settled,
            "server_cpu_s": cpu_open,
            "commits_open": mid["commits"] - before["commits"],
            "events_open": mid["events"] - before["events"],
            "commits_close": after["commits"] - mid["commits"],
            "events_close": after["events"] - mid["events"],
        }
    finally:
        server.process.kill()
        server.process.wait(10)


async def crash(fix: dict[str, Any]) -> float:
    """Seconds from SIGKILL of one process to its user's leave on another (default settings)."""
    env = {"REALTIME_LOG_LEVEL": "WARNING"}
    with servers.daphne(2, extra_env=env) as (alive, doomed):
        watch = await ws_client.connect(
            alive.ws + "/ws/room/%d" % fix["rooms"][0],
            additional_headers={"Origin": alive.http, "Cookie": fix["watch"]},
        )
        await ws_client.connect(
            doomed.ws + "/ws/room/%d" % fix["rooms"][0],
            additional_headers={"Origin": doomed.http, "Cookie": fix["cookies"][0]},
        )
        while True:
            frame = json.loads(await asyncio.wait_for(watch.recv(), WAIT))
            if frame["type"] == "did_alter_presence" and frame["kwargs"]["user"]["username"] == "bench-0":
                break
        doomed.process.kill()
        killed = time.perf_counter()
        while True:
            frame = json.loads(await asyncio.wait_for(watch.recv(), 90))
            if frame["type"] == "did_alter_presence" and frame["kwargs"]["action"] == "leave":
                return time.perf_counter() - killed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--crash", action="store_true", help="also time a killed process's leave")
    parser.add_argument("--no-storm", action="store_true", help="skip the 50 x 20 open storm")
    parser.add_argument("--crowd", default="", help="sockets opening one room at once, e.g. 100,1000")
    parser.add_argument("--flap", action="store_true", help="frames per member from a tab flapping")
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the server")
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = args.url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    database.create_database(args.url)
    database.migrate({**os.environ})
    import django

    django.setup()
    if args.crowd or args.flap:
        frames(args)
    if args.no_storm:
        return
    fix = fixtures()
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for run in range(args.runs):
        for mode in ("off", "on"):
            result = asyncio.run(storm(args.url, fix, mode == "on"))
            results[mode].append(result)
            print("run %d presence %-3s %s" % (run + 1, mode, json.dumps(result)), file=sys.stderr)
    print("1,000-socket open storm (%d users x %d rooms), medians of %d runs:" % (USERS, ROOMS, args.runs))
    for mode, rows in results.items():
        med = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        print(
            "  presence %-3s open %.2f s, presence rows settled %.2f s, server CPU %.2f s,"
            " commits open/close %d/%d, presence events open/close %d/%d"
            % (
                mode,
                med["open_s"],
                med["settled_s"],
                med["server_cpu_s"],
                med["commits_open"],
                med["commits_close"],
                med["events_open"],
                med["events_close"],
            )
        )
    if args.crash:
        print(
            "killed process's user left after %.1f s (heartbeat 10 s, timeout 30 s)" % asyncio.run(crash(fix))
        )


def frames(args: argparse.Namespace) -> None:
    from bench import presence_frames

    env = dict(item.split("=", 1) for item in args.env)
    for count in [int(n) for n in args.crowd.split(",") if n]:
        fix = presence_frames.crowd_fixtures(count)
        rows = []
        for run in range(args.runs):
            rows.append(asyncio.run(presence_frames.crowd(args.url, fix, env)))
            print("crowd %d run %d %s" % (count, run + 1, json.dumps(rows[-1])), file=sys.stderr)
        med = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        print(
            "crowd of %d opening one room (medians of %d runs): open %.1f s, server CPU %.1f s,"
            " presence frames per socket median %.0f max %.0f, total %.0f, sockets closed early %d"
            % (
                count,
                args.runs,
                med["open_s"],
                med["server_cpu_s"],
                med["frames_median"],
                med["frames_max"],
                med["frames_total"],
                med["closed_early"],
            )
        )
    if args.flap:
        fix = presence_frames.crowd_fixtures(presence_frames.FLAP_WATCHERS + 1)
        rows = []
        for run in range(args.runs):
            rows.append(asyncio.run(presence_frames.flap(args.url, fix, env)))
            print("flap run %d %s" % (run + 1, json.dumps(rows[-1])), file=sys.stderr)
        med = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        print(
            "a tab flapping every %.1f s for %.0f s (%d flaps), %d members watching (medians of %d runs):"
            " presence frames per member median %.0f max %.0f"
            % (
                presence_frames.FLAP_PERIOD,
                med["seconds"],
                med["flaps"],
                presence_frames.FLAP_WATCHERS,
                args.runs,
                med["frames_median"],
                med["frames_max"],
            )
        )


if __name__ == "__main__":
    main()
