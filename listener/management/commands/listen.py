"""``manage.py listen``: tail the event log as a server process's listener sees it."""

from __future__ import annotations

import asyncio
import fnmatch
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from listener import exceptions
from listener.log import cursors, events, history, listen

# Payload keys worth a column: ids, and what kind of change it was.
SHOWN = ("id", "room", "user", "sender", "owner", "action", "status")


class _Done(Exception):
    """Enough events printed."""


class Command(BaseCommand):
    """Prints one line per event as the listener dispatches it: time, topics, type, ids, lag."""

    help = (
        "Tail real-time events live, one line per event (topics, type, ids, commit-to-dispatch lag). "
        "--since <cursor> replays the log after a page's cursor first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--topic",
            action="append",
            default=[],
            help="only events on topics matching this glob (repeatable)",
        )
        parser.add_argument(
            "--type", action="append", default=[], help="only events of this type or glob (repeatable)"
        )
        parser.add_argument(
            "--since", help="a cursor (data-cursor or a frame's cursor): replay after it first"
        )
        parser.add_argument(
            "--max-events", type=int, default=None, help="exit after printing this many events"
        )
        parser.add_argument("--timeout", type=float, default=None, help="exit after this many seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        since = None
        if options["since"]:
            try:
                since = cursors.Cursor.decode(options["since"])
            except exceptions.InvalidCursor as exc:
                raise CommandError("--since: %s" % exc) from exc
        self.topics: list[str] = options["topic"]
        self.types: list[str] = options["type"]
        self.left: int | None = options["max_events"]
        try:
            asyncio.run(self._main(since, options["timeout"]))
        except KeyboardInterrupt:
            pass

    async def _main(self, since: cursors.Cursor | None, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(self._tail(since), timeout)
        except (TimeoutError, _Done):
            pass

    async def _tail(self, since: cursors.Cursor | None) -> None:
        done = asyncio.get_running_loop().create_future()
        until = None
        if since is not None:
            until = await self._replay(since)
            if self.left == 0:
                raise _Done()
        listener = listen.Listener(lambda event: self._live(event, listener, done), since=until)
        listener.start()
        try:
            await listener.ready.wait()
            sys.stderr.write("listening (%s)\n" % ("after the replay" if since is not None else "live"))
            sys.stderr.flush()
            await done
        finally:
            await listener.stop()
        raise _Done()

    async def _replay(self, since: cursors.Cursor) -> cursors.Snapshot:
        """Print the logged events after ``since``; return the snapshot the live tail starts from."""
        until = await history.current_snapshot()
        async for page in history.pages(None, since, until):
            for event in page.events:
                lag = None if event.created is None else time.time() - event.created
                if self._print(event, lag, "replay") and self.left == 0:
                    return until
        return until

    def _live(self, event: events.LogEvent, listener: listen.Listener, done: asyncio.Future[None]) -> None:
        if done.done():
            return
        if self._print(event, listener.last_lag, "live") and self.left == 0:
            done.set_result(None)

    def _print(self, event: events.LogEvent, lag: float | None, how: str) -> bool:
        if self.topics and not any(fnmatch.fnmatchcase(t, p) for t in event.topics for p in self.topics):
            return False
        if self.types and not any(fnmatch.fnmatchcase(event.type, p) for p in self.types):
            return False
        if self.left == 0:
            return False
        ids = " ".join("%s=%s" % (key, _id(event.kwargs[key])) for key in SHOWN if key in event.kwargs)
        self.stdout.write(
            "%s %s %s %s %s lag=%s event=%d xid=%d"
            % (
                time.strftime("%H:%M:%S"),
                how,
                ",".join(event.topics),
                event.type,
                ids or "-",
                "-" if lag is None else "%.1fms" % (lag * 1000),
                event.id,
                event.xid,
            )
        )
        self.stdout.flush()
        if self.left is not None:
            self.left -= 1
        return True


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id", "?"))
    return str(value)
