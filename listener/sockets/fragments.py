"""A live region's socket sends HTML where JSON pages get the event's frame.

The swap happens in the socket's outbox (``listener.sockets.region_outbox``): the consumer
decides, replays and orders exactly as for JSON pages, and each event frame it lets through
becomes the HTML of the streams that apply. Each stream is rendered once per event and variant in
this process, however many sockets take it: the first socket starts the render and the others
share its result; how the rendering is written (Turbo Stream elements, htmx swaps) is
``listener.sockets.wire``'s.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import functools
import logging
import typing
import urllib.parse
from typing import Any

from channels.db import database_sync_to_async
from django.template import loader

from listener import exceptions, metrics
from listener.log import events, rendering
from listener.sockets import outbox, region_outbox, streams, wire

logger = logging.getLogger(__name__)

# Renders kept for sockets that take an event later (a slow page, a replay); oldest go first.
CACHE_SIZE = 4096
QUERY_KEY = "live"

Key = tuple[str, int, int, collections.abc.Hashable]
# Per stream, event and variant: the rendered template ("" for a stream without one).
_cache: collections.OrderedDict[Key, asyncio.Future[str | None]] = collections.OrderedDict()
# Per region, wire, event, cursor and choice of variants: the whole frame, as subscribers get it.
_frames: collections.OrderedDict[Any, asyncio.Future[str | None]] = collections.OrderedDict()
# Per region and event: the streams that apply, with the event's payload.
_streams: collections.OrderedDict[Any, Any] = collections.OrderedDict()
_loop: asyncio.AbstractEventLoop | None = None


def requested(scope: collections.abc.Mapping[str, Any]) -> str | None:
    """The ``?live=`` a socket asks for, or None for a JSON socket."""
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get(QUERY_KEY)
    return values[0] if values and values[0] else None


def regions(value: str) -> list[streams.Live] | None:
    """The regions ``?live=`` names, comma-separated (regions of one page on one topic share a
    socket), or None when one of them is not declared."""
    found = [streams.named(name) for name in dict.fromkeys(value.split(","))]
    return None if None in found else typing.cast(list[streams.Live], found)


def outbox_for(scope: collections.abc.Mapping[str, Any], user_id: Any, box: outbox.Outbox) -> outbox.Outbox:
    """The outbox of a socket that passed its handshake: ``box`` for a JSON socket; for a live
    region's, one that turns event frames into the regions' HTML."""
    value = requested(scope)
    lives = regions(value) if value is not None else None
    # The handshake refused a name or wire we do not have.
    written = wire.requested(scope)
    if lives is None or written is None:
        return box
    translate = functools.partial(prepared, tuple(lives), written, user_id=user_id)
    cursor_frame = functools.partial(wire.cursor_only, written)
    return region_outbox.RegionOutbox(box.label, box.on_fail, translate, cursor_frame)


def prepared(
    lives: tuple[streams.Live, ...], written: wire.Wire, frame: events.Frame, user_id: Any
) -> asyncio.Future[str | None]:
    """The HTML ``frame``'s event makes for this subscriber on its regions, written for
    ``written`` (None: nothing changes).

    Per subscriber this only picks its variants, without awaiting anything: the frame for a
    choice of variants is one future, made once and shared by every socket that made the same
    choice, whose outboxes send it when it is done.
    """
    choices = tuple(
        tuple(stream.variant(payload, user_id) for _, stream, payload in _applicable(live, frame))
        for live in lives
    )
    key = (tuple(live.name for live in lives), written, frame.event_id, frame.cursor, choices)
    found = _frames.get(key)
    if found is None:
        found = asyncio.ensure_future(_compose(lives, frame, choices, written))
        _remember(_frames, key, found)
    return found


async def _compose(
    lives: tuple[streams.Live, ...],
    frame: events.Frame,
    choices: tuple[tuple[collections.abc.Hashable | None, ...], ...],
    written: wire.Wire,
) -> str | None:
    parts = []
    failed = False
    for live, picks in zip(lives, choices, strict=True):
        for (index, stream, payload), variant in zip(_applicable(live, frame), picks, strict=True):
            if variant is None:
                continue
            try:
                body = await _rendered((live.name, frame.event_id, index, variant), stream, payload, variant)
            except exceptions.RenderFailed:
                failed = True
                continue
            if body is None:
                continue
            action = streams.Action(stream.action)
            part = wire.element(written, action, stream.target_for(payload), body, frame.cursor)
            if part is not None:
                parts.append(part)
    if parts:
        return wire.frame(written, parts, frame.cursor)
    # Nothing sent because a render failed is not "nothing changed": the cursor stays before it,
    # so a reconnect renders it again.
    return region_outbox.FAILED if failed else None


def _applicable(live: streams.Live, frame: events.Frame) -> list[tuple[int, streams.Stream, dict[str, Any]]]:
    """The streams of ``live`` that apply to the frame's event, found once per event."""
    _fresh_loop()
    key = (live.name, frame.event_id)
    found = _streams.get(key)
    if found is None:
        payload = frame.kwargs
        found = [(i, s, payload) for i, s in enumerate(live.streams) if s.applies(frame.type, payload)]
        _remember(_streams, key, found)
    return found


def _remember(cache: collections.OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    if len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


def _fresh_loop() -> None:
    """Forget renders made under another event loop (each test has its own); their futures
    belong to it."""
    global _loop
    loop = asyncio.get_running_loop()
    if loop is not _loop:
        _cache.clear()
        _frames.clear()
        _streams.clear()
        _loop = loop


async def _rendered(
    key: Key, stream: streams.Stream, payload: dict[str, Any], variant: collections.abc.Hashable
) -> str | None:
    found = _cache.get(key)
    if found is None:
        found = asyncio.ensure_future(_render(stream, payload, variant))
        _remember(_cache, key, found)
    return await asyncio.shield(found)


async def _render(
    stream: streams.Stream, payload: dict[str, Any], variant: collections.abc.Hashable
) -> str | None:
    """The stream's rendered template ("" for one without); None when there is nothing to send.
    Raises `RenderFailed` when the render raised (logged here, once per event and variant)."""
    if stream.action in streams.BARE:
        return ""
    try:
        body = await database_sync_to_async(_template_html)(stream, payload, variant)
    except Exception as exc:
        # Failing the socket would make the page resume into the same failure forever.
        logger.exception(
            "live stream %s %s on %s failed to render; not sent", stream.event, stream.action, stream.target
        )
        raise exceptions.RenderFailed() from exc
    return body


def _template_html(
    stream: streams.Stream, payload: dict[str, Any], variant: collections.abc.Hashable
) -> str | None:
    metrics.LIVE_RENDERS.inc()
    assert stream.template is not None  # streams without one are BARE
    # The context and the template's own lazy queries read one snapshot.
    with rendering.consistent_read():
        context = stream.context(payload, variant) if stream.context is not None else dict(payload)
        if context is None:
            return None
        # A partial's closing newline would be a stray text node in the page.
        return loader.render_to_string(stream.template, context).strip()
