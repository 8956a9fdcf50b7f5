"""A room's message history in pages, by keyset on (posted, id).

Paging by offset would skip or repeat messages as new ones arrive; a keyset names the oldest
message a page shows, so the next page is exactly what sorts strictly before it, however many
messages were posted, edited or deleted in between. ``posted`` is not unique (one transaction
posts many messages at the same instant), hence the id as a tie-breaker.
"""

from __future__ import annotations

import dataclasses
import datetime

from django.db.models import Q

from chat import models

# The room page shows this many of the latest messages; "Load older" fetches as many again.
PAGE_SIZE = 50

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


class BadKeyset(ValueError):
    """The page's keyset is not two integers: microseconds since the epoch and a message id."""


@dataclasses.dataclass(frozen=True)
class Keyset:
    """A message's place in the history: older messages sort strictly before it."""

    posted: datetime.datetime
    id: int

    def encode(self) -> str:
        # Integer microseconds keep Postgres' full precision, whatever the time zone of the page.
        return "%d-%d" % ((self.posted - _EPOCH) // _MICROSECOND, self.id)

    @classmethod
    def decode(cls, token: str) -> Keyset:
        micros, _, message_id = token.partition("-")
        try:
            return cls(_EPOCH + int(micros) * _MICROSECOND, int(message_id))
        except (ValueError, OverflowError) as exc:
            raise BadKeyset("Not a history position: %r." % token[:60]) from exc

    @classmethod
    def of(cls, message: models.ChatMessage) -> Keyset:
        return cls(message.posted, message.id)


@dataclasses.dataclass
class Page:
    """Messages oldest first, and where the next older page starts (None when none is left)."""

    messages: list[models.ChatMessage]
    before: Keyset | None


def page(room: models.ChatRoom, before: Keyset | None = None, size: int | None = None) -> Page:
    """The ``size`` (default ``PAGE_SIZE``) messages just before ``before``, or the latest ones."""
    size = PAGE_SIZE if size is None else size
    rows = models.ChatMessage.objects.filter(room=room).select_related("sender")
    if before is not None:
        rows = rows.filter(Q(posted__lt=before.posted) | Q(posted=before.posted, id__lt=before.id))
    # One row more than shown tells whether an older page exists, without a count.
    newest_first = list(rows.order_by("-posted", "-id")[: size + 1])
    shown = newest_first[:size]
    shown.reverse()
    more = len(newest_first) > size
    return Page(shown, Keyset.of(shown[0]) if more else None)


def as_json(message: models.ChatMessage) -> dict[str, object]:
    """The shape of a ``chat_message_*`` frame's kwargs, so the page fills both the same way."""
    return {
        "id": str(message.id),
        "room": str(message.room_id),
        "sender": {"id": str(message.sender_id), "username": message.sender.username},
        "posted": message.posted.isoformat(),
        "message": message.message,
    }
