"""Post a message to a room from the command line, e.g. from a cron job."""

from __future__ import annotations

import argparse
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from chat import models


class Command(BaseCommand):
    help = "Post a message to a room as a user; pages see it live like any other write."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--room", type=int, required=True, help="room id")
        parser.add_argument("--user", required=True, help="username of the sender")
        parser.add_argument("message")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            room = models.ChatRoom.objects.get(pk=options["room"])
            sender = User.objects.get(username=options["user"])
        except (models.ChatRoom.DoesNotExist, User.DoesNotExist) as exc:
            raise CommandError(str(exc)) from exc
        message = models.ChatMessage(room=room, sender=sender, message=options["message"])
        message.full_clean()
        message.save()
        self.stdout.write("posted message %d to room %d" % (message.pk, room.pk))
