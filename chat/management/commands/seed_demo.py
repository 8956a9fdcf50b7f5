"""``manage.py seed_demo``: demo users, rooms, members, messages and a pending join request.

Idempotent: running it again changes nothing that exists, and prints the logins again.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from chat import models

PASSWORD = "demo-password"
USERS = [
    ("alice", "Alice", "Anders", True),
    ("bob", "Bob", "Baker", False),
    ("carol", "Carol", "Chen", False),
    ("dave", "Dave", "Diaz", False),
]
# title, owner, join code, members, messages
ROOMS = [
    (
        "Lobby",
        "alice",
        "lobby-demo",
        ["bob", "carol"],
        [
            ("alice", "Welcome to the lobby! Everything here updates live."),
            ("bob", "Hi Alice. Open this page in a second window and post something."),
            ("carol", "Try the admin too: edit a message and watch it change here."),
        ],
    ),
    (
        "Book club",
        "bob",
        "books-demo",
        ["alice"],
        [("bob", "This month: The Left Hand of Darkness."), ("alice", "Halfway through, no spoilers!")],
    ),
]
# Dave is waiting to join the lobby; Alice can admit or deny him from the room page.
PENDING = [("dave", "lobby-demo")]


class Command(BaseCommand):
    help = "Create the demo users, rooms and messages (idempotent) and print the logins."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            users = {name: self._user(name, first, last, staff) for name, first, last, staff in USERS}
            for title, owner, code, member_names, lines in ROOMS:
                room, created = models.ChatRoom.objects.get_or_create(
                    join_code=code, defaults={"title": title, "owner": users[owner]}
                )
                for name in member_names:
                    models.ChatRoomMembership.objects.get_or_create(chatroom=room, user=users[name])
                if created:
                    for sender, text in lines:
                        models.ChatMessage.objects.create(room=room, sender=users[sender], message=text)
            for name, code in PENDING:
                room = models.ChatRoom.objects.get(join_code=code)
                asked = models.ChatRoomJoinRequest.objects.filter(user=users[name], room=room).exists()
                is_member = room.member_set.filter(pk=users[name].pk).exists()
                if not asked and not is_member:
                    models.ChatRoomJoinRequest.objects.create(user=users[name], room=room)
        self.stdout.write("Demo logins (password %s for each):" % PASSWORD)
        for name, _, _, staff in USERS:
            self.stdout.write("  %s%s" % (name, " (staff: can use /admin/)" if staff else ""))
        self.stdout.write("Join codes: %s" % ", ".join("%s=%s" % (room[0], room[2]) for room in ROOMS))

    def _user(self, username: str, first: str, last: str, staff: bool) -> User:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "is_staff": staff, "is_superuser": staff},
        )
        if created:
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
        return user
