"""The article's ``ChatRoomConsumer``: a sync consumer per socket, one handler per event type."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer

from chat import models


class ChatRoomConsumer(WebsocketConsumer):
    """``/ws/room/<room_id>``: authenticate, authorize, join the room's group, forward its events."""

    room_group: str | None = None

    def connect(self) -> None:
        user = self.scope["user"]
        if user is None or user.is_anonymous:
            self.accept()
            self.close(code=4401)
            return
        room_id = self.scope["url_route"]["kwargs"]["room_id"]
        try:
            self.room = models.ChatRoom.objects.get(id=room_id)
        except models.ChatRoom.DoesNotExist:
            self.accept()
            self.close(code=4404)
            return
        if user.id != self.room.owner_id and not self.room.member_set.filter(id=user.id).exists():
            self.accept()
            self.close(code=4403)
            return
        self.room_group = "room_%s" % room_id
        async_to_sync(self.channel_layer.group_add)(self.room_group, self.channel_name)
        self.accept()

    def disconnect(self, close_code: int) -> None:
        if self.room_group is not None:
            async_to_sync(self.channel_layer.group_discard)(self.room_group, self.channel_name)

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        pass

    def chat_message_created(self, event: dict[str, Any]) -> None:
        self.send(text_data=json.dumps({"type": "chat_message_created", "kwargs": event["kwargs"]}))
