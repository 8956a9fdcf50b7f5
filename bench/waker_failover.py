"""The elected waker's failures, measured: a frozen holder, and a server stopped by a signal.

``python -m bench.waker_failover [--runs 3] [--events 5] [--fill 60] [--cap 60]
[--phases freeze,kill]`` starts two daphne processes on a scratch database (created, migrated and
dropped by the script) and prints, per run:
- commit-to-frame latency on the standby's socket while the elected process is SIGSTOPped
  (writes come from a session that does not NOTIFY, as the project's own writers), next to the
  same with nobody frozen. Before measuring, up to ``--fill`` seconds of one-row commits to
  another room make the frozen holder's waker wake everyone as often as it can (its interval is
  1 ms here), stopping early once that waker's session waits to write to its client (a loop that
  sent a notice per wake-up did so once a few MB of them filled the connection's buffers);
- for SIGKILL and for SIGTERM of the elected process: seconds until every backend it had is
  gone from ``pg_stat_activity`` (at most ``--cap``), and the application of the last one.
The listeners' safety poll stays at the project's default (``REALTIME_POLL_INTERVAL``), so a
missed wake-up shows as the poll's delay, as it would in production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import statistics
import time
import urllib.parse
import urllib.request
from typing import Any

import django
import psutil
import psycopg
import websockets.asyncio.client as ws_client

from bench import database
from tests import servers

CTX = multiprocessing.get_context("spawn")
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/realtime_bench_waker"


def health(server: servers.Server) -> dict[str, Any]:
    with urllib.request.urlopen(server.http + "/health", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def elect(pair: list[servers.Server], timeout: float = 60) -> tuple[servers.Server, servers.Server]:
    """(leader, standby) once exactly one of ``pair`` says its waker leads."""
    deadline = time.monotonic() + timeout
    states: list[Any] = []
    while time.monotonic() < deadline:
        states = [health(s).get("waker", {}).get("state") for s in pair]
        if sorted(map(str, states)) == ["leading", "standby"]:
            leader = pair[states.index("leading")]
            return leader, pair[1 - pair.index(leader)]
        time.sleep(0.1)
    raise RuntimeError("no waker was elected within %.0fs (states: %s)" % (timeout, states))


def backends(url: str, process: psutil.Process) -> dict[int, str]:
    """The Postgres backends (pid: application) serving ``process``, found by its client ports."""
    ports = [c.laddr.port for c in process.net_connections("tcp") if c.raddr and c.raddr.port == 5432]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, application_name FROM pg_stat_activity WHERE client_port = ANY(%s)", [ports]
        ).fetchall()
    return dict(rows)


def seconds_until_gone(url: str, pids: dict[int, str], cap: float) -> tuple[float, str]:
    """Seconds until none of ``pids`` is in pg_stat_activity (``cap`` if some outlive it), and
    the application of the last one to go."""
    started = time.monotonic()
    last = ""
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() - started < cap:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)]
            ).fetchall()
            if not rows:
                return time.monotonic() - started, last
            last = ",".join(sorted({pids[row[0]] for row in rows}))
            time.sleep(0.05)
    return cap, last + " (still there)"


def sweep(url: str, keep: int) -> int:
    """End what earlier servers left behind in the database (backends other than ``keep``, the
    writer's), so each phase starts with no waker holding the lock; how many there were."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)",
            [keep],
        ).fetchall()
    return len(rows)


class Writer:
    """Inserts chat messages as the project's sessions do: no NOTIFY of its own."""

    def __init__(self, url: str, fixtures: dict[str, Any]) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("SELECT set_config('realtime.notify', 'off', false)")
        self.fixtures = fixtures

    def write(self, text: str) -> float:
        self.conn.execute(
            "INSERT INTO chat_chatmessage (room_id, sender_id, posted, message) VALUES (%s, %s, now(), %s)",
            [self.fixtures["room_id"], self.fixtures["sender_id"], text],
        )
        return time.time()

    def fill(self, room_id: int, seconds: float) -> tuple[int, float | None]:
        """One-row commits to ``room_id`` for ``seconds`` (at most 1,000,000), each a wake-up,
        until the elected waker's session waits to write to its client; (commits, seconds until
        it did or None)."""
        started = time.monotonic()
        done = 0
        blocked = None
        self.conn.execute("SET synchronous_commit = off")  # only wake-ups count here, not fsyncs
        while done < 1_000_000 and time.monotonic() - started < seconds:
            self.conn.execute(
                "INSERT INTO chat_chatmessage (room_id, sender_id, posted, message)"
                " VALUES (%s, %s, now(), 'x')",
                [room_id, self.fixtures["sender_id"]],
            )
            done += 1
            if done % 500 == 0 and self.holder_waits_on_client():
                blocked = time.monotonic() - started
                break
        self.conn.execute("SET synchronous_commit = on")
        return done, blocked

    def holder_waits_on_client(self) -> bool:
        row = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'realtime-waker' AND wait_event = 'ClientWrite'"
        ).fetchone()
        return bool(row and row[0])


async def latencies(
    server: servers.Server, fixtures: dict[str, Any], writer: Writer, count: int, label: str
) -> list[float]:
    """Commit-to-frame seconds of ``count`` writes on one socket of ``server`` (at most 30 s each)."""
    socket = await ws_client.connect(
        server.ws + "/ws/room/%d" % fixtures["room_id"],
        additional_headers={"Origin": server.http, "Cookie": fixtures["cookies"][0]},
        open_timeout=10,
    )
    found = []
    try:
        for i in range(count):
            text = "%s %d" % (label, i)
            committed = await asyncio.to_thread(writer.write, text)
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
                if frame["type"] == "chat_message_created" and frame["kwargs"]["message"] == text:
                    found.append(time.time() - committed)
                    break
            # Writes land at random points of the listeners' poll cycle, not right after a frame.
            await asyncio.sleep(0.3 + 0.7 * (i % 3))
    finally:
        await socket.close()
    return found


