"""A user model keyed by UUID and a model whose topic is keyed by that user, as an adopter writes them."""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

import listener

NOTES = listener.Topic("notes", key_type=uuid.UUID)


class Member(AbstractUser):
    """A user whose primary key is a UUID."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)


class Note(models.Model):
    """A note published on its owner's topic, ``notes_<owner uuid>``."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    text = models.TextField()

    class Meta:
        triggers = [
            listener.Publish(
                name="note_saved",
                operation=pgtrigger.Insert | pgtrigger.Update,
                event="note_saved",
                topics=[NOTES.of("owner")],
                payload={"id": "id", "text": "text", "owner": {"id": "owner", "name": "owner.username"}},
            )
        ]
