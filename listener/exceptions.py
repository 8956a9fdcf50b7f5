"""Errors raised by the listener app."""

from __future__ import annotations


class ListenerError(Exception):
    """The real-time listener failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class InvalidCursor(ListenerError):
    """The cursor is not one this server issued."""


class ListenerUnavailable(ListenerError):
    """The listener has no connection to Postgres."""


class ChannelLayerUnavailable(ListenerError):
    """The channel layer could not reach Postgres."""


class ConnectionGone(ListenerError):
    """The page's connection closed while a frame was being sent to it."""


class RenderFailed(ListenerError):
    """A live region's stream failed to render (logged where it failed); nothing is sent for it."""
