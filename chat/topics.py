"""The chat's topics, declared once: the triggers publish to them and the consumers parse them."""

from __future__ import annotations

import listener

# A room's activity: ``room_<id>``.
ROOM = listener.Topic("room")
# A user's own join requests go to the library's user topic, ``user_<id>``.
USER = listener.USER_TOPIC
