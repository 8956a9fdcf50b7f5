"""What publishes lost access: the user and session triggers, and the event types they send.

The library owns two topics that every socket joins besides its own: its user's and its login
session's. Triggers publish on them when a user is deactivated or deleted, when a session row is
deleted (logout) or its expiry moves earlier, and when a password changes, whatever made the
change (the admin, a shell, a cron job, SQL). How sockets react lives with the sockets
(``listener.sockets.revocation``).
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from psycopg import sql

from listener.capture import publishing, topics

USER_ACCESS_REVOKED = "user_access_revoked"
USER_PASSWORD_CHANGED = "user_password_changed"
SESSION_ENDED = "session_ended"
SESSION_EXPIRY_CHANGED = "session_expiry_changed"
# Set for one transaction by listener.sessions while it deletes a cycled session key.
SUCCESSOR_SETTING = "realtime.session_successor"


def user_triggers(user_model: type[models.Model]) -> list[pgtrigger.Trigger]:
    """The user model's triggers; deactivation only where the model has an ``is_active`` column."""
    pk = user_model._meta.pk
    if pk is None:
        raise ValueError("%s has no primary key" % user_model.__name__)
    user_topic = [topics.USER.of(pk.name)]
    payload: publishing.Payload = {"id": pk.name}
    found: list[pgtrigger.Trigger] = [
        publishing.Publish(
            name="emit_user_deleted",
            operation=pgtrigger.Delete,
            event=USER_ACCESS_REVOKED,
            topics=user_topic,
            payload=payload,
        )
    ]
    columns = {field.name for field in user_model._meta.concrete_fields}
    if "is_active" in columns:
        found.append(
            publishing.Publish(
                name="emit_user_deactivated",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__is_active=True, new__is_active=False),
                event=USER_ACCESS_REVOKED,
                topics=user_topic,
                payload=payload,
            )
        )
    if "password" in columns:
        found.append(
            publishing.Publish(
                name="emit_user_password_changed",
                operation=pgtrigger.Update,
                condition=publishing.changed("password"),
                event=USER_PASSWORD_CHANGED,
                topics=user_topic,
                payload=payload,
            )
        )
    return found


def session_triggers() -> list[pgtrigger.Trigger]:
    successor = sql.SQL("NULLIF(current_setting({}, true), '')").format(sql.Literal(SUCCESSOR_SETTING))
    return [
        publishing.Publish(
            name="emit_session_ended",
            operation=pgtrigger.Delete,
            event=SESSION_ENDED,
            topics=[topics.SESSION.of("session_key")],
            payload={"successor": successor},
        ),
        # Only an earlier expiry needs telling: a socket whose timer fires before a later one
        # reads the session again and keeps going, and sessions saved on every request (which
        # push their expiry later each time) then add no events.
        publishing.Publish(
            name="emit_session_expiry_earlier",
            operation=pgtrigger.Update,
            condition=pgtrigger.Q(new__expire_date__lt=pgtrigger.F("old__expire_date")),
            event=SESSION_EXPIRY_CHANGED,
            topics=[topics.SESSION.of("session_key")],
            payload={},
        ),
    ]
