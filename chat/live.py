"""The chat's live regions: what changes on a page rendered on the server, declared once.

The home page (``{% live "home" %}`` on the user's topic) lists the rooms one owns and is in and
one's join requests; each event on the user's topic changes one item, rendered from the same
partial templates the page itself includes. The user topic's consumer decides who gets which
event, as for every socket.
"""

from __future__ import annotations

from typing import Any

import listener
from chat import models, payloads

JOIN_REQUEST = "did_alter_join_request"


def join_request(payload: dict[str, Any], variant: object) -> dict[str, Any] | None:
    found = models.ChatRoomJoinRequest.objects.select_related("room").filter(pk=payload["id"]).first()
    return None if found is None else {"join_request": found}


def room(payload: dict[str, Any], variant: object) -> dict[str, Any] | None:
    found = models.ChatRoom.objects.filter(pk=payload["room"]["id"]).first()
    return None if found is None else {"room": found}


def owner(payload: dict[str, Any], user_id: Any) -> str | None:
    """The join code is the owner's alone: members get the other rendering."""
    return "owner" if payload["owner"] == str(user_id) else None


def member(payload: dict[str, Any], user_id: Any) -> str | None:
    return None if payload["owner"] == str(user_id) else "member"


OWNED = "owned-room-{room[id]}"
JOINED = "joined-room-{room[id]}"


def owner_and_member(
    action: str, owned: tuple[str, str], joined: tuple[str, str]
) -> tuple[listener.Stream, listener.Stream]:
    """One change to a room on both home lists: the owner's item (``owned``: the event's action
    and the target) from the owner's partial, and every member's (``joined``) from theirs."""
    pair = [
        listener.Stream(
            payloads.HOME_EVENT,
            when={"action": event_action},
            action=action,
            target=target,
            template=template,
            context=room,
            variant=variant,
        )
        for (event_action, target), template, variant in (
            (owned, "chat/_owned_room.html", owner),
            (joined, "chat/_joined_room.html", member),
        )
    ]
    return pair[0], pair[1]


HOME = listener.Live(
    "home",
    [
        listener.Stream(
            JOIN_REQUEST,
            when={"action": "create"},
            action="prepend",
            target="join-requests",
            template="chat/_join_request.html",
            context=join_request,
        ),
        listener.Stream(
            JOIN_REQUEST,
            when={"action": ["admit", "deny"]},
            action="replace",
            target="join-request-{id}",
            template="chat/_join_request.html",
            context=join_request,
        ),
        listener.Stream(JOIN_REQUEST, when={"action": "delete"}, action="remove", target="join-request-{id}"),
        *owner_and_member("append", owned=("create", "owned-rooms"), joined=("join", "joined-rooms")),
        *owner_and_member("replace", owned=("rename", OWNED), joined=("rename", JOINED)),
        listener.Stream(payloads.HOME_EVENT, when={"action": "delete"}, action="remove", target=OWNED),
        listener.Stream(
            payloads.HOME_EVENT, when={"action": ["delete", "leave"]}, action="remove", target=JOINED
        ),
    ],
)
