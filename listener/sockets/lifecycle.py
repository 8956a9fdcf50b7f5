"""Where a socket is in its life, and what the socket's helpers may ask of it.

The helpers of a socket (revocation, session expiry, gap detection, presence) act on the
consumer without importing it: they see it through ``Socket``, so the consumer can import them.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from typing import Any

from listener.sockets import decisions


class SocketState(enum.Enum):
    """Where a socket is in its life; events are handled according to it."""

    CONNECTING = "connecting"  # checks and access; live events are held
    REPLAYING = "replaying"  # sending history from the page's cursor; live events are held
    LIVE = "live"  # forwarding live events
    RECHECKING = "rechecking"  # re-reading access after a declared grant changed; events are held
    CLOSING = "closing"  # a close is decided; only its code may still change
    CLOSED = "closed"  # left the groups; nothing more is sent


@dataclasses.dataclass(slots=True)
class SessionWatch:
    """What a socket learnt of its session after the handshake; made on the first cycle or check."""

    # The session hash it last knew (None: the one in the handshake's session).
    known_hash: str | None = None
    # The key was cycled: the next password check adopts the user's current hash.
    adopt_hash: bool = False
    # The topic of the key followed after a cycle (listener.sockets.expiry reads that key's expiry).
    followed: str | None = None


class ExpiryTimer(typing.Protocol):
    """The socket's timer for the end of its login session (``listener.sockets.expiry``)."""

    def changed(self) -> None:
        """The session's expiry moved earlier: read it again now."""


class Socket(typing.Protocol):
    """A real-time socket as its helpers see it (``listener.RealtimeConsumer`` is one)."""

    scope: Any
    state: SocketState
    topic: str
    channel_name: str
    user_id: Any  # the user's primary key as Django gives it; None before the handshake
    # The xid8 of the grant that gave the subscriber its current access (``authorize``), if known.
    access_since: int | None
    session_watch: SessionWatch | None

    @property
    def expiry(self) -> ExpiryTimer:
        """The socket's session-expiry timer."""

    def revoke(self, close: decisions.Close) -> None:
        """Close after a check that ran outside the event filter found that access has ended."""

    def authorize(self) -> decisions.Close | None:
        """Read the subscriber's access in the current transaction; a refusal when it has none."""

    def resume(self) -> None:
        """Back to live after a re-check that kept access: decide the events held meanwhile."""

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Send one frame to the page (Channels' ``AsyncWebsocketConsumer.send``)."""

    async def close_with(self, close: decisions.Close) -> None:
        """Leave the groups and close with ``close``'s code."""
