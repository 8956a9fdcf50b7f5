"""Consumers written as the Channels docs write them, with nothing of this project's API."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from channels.consumer import SyncConsumer
from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    """The tutorial's group chat: one group per room, every message to every socket in it."""

    async def connect(self) -> None:
        self.room_group_name = "chat_%s" % self.scope["url_route"]["kwargs"]["room_name"]
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code: int) -> None:
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data or "{}")["message"]
        if message.startswith("/thumb "):
            # Background work goes to the worker process, which answers this socket.
            await self.channel_layer.send(
                "thumbnails",
                {
                    "type": "thumbnail.make",
                    "name": message.removeprefix("/thumb "),
                    "reply_channel": self.channel_name,
                    "group": self.room_group_name,
                },
            )
            return
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"message": event["message"]}))


class ThumbnailWorker(SyncConsumer):
    """A ``runworker thumbnails`` job: answers the asking socket and tells its room."""

    def thumbnail_make(self, message: dict[str, Any]) -> None:
        name = message["name"]
        async_to_sync(self.channel_layer.send)(
            message["reply_channel"], {"type": "chat.message", "message": "your thumbnail %s" % name}
        )
        async_to_sync(self.channel_layer.group_send)(
            message["group"], {"type": "chat.message", "message": "thumbnail ready: %s" % name}
        )
