"""Real-time Django on Postgres: declare what models publish; pages follow topics over sockets.

The public API is ``__all__``; everything else in the package is private. Names load lazily, so
``from listener import Publish`` works inside a ``models.py`` before the app registry is ready.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from listener.asgi import with_listener
    from listener.consumer import Close, Code, Decision, RealtimeConsumer, Verdict
    from listener.events import LogEvent
    from listener.fields import Xid8Field, current_xact_id
    from listener.layer import PostgresChannelLayer
    from listener.pages import consistent_read
    from listener.presence import Presence, online
    from listener.publishing import Const, Payload, Publish, changed
    from listener.socket_auth import SocketAuth
    from listener.topics import SESSION as SESSION_TOPIC
    from listener.topics import USER as USER_TOPIC
    from listener.topics import InvalidTopicKey, Topic

__all__ = [
    "SESSION_TOPIC",
    "USER_TOPIC",
    "Close",
    "Code",
    "Const",
    "Decision",
    "InvalidTopicKey",
    "LogEvent",
    "Payload",
    "PostgresChannelLayer",
    "Presence",
    "Publish",
    "RealtimeConsumer",
    "SocketAuth",
    "Topic",
    "Verdict",
    "Xid8Field",
    "changed",
    "consistent_read",
    "current_xact_id",
    "online",
    "with_listener",
]

_WHERE = {
    "with_listener": ("listener.asgi", "with_listener"),
    "Close": ("listener.consumer", "Close"),
    "Code": ("listener.consumer", "Code"),
    "Decision": ("listener.consumer", "Decision"),
    "RealtimeConsumer": ("listener.consumer", "RealtimeConsumer"),
    "Verdict": ("listener.consumer", "Verdict"),
    "LogEvent": ("listener.events", "LogEvent"),
    "Xid8Field": ("listener.fields", "Xid8Field"),
    "current_xact_id": ("listener.fields", "current_xact_id"),
    "PostgresChannelLayer": ("listener.layer", "PostgresChannelLayer"),
    "consistent_read": ("listener.pages", "consistent_read"),
    "Presence": ("listener.presence", "Presence"),
    "online": ("listener.presence", "online"),
    "Const": ("listener.publishing", "Const"),
    "Payload": ("listener.publishing", "Payload"),
    "Publish": ("listener.publishing", "Publish"),
    "changed": ("listener.publishing", "changed"),
    "SocketAuth": ("listener.socket_auth", "SocketAuth"),
    "Topic": ("listener.topics", "Topic"),
    "InvalidTopicKey": ("listener.topics", "InvalidTopicKey"),
    "USER_TOPIC": ("listener.topics", "USER"),
    "SESSION_TOPIC": ("listener.topics", "SESSION"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _WHERE[name]
    except KeyError:
        raise AttributeError("module 'listener' has no attribute %r" % name) from None
    return getattr(importlib.import_module(module), attribute)
