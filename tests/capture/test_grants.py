"""What ``listener.Grants`` appends to the log, write path by write path, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

import listener
from chat import models, topics
from listener import models as log_models

pytestmark = pytest.mark.django_db(transaction=True)

CHANGED = "realtime_access_changed"


def access_events() -> list[tuple[list[str], Any]]:
    found = log_models.Event.objects.filter(type=CHANGED).order_by("id")
    return [(event.topics, event.payload) for event in found]


def test_removing_a_member_by_each_path_appends_one_event_naming_them(people, room):
    room_topic = "room_%d" % room.id
    member, other = people["member"], people["other"]
    room.member_set.add(other)

    room.member_set.remove(member)  # the ORM
    models.ChatRoomMembership.objects.filter(chatroom=room, user=other).update(user=member)  # update()
    with connection.cursor() as cursor:  # raw SQL
        cursor.execute("DELETE FROM chat_chatroom_member_set WHERE chatroom_id = %s", [room.id])

    assert access_events() == [
        ([room_topic], {"users": [str(member.id)]}),
        ([room_topic], {"users": [str(other.id), str(member.id)]}),
        ([room_topic], {"users": [str(member.id)]}),
    ]


def test_a_room_moved_to_another_owner_names_both_owners_and_a_moved_row_both_topics(people, room):
    elsewhere = models.ChatRoom.objects.create(owner=people["owner"], title="Elsewhere")
    models.ChatRoom.objects.filter(pk=room.pk).update(owner=people["member"])
    models.ChatRoomMembership.objects.filter(chatroom=room).update(chatroom=elsewhere)
    assert access_events() == [
        (["room_%d" % room.id], {"users": [str(people["owner"].id), str(people["member"].id)]}),
        (["room_%d" % room.id, "room_%d" % elsewhere.id], {"users": [str(people["member"].id)]}),
    ]


def test_changes_to_other_columns_and_inserts_append_nothing(people, room):
    models.ChatRoom.objects.filter(pk=room.pk).update(title="Renamed")
    models.ChatRoomMembership.objects.filter(chatroom=room).update(joined="2020-01-01T00:00:00Z")
    room.member_set.add(people["other"])
    assert access_events() == []


def test_a_declaration_that_names_no_column_is_refused() -> None:
    with pytest.raises(ValueError, match="member_set is not a column"):
        listener.Grants(name="bad", topic=topics.ROOM.of("id"), user="member_set").get_func(models.ChatRoom)
    with pytest.raises(TypeError, match=r"Topic\.of"):
        listener.Grants(name="bad", topic=topics.ROOM, user="owner")  # type: ignore[arg-type]
