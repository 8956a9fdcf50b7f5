"""The servers `make run` and `make serve` start listen with a backlog that takes a reconnect storm.

With Twisted's default of 50, a crowd's connections overflow the kernel's accept queue: SYNs are
dropped and sent again after 1 s, 3 s, ..., and a crowd of 1,000 opens at a fifth of the rate
the server can accept. The commands are read from the Makefile, as a user runs them, and the
backlog from the kernel, on the real listening socket.
"""

from __future__ import annotations

import pathlib
import shlex
import subprocess

import pytest

from tests import servers

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = pathlib.Path(__file__).resolve().parents[2]
# A crowd of 1,000 at once needs room for most of it: well above Twisted's 50.
ENOUGH = 1024


def _make_command(target: str) -> list[str]:
    """The server command of ``make target``, on a free-port placeholder, one worker."""
    printed = subprocess.run(
        ["make", "-n", target, "PORT={port}", "WORKERS=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    line = next(line for line in printed.splitlines() if " -m daphne " in line or " -m uvicorn " in line)
    return shlex.split(line)[1:]  # without the virtualenv's python


def _listen_backlog(port: int) -> int:
    """The backlog the kernel gave the socket listening on ``port``: `ss` prints it as Send-Q."""
    printed = subprocess.run(
        ["ss", "--no-header", "--listening", "--tcp", "--numeric", "sport = :%d" % port],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    rows = [line.split() for line in printed.splitlines()]
    assert len(rows) == 1, printed
    state, _received, backlog, address, *_ = rows[0]
    assert (state, address) == ("LISTEN", "127.0.0.1:%d" % port), printed
    return int(backlog)


def _somaxconn() -> int:
    """Linux's cap on any listen backlog: what a server asks for above it is cut to it."""
    return int(pathlib.Path("/proc/sys/net/core/somaxconn").read_text())


@pytest.mark.parametrize(
    "command",
    [_make_command("run"), _make_command("serve"), servers.DAPHNE],
    ids=["make-run", "make-serve", "tests-daphne"],
)
def test_servers_listen_with_a_backlog_that_takes_a_crowd(transactional_db: None, command: list[str]) -> None:
    with servers.daphne(1, command=command) as (server,):
        assert _listen_backlog(server.port) >= min(ENOUGH, _somaxconn())