def one_run(url: str, fixtures: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    env = {"DATABASE_URL": url, "REALTIME_PRESENCE": "0"}
    result: dict[str, Any] = {"live": [0.0], "frozen": [0.0], "SIGKILL": (0.0, ""), "SIGTERM": (0.0, "")}
    result.update(SIGKILL_apps=[], SIGKILL_left_before=0, SIGTERM_left_before=0, filled=0, blocked=None)
    writer = Writer(url, fixtures)
    try:
        fast = {**env, "DJANGO_SETTINGS_MODULE": "bench.waker_settings"}
        fast.update(REALTIME_WAKER_INTERVAL="0.001", REALTIME_WAKER_BUSY_INTERVAL="0.001")
        running: contextlib.AbstractContextManager[list[servers.Server]]
        running = servers.daphne(2, fast) if "freeze" in args.phases else contextlib.nullcontext([])
        with running as pair:
            if pair:
                leader, standby = elect(pair)
                result["live"] = asyncio.run(latencies(standby, fixtures, writer, args.events, "live"))
                os.kill(leader.process.pid, signal.SIGSTOP)
                try:
                    result["filled"], result["blocked"] = writer.fill(fixtures["other_room_id"], args.fill)
                    result["frozen"] = asyncio.run(
                        latencies(standby, fixtures, writer, args.events, "frozen")
                    )
                finally:
                    os.kill(leader.process.pid, signal.SIGCONT)
        for name, signum in (("SIGKILL", signal.SIGKILL), ("SIGTERM", signal.SIGTERM)):
            if "kill" not in args.phases:
                break
            result[name + "_left_before"] = sweep(url, writer.conn.info.backend_pid)
            with servers.daphne(2, env) as pair:
                leader, standby = elect(pair)
                pids = backends(url, psutil.Process(leader.process.pid))
                os.kill(leader.process.pid, signum)
                result[name] = seconds_until_gone(url, pids, args.cap)
                result[name + "_apps"] = sorted(set(pids.values()))
        result["left_after"] = sweep(url, writer.conn.info.backend_pid)
    finally:
        writer.conn.close()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.waker_failover", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_WAKER_URL", DEFAULT_URL))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--cap", type=float, default=60.0, help="longest wait for a killed server's backends")
    parser.add_argument(
        "--fill", type=float, default=60.0, help="seconds of wake-ups before the frozen round"
    )
    parser.add_argument("--phases", default="freeze,kill")
    args = parser.parse_args(argv)
    url = args.database_url
    # tests.servers reads Django's settings; the servers themselves get ``url`` in their environment.
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    database.create_database(url)
    runs = []
    try:
        database.migrate(dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="project.settings"))
        with CTX.Pool(1) as pool:
            fixtures = pool.apply(database.prepare, (url, 1))
        fixtures["other_room_id"] = _other_room(url, fixtures)
        for n in range(args.runs):
            result = one_run(url, fixtures, args)
            runs.append(result)
            print(
                "run %d: live p50 %.1f ms max %.1f ms"
                " | elected frozen (after %d commits; its waker blocked on its client: %s)"
                " p50 %.1f ms max %.1f ms"
                " | backends gone after SIGKILL %.1f s (last: %s), SIGTERM %.1f s (last: %s)"
                " | backends left over by the last pair before each phase: %s, %s, %s"
                % (
                    n + 1,
                    1000 * statistics.median(result["live"]),
                    1000 * max(result["live"]),
                    result["filled"],
                    "never" if result["blocked"] is None else "after %.1f s" % result["blocked"],
                    1000 * statistics.median(result["frozen"]),
                    1000 * max(result["frozen"]),
                    *result["SIGKILL"],
                    *result["SIGTERM"],
                    result["SIGKILL_left_before"],
                    result["SIGTERM_left_before"],
                    result["left_after"],
                ),
                flush=True,
            )
    finally:
        _drop(url)
    if runs:
        print(
            "medians of %d runs: live p50 %.1f ms | frozen p50 %.1f ms, max %.1f ms"
            " | SIGKILL %.1f s | SIGTERM %.1f s (apps: %s)"
            % (
                len(runs),
                1000 * statistics.median(statistics.median(r["live"]) for r in runs),
                1000 * statistics.median(statistics.median(r["frozen"]) for r in runs),
                1000 * statistics.median(max(r["frozen"]) for r in runs),
                statistics.median(r["SIGKILL"][0] for r in runs),
                statistics.median(r["SIGTERM"][0] for r in runs),
                ",".join(runs[-1]["SIGKILL_apps"]),
            )
        )


def _other_room(url: str, fixtures: dict[str, Any]) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO chat_chatroom (owner_id, title, join_code) VALUES (%s, 'elsewhere', 'elsewhere')"
            " RETURNING id",
            [fixtures["sender_id"]],
        ).fetchone()
    assert row is not None
    return int(row[0])


def _drop(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        conn.execute("DROP DATABASE IF EXISTS %s" % psycopg.sql.Identifier(name).as_string(conn))


if __name__ == "__main__":
    main()
