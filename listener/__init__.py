"""Real-time Django on Postgres: declare what models publish; pages follow topics over sockets.

The public API is ``__all__``; everything else in the package is private. Importing it needs no
app registry, so ``from listener import Publish`` works inside a ``models.py``.
"""

from __future__ import annotations

from listener.capture.grants import Grants
from listener.capture.publishing import Const, Payload, Publish, changed
from listener.capture.topics import SESSION as SESSION_TOPIC
from listener.capture.topics import USER as USER_TOPIC
from listener.capture.topics import InvalidTopicKey, Topic
from listener.fields import Xid8Field, current_xact_id
from listener.layer.channel_layer import PostgresChannelLayer
from listener.log.events import LogEvent
from listener.log.rendering import consistent_read
from listener.migration_sql import RunSQLFile
from listener.sockets.asgi import with_listener
from listener.sockets.consumer import RealtimeConsumer
from listener.sockets.decisions import Close, Code, Decision, Verdict
from listener.sockets.lifecycle import SocketState
from listener.sockets.presence import Presence, online
from listener.sockets.socket_auth import SocketAuth
from listener.sockets.streams import Action, Live, Stream

__all__ = [
    "SESSION_TOPIC",
    "USER_TOPIC",
    "Action",
    "Close",
    "Code",
    "Const",
    "Decision",
    "Grants",
    "InvalidTopicKey",
    "Live",
    "LogEvent",
    "Payload",
    "PostgresChannelLayer",
    "Presence",
    "Publish",
    "RealtimeConsumer",
    "RunSQLFile",
    "SocketAuth",
    "SocketState",
    "Stream",
    "Topic",
    "Verdict",
    "Xid8Field",
    "changed",
    "consistent_read",
    "current_xact_id",
    "online",
    "with_listener",
]
