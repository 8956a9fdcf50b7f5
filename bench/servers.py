"""The ASGI server processes the benchmarks measure: one per design, on a loopback port."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import psutil

from bench.rig import ROOT, Config
from tests import servers as test_servers

APPS = {
    "ours": "project.asgi:application",
    "ours_quiet": "project.asgi:application",
    "ours_gc": "project.asgi:application",
    "baseline": "bench.baseline.asgi:application",
    "bare": "bench.bare_asgi:application",
    "eager": "bench.eager_asgi:application",
}
SETTINGS = {
    "ours": "project.settings",
    "ours_quiet": "bench.quiet_settings",
    "ours_gc": "bench.gc_settings",
    "baseline": "bench.baseline.settings",
    "bare": "project.settings",
    "eager": "project.settings",
}


class Server:
    """One ASGI server process serving one design."""

    def __init__(
        self,
        design: str,
        config: Config,
        root: pathlib.Path = ROOT,
        extra_env: dict[str, str] | None = None,
        backlog: int | None = None,
    ) -> None:
        # ``root`` and ``extra_env`` serve another checkout of the project (an earlier version,
        # measured side by side) or today's with a setting changed. ``backlog``: the listen
        # backlog, by default the one `make run` and `make serve` pass (a crowd's handshakes/s
        # depend on it: bench/handshake.py measures others side by side).
        self.design = design
        self.port = free_port()
        env = dict(
            os.environ,
            DATABASE_URL=config.url,
            DJANGO_SETTINGS_MODULE=SETTINGS[design],
            DJANGO_DEBUG="0",
            REALTIME_LOG_LEVEL="WARNING",
            BENCH_REDIS_PREFIX=config.redis_prefix,
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(extra_env or {})
        if config.server == "uvicorn":
            command = [
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ws",
                "websockets-sansio",
                "--log-level",
                "warning",
                "--no-access-log",
                *listen_backlog("uvicorn", backlog),
                APPS[design],
            ]
        else:
            endpoint = "tcp:port=%d:interface=127.0.0.1" % self.port
            endpoint += "".join(":backlog=%s" % n for n in listen_backlog("daphne", backlog))
            timeout = ["--websocket_connect_timeout", str(test_servers.HANDSHAKE_TIMEOUT)]
            command = ["-m", "daphne", "-e", endpoint, *timeout, APPS[design]]
        self.process = subprocess.Popen(
            [sys.executable, *command], env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=None
        )
        self._wait_up()

    def cpu(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def stop(self) -> None:
        stop(self.process)

    def _wait_up(self, timeout: float = 60) -> None:
        # Ours answers /health once its listener is connected; the baseline has no such page,
        # any HTTP answer will do.
        path = "/" if self.design == "baseline" else "/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("%s server exited with %s" % (self.design, self.process.returncode))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=2):
                    return
            except urllib.error.HTTPError:
                if self.design == "baseline":
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("%s server did not come up" % self.design)


def listen_backlog(server: str, backlog: int | None) -> list[str]:
    """How ``server`` is told the listen backlog: ``backlog``, or the project's own (the
    Makefile's `make run` and `make serve`); daphne's part of its endpoint, uvicorn's a flag."""
    if backlog is None:
        backlog = test_servers.BACKLOG if server == "daphne" else test_servers.UVICORN_BACKLOG
    if backlog is None:
        return []
    return [str(backlog)] if server == "daphne" else ["--backlog", str(backlog)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(design: str, config: Config) -> Iterator[Server]:
    server = Server(design, config)
    try:
        yield server
    finally:
        server.stop()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process and reap it: SIGTERM lets daphne close its sockets and the listener
    its connection; one that is still there after 10 s is killed."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def project(command: list[str], env: dict[str, str]) -> Iterator[test_servers.Server]:
    """The project served by ``command`` (``tests.servers.DAPHNE`` or ``UVICORN``) on a free
    loopback port with ``env``, answering ``/health`` until the block ends; stopped however it ends."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *(arg.format(port=port) for arg in command)],
        env=env,
        stdout=subprocess.DEVNULL,
        # BENCH_SERVER_LOG=1 shows the server's log (its errors) beside the bench's output.
        stderr=None if os.environ.get("BENCH_SERVER_LOG") == "1" else subprocess.DEVNULL,
    )
    server = test_servers.Server(process, port)
    try:
        test_servers.wait_until_up(server)
        yield server
    finally:
        stop(process)
