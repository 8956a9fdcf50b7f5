"""A live region's socket sends Turbo Stream elements where JSON pages get the event's frame.

The swap happens in the socket's outbox (``listener.sockets.region_outbox``): the consumer
decides, replays and orders exactly as for JSON pages, and each event frame it lets through
becomes the HTML of the streams that apply.
Each stream is rendered once per event and variant in this process, however many sockets take
it: the first socket starts the render and the others wait for the same result.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import functools
import logging
import urllib.parse
from typing import Any

from channels.db import database_sync_to_async
from django.template import loader

from listener import metrics
from listener.log import events, rendering
from listener.sockets import outbox, region_outbox, streams

logger = logging.getLogger(__name__)

# Renders kept for sockets that take an event later (a slow page, a replay); oldest go first.
CACHE_SIZE = 4096
QUERY_KEY = "live"

Key = tuple[str, int, int, collections.abc.Hashable]
# Per stream, event and variant: the rendered element (after its opening tag).
_cache: collections.OrderedDict[Key, asyncio.Future[str | None]] = collections.OrderedDict()
# Per region, event, cursor and choice of variants: the whole frame, as subscribers get it.
_frames: collections.OrderedDict[Any, asyncio.Future[str | None]] = collections.OrderedDict()
# Per region and event: the streams that apply, with the event's payload.
_streams: collections.OrderedDict[Any, Any] = collections.OrderedDict()
_loop: asyncio.AbstractEventLoop | None = None


def requested(scope: collections.abc.Mapping[str, Any]) -> str | None:
    """The ``?live=`` name a socket asks for, or None for a JSON socket."""
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get(QUERY_KEY)
    return values[0] if values and values[0] else None


def outbox_for(scope: collections.abc.Mapping[str, Any], user_id: Any, box: outbox.Outbox) -> outbox.Outbox:
    """The outbox of a socket that passed its handshake: ``box`` for a JSON socket; for a live
    region's, one that turns event frames into the region's HTML."""
    name = requested(scope)
    live = streams.named(name) if name is not None else None
    if live is None:
        return box
    return region_outbox.RegionOutbox(
        box.label, box.on_fail, functools.partial(prepared, live, user_id=user_id)
    )


def prepared(live: streams.Live, frame: events.Frame, user_id: Any) -> asyncio.Future[str | None]:
    """The Turbo Stream elements ``frame``'s event makes for this subscriber (None: nothing).

    Per subscriber this only picks its variants, without awaiting anything: the frame for a
    choice of variants is one future, made once and shared by every socket that made the same
    choice, whose outboxes send it when it is done.
    """
    applicable = _applicable(live, frame)
    picks = tuple(stream.variant(payload, user_id) for _, stream, payload in applicable)
    key = (live.name, frame.event_id, frame.cursor, picks)
    found = _frames.get(key)
    if found is None:
        found = asyncio.ensure_future(_compose(live, frame, applicable, picks))
        _remember(_frames, key, found)
    return found


async def _compose(
    live: streams.Live,
    frame: events.Frame,
    applicable: list[tuple[int, streams.Stream, dict[str, Any]]],
    picks: tuple[collections.abc.Hashable | None, ...],
) -> str | None:
    parts = []
    failed = False
    for (index, stream, payload), variant in zip(applicable, picks, strict=True):
        if variant is None:
            continue
        element = await _rendered((live.name, frame.event_id, index, variant), stream, payload, variant)
        failed = failed or element == region_outbox.FAILED
        if element:
            # The cursor goes on every element: a page may apply any of them alone.
            parts.append('<turbo-stream data-cursor="%s" %s' % (frame.cursor, element))
    if parts:
        return "".join(parts)
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
    """The element after its opening ``<turbo-stream ``; None when there is nothing to send."""
    opening = 'action="%s" target="%s">' % (stream.action, stream.target_for(payload))
    if stream.action in streams.BARE:
        return opening + "</turbo-stream>"
    try:
        body = await database_sync_to_async(_template_html)(stream, payload, variant)
    except Exception:
        # Failing the socket would make the page resume into the same failure forever.
        logger.exception(
            "live stream %s %s on %s failed to render; not sent", stream.event, stream.action, stream.target
        )
        return region_outbox.FAILED
    if body is None:
        return None
    return "%s<template>%s</template></turbo-stream>" % (opening, body)


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
