"""The live region the benches add to the chat's home page: the same rooms, in ``refresh`` mode.

Imported as an app's ``live.py`` when ``bench.live_settings`` adds ``bench`` to the installed
apps. A rename refreshes the room's element: the page fetches its own URL again (debounced) and
morphs the element in, where the chat's own ``home`` region sends the rendered element instead.
"""

from __future__ import annotations

import listener
from chat import live as chat_live
from chat import payloads

NAME = "home_refresh"

REFRESH = listener.Live(
    NAME,
    [
        listener.Stream(
            payloads.HOME_EVENT,
            when={"action": "rename"},
            action="refresh",
            target=chat_live.OWNED,
            variant=chat_live.owner,
        ),
        listener.Stream(
            payloads.HOME_EVENT,
            when={"action": "rename"},
            action="refresh",
            target=chat_live.JOINED,
            variant=chat_live.member,
        ),
    ],
)
