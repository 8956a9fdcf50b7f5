"""How a live region's socket writes a stream's rendering: as Turbo Stream elements (the default,
what Turbo's own client and the library's apply), or as out-of-band swaps that htmx's WebSocket
extension applies (``?swap=htmx``).

Only the writing differs: the same streams apply, rendered once per event and variant, and each
frame carries its event's cursor, so a page of either kind can resume from it.
"""

from __future__ import annotations

import collections.abc
import enum
import functools
import html
import re
import urllib.parse
from typing import Any

from listener.log import events
from listener.sockets import streams

QUERY_KEY = "swap"


class Wire(enum.StrEnum):
    """The client a live region's frames are written for."""

    TURBO = "turbo"
    HTMX = "htmx"


def requested(scope: collections.abc.Mapping[str, Any]) -> Wire | None:
    """The ``?swap=`` a socket asks for (Turbo without one), or None for a name we do not write."""
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get(QUERY_KEY)
    if not values or not values[0]:
        return Wire.TURBO
    try:
        return Wire(values[0])
    except ValueError:
        return None


# htmx's swap style for each action. A replace swaps the rendered element itself (htmx's
# ``outerHTML`` puts the carrier in the page), so it carries the attribute on its own start tag.
HTMX_SWAPS = {
    streams.Action.APPEND: "beforeend",
    streams.Action.PREPEND: "afterbegin",
    streams.Action.BEFORE: "beforebegin",
    streams.Action.AFTER: "afterend",
    streams.Action.UPDATE: "innerHTML",
    streams.Action.REMOVE: "delete",
}
_FIRST_TAG = re.compile(r"\s*<([a-zA-Z][^\s/>]*)")
# htmx parses a frame as the content of a <template>, where a table row survives only inside a
# table part: the parts' carriers are chosen so (htmx inserts a carrier's children, not itself).
_CARRIERS = {"tr": "tbody", "td": "tr", "th": "tr"}


def element(wire: Wire, action: streams.Action, target: str, body: str, cursor: str) -> str | None:
    """One stream's part of a frame; ``target`` is already escaped for an attribute. None when
    this wire has no way to say it (htmx has no ``refresh``)."""
    if wire is Wire.TURBO:
        # The cursor goes on every element: a page may apply any of them alone.
        opening = '<turbo-stream data-cursor="%s" action="%s" target="%s">' % (cursor, action, target)
        if action in streams.BARE:
            return opening + "</turbo-stream>"
        return "%s<template>%s</template></turbo-stream>" % (opening, body)
    if action is streams.Action.REFRESH:
        return None
    if action is streams.Action.REPLACE:
        found = _FIRST_TAG.match(body)
        if found is not None:
            swap = ' hx-swap-oob="outerHTML:#%s"' % html.escape(_css_id(target), quote=True)
            return body[: found.end()] + swap + body[found.end() :]
        # Text only: htmx would leave a carrier in the page; the target's content is the nearest.
        action = streams.Action.UPDATE
    swap = html.escape("%s:#%s" % (HTMX_SWAPS[action], _css_id(target)), quote=True)
    if action is streams.Action.REMOVE:
        # A <template> changes no parsing mode, so a remove sits beside rows and items alike.
        return '<template hx-swap-oob="%s"></template>' % swap
    first = _FIRST_TAG.match(body)
    carrier = _CARRIERS.get(first[1].lower(), "div") if first is not None else "div"
    return '<%s hx-swap-oob="%s">%s</%s>' % (carrier, swap, body, carrier)


def frame(wire: Wire, parts: list[str], cursor: str) -> str:
    """A whole frame from its parts. An htmx frame starts with an element that carries only the
    cursor, for a page that resumes from it; htmx swaps it into nothing."""
    if wire is Wire.TURBO:
        return "".join(parts)
    return '<template hx-swap-oob="none:body" data-cursor="%s"></template>%s' % (cursor, "".join(parts))


@functools.lru_cache(maxsize=1024)
def cursor_only(wire: Wire, cursor: str) -> str:
    """A frame that changes nothing and carries ``cursor``, for events that changed nothing in
    the page's regions: for htmx the cursor's own element, which htmx swaps into nothing; for
    Turbo a JSON ``cursor`` frame (Turbo finds no stream in it; the library's client and the
    manual's resume scripts read its cursor). Cached: every socket that skipped the same event
    sends the same string."""
    if wire is Wire.TURBO:
        return events.frame("cursor", {}, cursor)
    return frame(wire, [], cursor)


def _css_id(escaped: str) -> str:
    """An element id (as escaped for an attribute) as a CSS id selector's name."""
    raw = html.unescape(escaped)
    # CSS.escape's rules for what an id may hold unescaped; the rest as a code point.
    out = []
    for index, char in enumerate(raw):
        if (char.isalnum() and not (index == 0 and char.isdigit())) or char in "-_" or ord(char) > 0x7F:
            out.append(char)
        else:
            out.append("\\%x " % ord(char))
    return "".join(out)
