"""The article's message model: a plain table (no triggers) whose ``save()`` sends the event."""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import models

from chat import models as chat_models

# Created by the benchmark's set-up (bench/database.py) as a copy of chat_chatmessage
# without its triggers; the same table serves as the "no triggers" write-cost figure.
PLAIN_TABLE = "bench_plain_chatmessage"


class BaselineMessage(models.Model):
    """A message posted to a room, published from ``save()`` as in the article."""

    room = models.ForeignKey(chat_models.ChatRoom, on_delete=models.CASCADE, db_constraint=False)
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_constraint=False)
    posted = models.DateTimeField(auto_now_add=True)
    message = models.CharField(max_length=200)

    # Monotonic time just after the INSERT committed (autocommit), before group_send: the
    # benchmark's commit time.
    committed_at: float = 0.0
    # Declared for the type checker: this app is not in the settings that mypy loads.
    room_id: int
    sender_id: int

    class Meta:
        managed = False
        db_table = PLAIN_TABLE

    def save(self, *args: Any, **kwargs: Any) -> None:
        change = self.pk is not None
        super().save(*args, **kwargs)
        self.committed_at = time.monotonic()
        if not change:
            self.notify_did_alter("chat_message_created")

    def notify_did_alter(self, event_type: str) -> None:
        layer = get_channel_layer()
        assert layer is not None, "bench.baseline.settings configures CHANNEL_LAYERS"
        async_to_sync(layer.group_send)(
            "room_%s" % self.room_id,
            {
                "type": event_type,
                "kwargs": {
                    "id": str(self.pk),
                    "room": str(self.room_id),
                    "sender": {"id": str(self.sender_id), "username": self.sender.username},
                    "posted": self.posted.isoformat(),
                    "message": self.message,
                },
            },
        )
