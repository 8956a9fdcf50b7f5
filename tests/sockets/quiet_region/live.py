"""A region that only a room's rename changes (it refreshes); creating rooms changes nothing."""

from __future__ import annotations

import listener

RENAMES = listener.Live(
    "renames",
    [
        listener.Stream(
            "did_alter_room", when={"action": "rename"}, action="refresh", target="room-{room[id]}"
        )
    ],
)
