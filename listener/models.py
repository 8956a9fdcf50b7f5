"""The event log, the source of truth for everything sent to pages; and the triggers of lost access."""

from __future__ import annotations

from django.contrib import auth
from django.contrib.postgres.fields import ArrayField
from django.contrib.sessions import models as sessions_models
from django.db import models
from django.db.models import functions

from listener import fields
from listener.capture import access, presence_triggers


class Event(models.Model):
    """One change, appended by a row trigger in the writing transaction."""

    # xid8 of the writing transaction: decides which snapshots (cursors) see this event.
    xid = fields.Xid8Field(
        db_default=models.Func(function="pg_current_xact_id", output_field=fields.Xid8Field())
    )
    topics = ArrayField(models.TextField())
    type = models.TextField()
    payload = models.JSONField(default=dict)
    created = models.DateTimeField(db_default=functions.Now())
    # Appended by the channel layer's group_send rather than a trigger: the listener leaves its
    # queue-fed members to their own queues, where it arrives in order with the sender's sends.
    group_send = models.BooleanField(db_default=False)

    class Meta:
        indexes = [
            models.Index(fields=["xid", "id"], name="listener_event_xid_id"),
            # A page's replay reads its topic's events in log order (EventTopic: the other topics).
            models.Index(models.F("topics__0"), "xid", "id", name="listener_event_topic1_xid_id"),
        ]

    def __str__(self) -> str:
        return "%s %s" % (self.type, ",".join(self.topics))


class EventTopic(models.Model):
    """A second or later topic of one event: with the log's index on its first topic, a page's
    replay reads its own topics' events, in log order.

    Filled by a trigger on the log itself (``realtime_index_event_topics_v2``), so every way of
    appending an event indexes it; it fires only for events with several topics, so a
    single-topic event costs one index entry on the log and nothing here. A GIN index on
    ``topics`` could find a topic's events but not in ``(xid, id)`` order.
    """

    pk = models.CompositePrimaryKey("topic", "xid", "event_id")
    topic = models.TextField()
    xid = fields.Xid8Field()
    event_id = models.BigIntegerField()

    class Meta:
        db_table = "listener_event_topic"

    def __str__(self) -> str:
        return "%s %s" % (self.topic, self.event_id)


class Retention(models.Model):
    """How far the log was pruned by the one-statement prune of earlier versions (no longer written)."""

    # Every event of a transaction below this xid may be gone. Cursors older than it still resync;
    # prunes now record per-topic horizons in TopicRetention instead.
    pruned_below_xid = fields.Xid8Field(default=0)
    pruned_at = models.DateTimeField(null=True)


class TopicRetention(models.Model):
    """How far one topic's events were pruned (listener.retention decides who must resync)."""

    topic = models.TextField(primary_key=True)
    # The highest pruned transaction with an event of this topic, and its last pruned event
    # of this topic: batches prune in (xid, id) order, so its earlier ones went too.
    xid = fields.Xid8Field()
    event_id = models.BigIntegerField()
    # The snapshot of the batch that pruned last: every event ever pruned is visible in it.
    snapshot = models.TextField()
    pruned_at = models.DateTimeField()

    class Meta:
        db_table = "listener_retention_topic"

    def __str__(self) -> str:
        return "%s below %s" % (self.topic, self.xid)


# The sockets of a user and of a login session close when access ends, whatever ended it: the
# admin, a shell, a cron job or SQL. Proxies keep these triggers in this app's migrations; the
# user model is whichever AUTH_USER_MODEL names (its app must be installed before this one).
_USER_MODEL = auth.get_user_model()


class UserAccess(_USER_MODEL):  # type: ignore[valid-type,misc]
    """Publishes a user's deactivation, deletion and password change on their user topic."""

    class Meta:
        proxy = True
        triggers = access.user_triggers(_USER_MODEL)


class SessionEnd(sessions_models.Session):
    """Publishes the end of a login session (logout, flush, expiry clean-up) on its session topic."""

    class Meta:
        proxy = True
        triggers = access.session_triggers()


class ChannelMessage(models.Model):
    """One message waiting in a channel, taken (deleted) by exactly one receiver."""

    # What a receiver claims by: a named channel's own name, or `specific.<process>!` for every
    # channel of one process (its layer claims them all at once and sorts them locally).
    queue = models.TextField()
    channel = models.TextField()
    # The message as JSON text (listener.codec: byte strings survive the trip).
    payload = models.TextField()
    expires = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["queue", "id"], name="listener_chanmsg_queue_id"),
            models.Index(fields=["channel", "id"], name="listener_chanmsg_channel_id"),
        ]


class GroupMember(models.Model):
    """A channel in a group that the listener of its own process cannot serve directly.

    Named channels, and channels of another process, get one message row per ``group_send``.
    A process's own channels are members in its memory; a row with the channel
    ``<queue>!#<group>`` stands for all of them under one queue, so a ``group_send`` from
    another process queues one message for them all, behind that sender's earlier sends.
    """

    group = models.TextField()
    channel = models.TextField()
    queue = models.TextField()
    expires = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "channel"], name="listener_groupmember_unique")
        ]


class PresenceProcess(models.Model):
    """A server process that holds presence rows, alive while its heartbeat is recent."""

    id = models.TextField(primary_key=True)
    heartbeat = models.DateTimeField()


class Presence(models.Model):
    """A user with at least one open socket on a topic in one server process."""

    topic = models.TextField()
    user_id = models.TextField()
    # Which process holds the sockets (PresenceProcess.id); its rows go when it stops beating.
    process = models.TextField()
    # What the join and leave events carry besides the action: the app's key and the user.
    payload = models.JSONField()
    since = models.DateTimeField(db_default=functions.Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "user_id", "process"], name="listener_presence_unique")
        ]
        indexes = [models.Index(fields=["process"], name="listener_presence_process")]
        triggers = presence_triggers.triggers()
