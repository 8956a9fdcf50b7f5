"""The event log: the source of truth for everything sent to pages."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import functions

from listener import fields


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

    class Meta:
        indexes = [models.Index(fields=["xid", "id"], name="listener_event_xid_id")]

    def __str__(self) -> str:
        return "%s %s" % (self.type, ",".join(self.topics))


class EventTopic(models.Model):
    """One topic of one event: a page's replay reads its own topics' events, in log order.

    Filled by a trigger on the log itself (``realtime_index_event_topics_v1``), so every way of
    appending an event indexes it. A GIN index on ``topics`` could find a topic's events but not
    in ``(xid, id)`` order, and an index on ``topics[1]`` misses events with several topics.
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
    """How far the log was pruned: cursors that may miss pruned events must resync."""

    # Every event of a transaction below this xid may be gone.
    pruned_below_xid = fields.Xid8Field(default=0)
    pruned_at = models.DateTimeField(null=True)
