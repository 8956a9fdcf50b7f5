"""Channel layer benchmark: the Postgres layer against channels_redis, side by side in one run.

``.venv/bin/python -m bench.layer [--database-url URL] [--phases a,b] [--messages N]``. Needs the
machine Postgres (default ``postgres://postgres@127.0.0.1:5432/bench_layer``, created and migrated
here) and Redis on 127.0.0.1:6379. For each phase and layer this process sends, and receiving
processes (started per phase, as a worker or another server would be) and/or members in this
process receive (``bench.layer_receiver``):

- ``send-named``, ``send-process``: ``send`` to a named channel, to a process channel
  (``new_channel()``) of the receiver;
- ``group``: ``group_send`` to ``--members`` plain consumers (``receive`` loops) in one receiver;
- ``group-local``: to ``--group-size`` members in this process, the sending one;
- ``group-split``: to ``--group-size`` members, half in each of two receiving processes;
- ``order-remote``, ``order-local``: one writer alternating ``send`` to a channel and
  ``group_send`` to a group holding that channel, back to back; the channel is in another
  process, or in this one. Every phase counts order violations (a message received after one
  sent later on the same channel): expect 0.

Latency: ``--pings`` messages paced ``--gap`` seconds apart (``--group-gap`` to ``--group-size``
members: paced as fast, 100 members would queue and the figure would be a backlog's), send to
receive, one way (all processes read the same monotonic clock), over every delivery.
Throughput: the phase's message count sent back to back; messages (and, for a group,
deliveries) per second from the first send to the last receive. Each phase is capped at
``--cap`` seconds of sending and twice that of receiving. Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import statistics
import sys
import time
from typing import Any

from bench import database, layer_receiver

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_layer"
CTX = multiprocessing.get_context("spawn")
PHASES = ("send-named", "send-process", "group", "group-local", "group-split", "order-remote", "order-local")


@dataclasses.dataclass(frozen=True)
class Phase:
    """What one phase sends and where its receivers are."""

    kind: str
    label: str
    remote: tuple[int, ...]  # channels per receiving process
    local: int  # channels in this, the sending process
    messages: int
    gap: float  # seconds between paced messages


def _phases(args: argparse.Namespace) -> list[Phase]:
    size, half = args.group_size, args.group_size // 2
    paced, group_paced = (args.messages, args.gap), (args.group_messages, args.group_gap)
    order = (args.order_messages, args.gap)
    every = {
        "send-named": Phase("send named", "send named", (1,), 0, *paced),
        "send-process": Phase("send process", "send process", (1,), 0, *paced),
        "group": Phase("group_send", "group_send (%d members)" % args.members, (args.members,), 0, *paced),
        "group-local": Phase("group_send", "group_send (%d local)" % size, (), size, *group_paced),
        "group-split": Phase(
            "group_send",
            "group_send (%d+%d, 2 procs)" % (half, size - half),
            (half, size - half),
            0,
            *group_paced,
        ),
        "order-remote": Phase("order", "send+group_send, other proc", (1,), 0, *order),
        "order-local": Phase("order", "send+group_send, same proc", (), 1, *order),
    }
    return [every[name] for name in args.phases.split(",")]


async def _send_phase(name: str, phase: Phase, number: int, args: argparse.Namespace) -> dict[str, Any]:
    prefix = "bench-%d-%d" % (os.getpid(), number)
    options = {
        "url": args.database_url,
        "layer": name,
        "kind": phase.kind,
        "prefix": prefix,
        "warmup": 20,
        "pings": args.pings,
        "messages": phase.messages,
        "cap": args.cap,
    }
    pipes, processes = [], []
    for members in phase.remote:
        mine, theirs = CTX.Pipe()
        process = CTX.Process(
            target=layer_receiver.receiver_main, args=(theirs, dict(options, members=members)), daemon=True
        )
        process.start()
        pipes.append(mine)
        processes.append(process)
    targets: list[str] = []
    for pipe in pipes:
        targets += await asyncio.to_thread(_recv, pipe, 60)
    layer = layer_receiver.make_layer(name, prefix)
    local = await layer_receiver.join(layer, options, phase.local) if phase.local else []
    draining = asyncio.ensure_future(layer_receiver.drain(layer, local, options)) if local else None
    targets += local
    group = layer_receiver.group_name(prefix)

    async def send(i: int) -> None:
        message = {"type": "bench.message", "i": i, "t": time.perf_counter(), "text": "x" * 100}
        if phase.kind == "group_send" or (phase.kind == "order" and i % 2):
            await layer.group_send(group, message)
        else:
            await layer.send(targets[0], message)

    for i in range(options["warmup"] + args.pings):
        await send(i)
        await asyncio.sleep(phase.gap)
    start = time.perf_counter()
    first = options["warmup"] + args.pings
    try:
        await asyncio.wait_for(_flood(send, first, phase.messages), args.cap)
    except TimeoutError:
        pass
    results = [await asyncio.to_thread(_recv, pipe, args.cap * 2 + 30) for pipe in pipes]
    if draining is not None:
        results.append(await draining)
    for process in processes:
        process.join(10)
    if name == layer_receiver.LAYERS[0]:
        await layer.flush()
    await layer_receiver.close(layer, flush=True)
    pings = sorted(ms for result in results for ms in result["latencies"]) or [float("nan")]
    complete = all(result["complete"] for result in results)
    seconds = max(result["last"] for result in results) - start
    return {
        "layer": name,
        "kind": phase.label,
        "p50": statistics.median(pings),
        "p99": pings[min(len(pings) - 1, int(0.99 * len(pings)))],
        "rate": phase.messages / seconds if complete else float("nan"),
        "deliveries": phase.messages * len(targets) / seconds if complete else float("nan"),
        "violations": sum(result["violations"] for result in results),
        "missing": sum(result["missing"] for result in results),
    }


async def _flood(send: Any, first: int, count: int) -> None:
    for i in range(first, first + count):
        await send(i)


def _recv(pipe: multiprocessing.connection.Connection, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise RuntimeError("the receiving process did not answer within %ss" % timeout)
    return pipe.recv()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.layer", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--phases", default=",".join(PHASES), help="comma-separated, of: %s" % ", ".join(PHASES)
    )
    parser.add_argument("--messages", type=int, default=2000, help="messages per send/group throughput phase")
    parser.add_argument("--pings", type=int, default=300, help="paced messages per latency phase")
    parser.add_argument("--gap", type=float, default=0.005, help="seconds between paced messages")
    parser.add_argument("--members", type=int, default=10, help="members of the 'group' phase's group")
    parser.add_argument("--group-size", type=int, default=100, help="members in group-local and group-split")
    parser.add_argument(
        "--group-messages", type=int, default=500, help="messages per group-local/split phase"
    )
    parser.add_argument(
        "--group-gap", type=float, default=0.05, help="seconds between paced messages to --group-size members"
    )
    parser.add_argument("--order-messages", type=int, default=4000, help="messages per order phase")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds of sending per phase at most")
    args = parser.parse_args(argv)
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        parser.error("no phase %s; phases are %s" % (", ".join(sorted(unknown)), ", ".join(PHASES)))

    database.create_database(args.database_url)
    env = dict(os.environ, DATABASE_URL=args.database_url, DJANGO_SETTINGS_MODULE="project.settings")
    database.migrate(env)
    layer_receiver.setup(args.database_url)
    out = sys.stdout
    out.write(
        "%-16s %-30s %9s %9s %12s %14s %10s\n"
        % ("layer", "operation", "p50 ms", "p99 ms", "messages/s", "deliveries/s", "violations")
    )
    for number, phase in enumerate(_phases(args)):
        for name in layer_receiver.LAYERS:
            row = asyncio.run(_send_phase(name, phase, number, args))
            out.write(
                "%-16s %-30s %9.2f %9.2f %12.0f %14.0f %10d%s\n"
                % (
                    row["layer"],
                    row["kind"],
                    row["p50"],
                    row["p99"],
                    row["rate"],
                    row["deliveries"],
                    row["violations"],
                    "  (capped: %d not received)" % row["missing"] if row["missing"] else "",
                )
            )
            out.flush()


if __name__ == "__main__":
    main()
