"""Channel messages as JSON text, with byte strings kept as byte strings.

The Channels spec allows ``bytes`` in messages (a WebSocket's binary frame, an HTTP body);
JSON has none, so they travel as ``{"__bytes__": "<base64>"}`` and come back as ``bytes``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

_BYTES = "__bytes__"


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(
        "a channel message may hold str, bytes, int, float, bool, None, lists and dicts; "
        "got %s" % type(value).__name__
    )


def _hook(value: dict[str, Any]) -> Any:
    if len(value) == 1 and _BYTES in value:
        return base64.b64decode(value[_BYTES])
    return value


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, default=_default, separators=(",", ":"))


def decode(text: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(text, object_hook=_hook)
    return decoded
