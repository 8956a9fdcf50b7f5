"""A JSON socket's send path alone, in nanoseconds per frame: no server, no client, no database.

``python -m bench.send_path [--sockets 1000] [--events 200] [--runs 7]`` makes one event's frame
per event (``LogEvent.frame``, as the listener does once per event), pushes it to every socket's
outbox (``Outbox.push``, the slow rule's check included) and lets each outbox's writer hand it to a
daphne-shaped send: ``functools.partial(handle_reply, protocol)`` whose protocol's transport holds
nothing, so the slow rule reads daphne's backlog on every push as it does under daphne. It prints
the median (min-max) over the runs and the load average. What daphne and the network do after the
send is not in it: ``bench.light`` measures the whole path.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import time
from typing import Any

import django
from django.conf import settings


class Transport:
    """What the slow rule reads of a Twisted TCP transport: nothing buffered."""

    dataBuffer = b""
    offset = 0
    _tempDataLen = 0


class Protocol:
    """A daphne WebSocket protocol, as far as its send callable shows it."""

    def __init__(self) -> None:
        self.transport = Transport()
        self.sent = 0


async def handle_reply(protocol: Protocol, message: dict[str, Any]) -> None:
    protocol.sent += 1


async def one_run(sockets: int, events: int) -> float:
    """Nanoseconds per frame for ``events`` events to ``sockets`` sockets."""
    from listener.log import cursors
    from listener.log import events as log_events
    from listener.sockets import decisions, outbox

    def on_fail(close: decisions.Close) -> None:
        raise AssertionError("no socket is slow here: %s" % (close,))

    protocols = [Protocol() for _ in range(sockets)]
    boxes = [outbox.Outbox("bench %d" % i, on_fail) for i in range(sockets)]
    writers = [
        asyncio.create_task(box.write(functools.partial(handle_reply, protocol)))
        for box, protocol in zip(boxes, protocols, strict=True)
    ]
    await asyncio.sleep(0)
    base = cursors.Cursor(cursors.Snapshot.parse("1000:1000:"))
    now = cursors.Snapshot.parse("1000:%d:" % (1000 + events + 1))
    payload = '{"id": "%d", "room": "5", "sender": {"id": "7", "username": "olivia"}, "message": "hello"}'
    started = time.perf_counter_ns()
    for n in range(events):
        xid = 1000 + n
        event = log_events.LogEvent(n + 1, xid, ["room_5"], "chat_message_created", payload % n, base, now)
        for box in boxes:
            box.push(event.frame)
        # Each writer sends what it was woken for before the next event, as between two reads of the log.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    elapsed = time.perf_counter_ns() - started
    assert all(p.sent == events for p in protocols), "a writer fell behind"
    for task in writers:
        task.cancel()
    await asyncio.gather(*writers, return_exceptions=True)
    return elapsed / (sockets * events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    settings.configure(SECRET_KEY="bench-only", USE_TZ=True)
    django.setup()
    asyncio.run(one_run(args.sockets, 5))  # warm-up: imports, caches
    results = [asyncio.run(one_run(args.sockets, args.events)) for _ in range(args.runs)]
    print(
        "send path, %d sockets x %d events: %.0f ns/frame (min %.0f, max %.0f, %d runs); load %s"
        % (
            args.sockets,
            args.events,
            statistics.median(results),
            min(results),
            max(results),
            args.runs,
            " ".join("%.2f" % x for x in os.getloadavg()),
        )
    )


if __name__ == "__main__":
    main()
