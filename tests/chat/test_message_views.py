"""Editing and deleting messages from the room page, and its history pages, through the test client."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat import history, models
from tests.conftest import connect, frames, sync

pytestmark = pytest.mark.django_db(transaction=True)

JSON = {"Accept": "application/json"}
People = dict[str, User]


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def edit_url(message: models.ChatMessage) -> str:
    return "/rooms/%d/messages/%d/edit/" % (message.room_id, message.id)


def delete_url(message: models.ChatMessage) -> str:
    return "/rooms/%d/messages/%d/delete/" % (message.room_id, message.id)


@pytest.fixture
def mine(people: People, room: models.ChatRoom) -> models.ChatMessage:
    return models.ChatMessage.objects.create(room=room, sender=people["member"], message="first draft")


def text_of(message: models.ChatMessage) -> str | None:
    row = models.ChatMessage.objects.filter(pk=message.pk).values_list("message", flat=True).first()
    return row


def test_sender_edits_own_message(people: People, mine: models.ChatMessage) -> None:
    response = client_for(people["member"]).post(edit_url(mine), {"message": "  final  "}, headers=JSON)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "message": "Saved.", "changed": True}
    assert text_of(mine) == "final"
    unchanged = client_for(people["member"]).post(edit_url(mine), {"message": "final"}, headers=JSON)
    assert unchanged.json()["changed"] is False


def test_nobody_else_edits_a_message(people: People, mine: models.ChatMessage) -> None:
    for who in ("owner", "other"):
        if who == "other":
            mine.room.member_set.add(people["other"])
        response = client_for(people[who]).post(edit_url(mine), {"message": "hijacked"}, headers=JSON)
        assert response.status_code == 403, who
        assert response.json()["message"] == "You can only edit your own messages."
    assert text_of(mine) == "first draft"


def test_edit_says_what_is_wrong_with_the_text(people: People, mine: models.ChatMessage) -> None:
    member = client_for(people["member"])
    empty = member.post(edit_url(mine), {"message": "   "}, headers=JSON)
    assert (empty.status_code, empty.json()["message"]) == (400, "A message cannot be empty.")
    long = member.post(edit_url(mine), {"message": "x" * 201}, headers=JSON)
    assert long.status_code == 400
    assert long.json()["message"] == "A message is at most 200 characters; this one has 201."
    assert member.post(edit_url(mine), {}, headers=JSON).status_code == 400
    assert text_of(mine) == "first draft"


def test_sender_and_room_owner_delete(
    people: People, room: models.ChatRoom, mine: models.ChatMessage
) -> None:
    other_member = people["other"]
    room.member_set.add(other_member)
    refused = client_for(other_member).post(delete_url(mine), headers=JSON)
    assert (refused.status_code, refused.json()["message"]) == (403, "You can only delete your own messages.")
    assert text_of(mine) == "first draft"

    assert client_for(people["member"]).post(delete_url(mine), headers=JSON).status_code == 200
    assert text_of(mine) is None
    again = client_for(people["member"]).post(delete_url(mine), headers=JSON)
    assert (again.status_code, again.json()["message"]) == (404, "That message no longer exists.")

    theirs = models.ChatMessage.objects.create(room=room, sender=other_member, message="rude")
    assert client_for(people["owner"]).post(delete_url(theirs), headers=JSON).status_code == 200
    assert not models.ChatMessage.objects.exists()


def test_outsiders_and_strangers_reach_nothing(
    people: People, room: models.ChatRoom, mine: models.ChatMessage
) -> None:
    outsider = client_for(people["outsider"])
    for url in (edit_url(mine), delete_url(mine)):
        response = outsider.post(url, {"message": "x"}, headers=JSON)
        assert (response.status_code, response.json()["message"]) == (
            403,
            "You are not a member of this room.",
        )
        assert outsider.post(url, {"message": "x"}).status_code == 403
    assert outsider.get("/rooms/%d/messages/older/" % room.id).status_code == 403
    assert outsider.get("/rooms/999999/messages/older/").status_code == 404
    # A message id from another room is not found in this one.
    elsewhere = models.ChatRoom.objects.create(owner=people["member"], title="Elsewhere")
    response = client_for(people["member"]).post(
        "/rooms/%d/messages/%d/delete/" % (elsewhere.id, mine.id), headers=JSON
    )
    assert response.status_code == 404
    assert (
        client_for(people["member"]).post("/rooms/999999/messages/1/edit/", headers=JSON).status_code == 404
    )
    assert Client().post(delete_url(mine)).status_code == 302  # to the login page
    assert client_for(people["member"]).get(delete_url(mine)).status_code == 405
    assert text_of(mine) == "first draft"


def test_edit_and_delete_need_csrf_token(people: People, mine: models.ChatMessage) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["member"])
    assert client.post(edit_url(mine), {"message": "no token"}, headers=JSON).status_code == 403
    assert client.post(delete_url(mine), headers=JSON).status_code == 403
    assert text_of(mine) == "first draft"


def test_form_posts_redirect_to_the_room_with_a_message(
    people: People, room: models.ChatRoom, mine: models.ChatMessage
) -> None:
    member = client_for(people["member"])
    response = member.post(edit_url(mine), {"message": "via form"}, follow=True)
    assert response.redirect_chain[-1][0] == "/rooms/%d/" % room.id
    assert "Saved." in response.content.decode()
    refused = client_for(people["owner"]).post(edit_url(mine), {"message": "nope"})
    assert refused.status_code == 403


def posted_at(room: models.ChatRoom, sender: User, when: datetime.datetime, count: int) -> list[int]:
    """``count`` messages sharing one ``posted`` instant, as one transaction's messages do."""
    return [
        models.ChatMessage.objects.create(room=room, sender=sender, posted=when, message="m").id
        for _ in range(count)
    ]


