"""Handshakes' access checks read a batch at a time: the sockets that wait, in one transaction.

A deploy reconnects every page at once, and each socket's access check was a transaction of
its own: a pooled connection checked out and checked, the statement that sets the isolation
level and takes the snapshot, a commit, the connection tidied back. In the driver and in
Django each of those costs about as much as the socket's own reads, and the event loop waits
on all of it for the global interpreter lock. Checks that arrive while others are read wait
in a queue; a handshake thread takes every one waiting (at most `BATCH`) and reads them in one
REPEATABLE READ transaction: one checkout, one snapshot, one commit, the sockets' sessions in
one statement and their users in another (``lazy_user.read_together``), then each socket's own
access check in turn. A socket that arrives alone is read alone, as before. The user reads of
sockets whose user is read before their check (`SocketAuth`'s default; `user`) queue here too,
and a batch reads their sessions and users in the same two statements.

Sharing a snapshot is sound: each socket joined its groups before it queued, so every event
the snapshot does not see reaches it live, and the access it read is the access at that
snapshot, as for a socket read alone. A database error in one socket's check fails that socket
(4503: its page retries) and aborts the transaction, rolling back what the checks before it
wrote; every other socket is read again in a new one, so what a check wrote is never lost to
another socket's error (it may be written twice). Any other error fails only its own socket.
Each round drops the socket that failed it, so a batch ends after at most `BATCH` rounds.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import dataclasses
import functools
import threading
from typing import Any

from django import db
from django.db import transaction

from listener import conf
from listener.log import cursors, history
from listener.sockets import handshake_threads, lazy_user, session_user

# The most checks one transaction reads: enough to take in a crowd's queue, few enough that
# the first of them waits for the rest (a few ms) far less than it waited in the queue.
BATCH = 32

Authorize = collections.abc.Callable[[], Any]
# What a read returns, and the snapshot it read in (None for a user read: it needs none).
Outcome = tuple[Any, cursors.Snapshot | None, int]


@dataclasses.dataclass(eq=False)
class _Check:
    """One socket's access check, queued; ``outcome`` is set on the thread, once read."""

    authorize: Authorize
    # The socket's scope, and the mark of its user unread: a batch reads its session and user
    # with the others' (``lazy_user.read_together``).
    scope: session_user.Scope
    pending: session_user.PendingUser | None
    # An access check reads in the batch's snapshot; a user read alone needs no transaction.
    snapshot: bool
    future: asyncio.Future[Outcome]
    connected: list[bool]
    outcome: Outcome | BaseException | None = None


_queue: collections.deque[_Check] = collections.deque()
_lock = threading.Lock()
# Threads reading batches now: at most the handshake threads, each with its own connection.
_readers = [0]


async def resume_point(socket: Any, authorize: Authorize) -> tuple[Any, cursors.Snapshot, int]:
    """``history.resume_point(authorize)`` for ``socket``, read with the other checks that wait
    (`BATCH`), bounded as every handshake read is (``handshake_threads.started``)."""
    if conf.handshake_threads() == 0:
        alone = functools.partial(history.resume_point, authorize)
        return await handshake_threads.read(alone, "access check")
    pending = socket.scope.get(session_user.PENDING_USER)
    queued = functools.partial(_queued, socket.scope, pending, authorize, True)
    refusal, until, pruned_below = await handshake_threads.started(queued, "access check")
    assert until is not None
    return refusal, until, pruned_below


async def user(scope: session_user.Scope, pending: session_user.PendingUser) -> Any:
    """The user of ``scope``'s session, read with the other reads that wait (its session and
    user in the batch's two statements), bounded as every handshake read is. A database error
    propagates (the socket closes with 4503, never 4401: only a session without a user is
    anonymous), and so does a read that gets no connection in time."""
    if conf.handshake_threads() == 0:
        alone = functools.partial(session_user.read_user, scope)
        return await handshake_threads.read(alone, "session lookup")
    read = functools.partial(lazy_user.read, scope, pending)
    outcome = await handshake_threads.started(
        functools.partial(_queued, scope, pending, read, False), "session lookup"
    )
    return outcome[0]


