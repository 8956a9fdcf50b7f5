"""A notes consumer, on a UUID-keyed topic: the owner check compares ``self.user_id``."""

from __future__ import annotations

import listener
from tests.sockets.uuid_users.models import NOTES


class NotesConsumer(listener.RealtimeConsumer):
    """``/ws/notes/<owner uuid>``: the owner's own notes, live."""

    def parse_topic(self) -> str:
        self.owner_id = NOTES.parse(self.scope["url_route"]["kwargs"]["owner_id"])
        return NOTES.name(self.owner_id)

    def authorize(self) -> listener.Close | None:
        if self.owner_id != self.user_id:
            return listener.Close(listener.Code.FORBIDDEN, "these are someone else's notes")
        return None

    def on_note_saved(self, event: listener.LogEvent) -> listener.Decision:
        return listener.Verdict.SEND