def test_history_pages_neither_skip_nor_repeat_equal_timestamps(
    people: People, room: models.ChatRoom, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "PAGE_SIZE", 3)
    start = datetime.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=datetime.UTC)
    ids: list[int] = []
    for minute, count in enumerate([2, 4, 1, 3]):
        ids += posted_at(room, people["member"], start + datetime.timedelta(minutes=minute), count)
    ordered = list(models.ChatMessage.objects.order_by("posted", "id").values_list("id", flat=True))
    assert ordered == ids

    member = client_for(people["member"])
    body = member.get("/rooms/%d/" % room.id).content.decode()
    shown = [i for i in ids if 'data-message-id="%d"' % i in body]
    assert shown == ids[-3:]
    seen = list(shown)
    before = body.split('data-before="', 1)[1].split('"', 1)[0]
    while before:
        page = member.get("/rooms/%d/messages/older/" % room.id, {"before": before}, headers=JSON).json()
        assert len(page["messages"]) <= 3
        seen = [int(m["id"]) for m in page["messages"]] + seen
        before = page["before"]
    assert seen == ids


def test_history_page_carries_frame_shaped_messages(
    people: People, room: models.ChatRoom, mine: models.ChatMessage
) -> None:
    page = client_for(people["owner"]).get("/rooms/%d/messages/older/" % room.id).json()
    assert page["before"] is None
    (message,) = page["messages"]
    assert message == {
        "id": str(mine.id),
        "room": str(room.id),
        "sender": {"id": str(people["member"].id), "username": "mo"},
        "posted": mine.posted.isoformat(),
        "message": "first draft",
    }
    bad = client_for(people["owner"]).get("/rooms/%d/messages/older/" % room.id, {"before": "x-y"})
    assert bad.status_code == 400
    assert "Not a history position" in bad.json()["message"]


def test_keyset_round_trips_microseconds() -> None:
    when = datetime.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=datetime.UTC)
    assert history.Keyset.decode(history.Keyset(when, 42).encode()) == history.Keyset(when, 42)
    with pytest.raises(history.BadKeyset):
        history.Keyset.decode("12")


def render(client: Client, room: models.ChatRoom) -> tuple[list[int], str, str]:
    """The room page's message ids, its cursor and its first older-page keyset."""
    body = client.get("/rooms/%d/" % room.id).content.decode()
    ids = [int(part.split('"', 1)[0]) for part in body.split('data-message-id="')[1:]]
    cursor = body.split('data-cursor="', 1)[1].split('"', 1)[0]
    before = body.split('data-before="', 1)[1].split('"', 1)[0]
    return ids, cursor, before


def older_pages(client: Client, room: models.ChatRoom, before: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    while before:
        page = client.get("/rooms/%d/messages/older/" % room.id, {"before": before}).json()
        found = page["messages"] + found
        before = page["before"]
    return found


async def test_history_meets_live_events_without_gap_or_repeat(
    people: People, room: models.ChatRoom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the page shows, then older pages, then the frames after its cursor: every message once."""
    monkeypatch.setattr(history, "PAGE_SIZE", 2)
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    old = await sync(posted_at)(room, people["owner"], when, 5)
    member = await sync(client_for)(people["member"])
    shown, cursor, before = await sync(render)(member, room)
    assert shown == old[-2:]

    # After the render: a new message, an edit and a deletion among the not yet loaded ones.
    create = sync(models.ChatMessage.objects.create)
    fresh = await create(room=room, sender=people["member"], message="after the render")
    await sync(models.ChatMessage.objects.filter(pk=old[0]).update)(message="edited later")
    await sync(models.ChatMessage.objects.filter(pk=old[1]).delete)()

    socket, connected, _ = await connect("/ws/room/%d" % room.id, people["member"], cursor=cursor)
    assert connected
    live = await frames(socket, 3)
    await socket.disconnect()
    assert [(f["type"], f["kwargs"]["id"]) for f in live] == [
        ("chat_message_created", str(fresh.id)),
        ("chat_message_updated", str(old[0])),
        ("chat_message_deleted", str(old[1])),
    ]
    loaded = await sync(older_pages)(member, room, before)
    loaded_ids = [int(str(m["id"])) for m in loaded]
    assert loaded_ids == [old[0], old[2]]
    assert not set(loaded_ids) & set(shown)
    assert loaded[0]["message"] == "edited later"
    everything = await sync(lambda: list(models.ChatMessage.objects.values_list("id", flat=True)))()
    assert loaded_ids + shown + [fresh.id] == everything