def _queued(
    scope: session_user.Scope,
    pending: session_user.PendingUser | None,
    authorize: Authorize,
    snapshot: bool,
    connected: list[bool],
) -> asyncio.Future[Outcome]:
    """Queue a read; a thread starts reading the queue unless enough already do."""
    future = asyncio.get_running_loop().create_future()
    check = _Check(authorize, scope, pending, snapshot, future, connected)
    with _lock:
        _queue.append(check)
        start = _readers[0] < conf.handshake_threads()
        if start:
            _readers[0] += 1
    if start:
        handshake_threads.executor().submit(_reader)
    return check.future


def _reader() -> None:
    """On a handshake thread: read batches until the queue is empty."""
    while True:
        with _lock:
            if not _queue:
                _readers[0] -= 1
                return
            batch = [_queue.popleft() for _ in range(min(BATCH, len(_queue)))]
        try:
            handshake_threads.own_connections(functools.partial(_read, batch))
        except BaseException as exc:  # every check hears of it, the thread goes on
            for check in batch:
                if check.outcome is None:
                    check.outcome = exc
        finally:
            handshake_threads.progressed()
            _settle(batch)


def _read(batch: list[_Check]) -> None:
    """The batch's checks on this thread's connection, one transaction after another."""
    waiting = [check for check in batch if not check.future.cancelled()]
    if not waiting:
        return
    db.connection.ensure_connection()  # a pooled one, checked: Postgres is there
    for check in waiting:
        check.connected[0] = True
    while waiting:
        waiting = _transaction(waiting)


def _transaction(checks: list[_Check]) -> list[_Check]:
    """Read ``checks`` in one snapshot; those after a database error, to read in another."""
    if len(checks) == 1 and not checks[0].snapshot:
        _alone(checks[0])
        return []
    again: list[_Check] = []
    try:
        with transaction.atomic():
            until, pruned_below = history.snapshot() if any(c.snapshot for c in checks) else (None, 0)
            unread = [
                (c.scope, c.pending) for c in checks if c.pending is not None and not c.future.cancelled()
            ]
            lazy_user.read_together(unread)
            for n, check in enumerate(checks):
                if check.future.cancelled():
                    continue  # its socket went away while it waited
                try:
                    check.outcome = (check.authorize(), until, pruned_below)
                except db.DatabaseError as exc:
                    # The transaction is aborted and rolls back what the checks before this one
                    # wrote: every other check is read again in a new one, as a retry would.
                    check.outcome = exc
                    again = [*checks[:n], *checks[n + 1 :]]
                    for earlier in checks[:n]:
                        earlier.outcome = None
                    transaction.set_rollback(True)
                    break
                except Exception as exc:  # the consumer raises it, as read alone
                    check.outcome = exc
                finally:
                    # Each check, not each batch: a batch of slow checks must not look like
                    # Postgres away to the reads still queued behind it.
                    handshake_threads.progressed()
    except Exception as exc:  # no snapshot, no sessions and users, or no commit: each check hears of it
        for check in checks:
            if check.outcome is None:
                check.outcome = exc
        return []
    return again


def _alone(check: _Check) -> None:
    """A user read with nothing to share its transaction: its statements as they come, the
    handshake's before batches (a transaction would add its begin, commit and snapshot)."""
    if check.future.cancelled():
        return
    try:
        check.outcome = (check.authorize(), None, 0)
    except Exception as exc:
        check.outcome = exc
    finally:
        handshake_threads.progressed()


def _settle(batch: list[_Check]) -> None:
    """Hand the outcomes to the event loops that wait for them: one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Check]] = {}
    for check in batch:
        by_loop.setdefault(check.future.get_loop(), []).append(check)
    for loop, checks in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, checks)
        except RuntimeError:
            pass  # that loop has closed: nobody waits


def _resolve(checks: list[_Check]) -> None:
    for check in checks:
        if check.future.done() or check.outcome is None:
            continue
        if isinstance(check.outcome, BaseException):
            check.future.set_exception(check.outcome)
        else:
            check.future.set_result(check.outcome)
