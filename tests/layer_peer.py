"""Another process on the test database, speaking to the channel layer (for the conformance tests).

``python -m tests.layer_peer <action> <args...>``; it prints one JSON line per event
(``{"ready": channel}``, ``{"got": message}``) so the test can follow it:

- ``receive <channel> <count>``: receive ``count`` messages from ``channel``
- ``drain <channel>``: receive from ``channel`` until a message of type ``stop``
- ``new <count>``: make a channel of this process, print it, receive ``count`` messages on it
- ``member <group> <count>``: as ``new``, after joining ``group``
- ``send <channel> <json>`` / ``group_send <group> <json>``: send one message and exit
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any


def _print(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, default=repr) + "\n")
    sys.stdout.flush()


async def _main(action: str, args: list[str]) -> None:
    from channels.layers import get_channel_layer

    layer: Any = get_channel_layer()
    if action == "send":
        await layer.send(args[0], json.loads(args[1]))
    elif action == "group_send":
        await layer.group_send(args[0], json.loads(args[1]))
    elif action == "receive":
        _print({"ready": args[0]})
        for _ in range(int(args[1])):
            _print({"got": await layer.receive(args[0])})
    elif action == "drain":
        _print({"ready": args[0]})
        while True:
            message = await layer.receive(args[0])
            _print({"got": message})
            if message["type"] == "stop":
                break
    elif action in {"new", "member"}:
        channel = await layer.new_channel()
        if action == "member":
            await layer.group_add(args[0], channel)
        _print({"ready": channel})
        for _ in range(int(args[-1])):
            _print({"got": await layer.receive(channel)})
    else:
        raise SystemExit("unknown action %r" % action)
    await layer.close()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    asyncio.run(_main(sys.argv[1], sys.argv[2:]))
