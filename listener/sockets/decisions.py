"""What a socket does with an event: send it, skip it, or close; and the close codes a page reads."""

from __future__ import annotations

import dataclasses
import enum


class Code(enum.IntEnum):
    """WebSocket close codes a page can act on (the manual's docs/reference/close-codes.md)."""

    BAD_CURSOR = 4400
    NOT_LOGGED_IN = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    # More open sockets than REALTIME_MAX_SOCKETS_PER_USER in this process: the newest is refused.
    TOO_MANY_SOCKETS = 4429
    # Resumable: reconnect with the cursor of the last frame handled.
    TOO_SLOW = 4008
    # A delivery failed on the server (an event a consumer could not handle); 1011 is not a
    # code every server lets an application send (daphne's autobahn allows 1000 and 3000-4999).
    DELIVERY_FAILED = 4500
    UNAVAILABLE = 4503
    # Not resumable: the cursor is older than the log; reload the page's data.
    RESYNC_REQUIRED = 4410


class Verdict(enum.Enum):
    SEND = "send"
    SKIP = "skip"


@dataclasses.dataclass(frozen=True)
class Close:
    """Close the socket, optionally after sending the event that caused it."""

    code: int
    reason: str
    send_first: bool = False


Decision = Verdict | Close

# Which close reason wins when several arrive before the socket is closed.
_PRECEDENCE: dict[int, int] = {
    Code.TOO_SLOW: 0,
    Code.FORBIDDEN: 1,
    Code.NOT_LOGGED_IN: 2,
    Code.NOT_FOUND: 3,
}


def stronger(current: Close, candidate: Close) -> Close:
    """The close that names the more fundamental reason (deleting a room first removes its members)."""
    if _PRECEDENCE.get(candidate.code, 0) > _PRECEDENCE.get(current.code, 0):
        return dataclasses.replace(candidate, send_first=False)
    return current
