"""Pages of an imagined adopting project that runs Turbo's or htmx's own client on a live region's
socket instead of the library's: each reads its data and cursor in one snapshot, renders the
chat's partials, and puts the socket's URL where that client wants it. For the browser tests only.
"""

from __future__ import annotations

import pathlib
from typing import Any

from django import http
from django.contrib.auth.decorators import login_required
from django.template import engines
from django.urls import path

import listener
from chat import models, payloads
from project import urls as project_urls

VENDOR = pathlib.Path(__file__).parent / "vendor"
SERVED = frozenset({"turbo.es2017-esm.js", "htmx.min.js", "htmx-ext-ws.js"})

LISTS = """
<ul id="joined-rooms">{% for room in joined %}{% include "chat/_joined_room.html" %}{% endfor %}</ul>
<ul id="join-requests"></ul>
"""

# Turbo opens a WebSocket for a ws: or wss: source; the cursor replays what the render missed.
TURBO = engines["django"].from_string(
    """<!doctype html><html><head>
<script type="module" src="/own-client/vendor/turbo.es2017-esm.js"></script></head><body>
<turbo-stream-source
  src="{{ scheme }}://{{ request.get_host }}{{ socket }}?live=home&amp;cursor={{ cursor }}">
</turbo-stream-source>"""
    + LISTS
    + "</body></html>"
)

# Turbo applies what a socket of the page's own sends; the page reopens it, from the last cursor.
TURBO_RESUMING = engines["django"].from_string(
    """<!doctype html><html><head>
<script type="module">
  import { connectStreamSource, disconnectStreamSource } from "/own-client/vendor/turbo.es2017-esm.js";
  let cursor = "{{ cursor }}";
  function open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}{{ socket }}?live=home&cursor=${cursor}`);
    socket.addEventListener("message", (event) => {
      const last = [...event.data.matchAll(/<turbo-stream data-cursor="([^"]+)"/g)].pop();
      if (last) cursor = last[1];
      else if (event.data.startsWith('{"type": "cursor"')) cursor = JSON.parse(event.data).cursor;
    });
    socket.addEventListener("close", (event) => {
      disconnectStreamSource(socket);
      if (event.code === 4400 || event.code === 4410) location.reload();
      else if (![4401, 4403, 4404].includes(event.code)) setTimeout(open, 500 + 1000 * Math.random());
    });
    connectStreamSource(socket);
  }
  open();
</script></head><body>"""
    + LISTS
    + "</body></html>"
)

# htmx's extension turns a path into a ws: URL of the page's host; it swaps each frame's elements.
HTMX = engines["django"].from_string(
    """<!doctype html><html><head>
<script src="/own-client/vendor/htmx.min.js"></script>
<script src="/own-client/vendor/htmx-ext-ws.js"></script>
<script>
  // htmx reconnects to the URL it read first: resume from the last frame's cursor instead.
  let cursor = null;
  document.addEventListener("htmx:wsBeforeMessage", (event) => {
    const found = /^<template hx-swap-oob="none:body" data-cursor="([^"]+)"/.exec(event.detail.message);
    if (found) cursor = found[1];
  });
  htmx.createWebSocket = (url) =>
    new WebSocket(cursor ? url.replace(/([?&]cursor=)[^&]*/, "$1" + cursor) : url);
  // htmx retries only 1006, 1011, 1012 and 1013 by itself; these closes are resumable too.
  document.addEventListener("htmx:wsClose", (event) => {
    const code = event.detail.event.code;
    if (code === 4410) location.reload();
    else if ([4008, 4500, 4503].includes(code)) setTimeout(event.detail.socketWrapper.reconnect, 1000);
  });
</script></head><body>
<main hx-ext="ws" ws-connect="{{ socket }}?live=home&amp;swap=htmx&amp;cursor={{ cursor }}">"""
    + LISTS
    + "</main></body></html>"
)


# A second region of the library's own client on the same topic: a notice per joined room.
NOTICES = listener.Live(
    "notices",
    [
        listener.Stream(
            payloads.HOME_EVENT,
            when={"action": ["delete", "leave"]},
            action="remove",
            target="notice-{room[id]}",
        )
    ],
)

# Two regions, one render: the library's client follows both on one socket.
TWO_REGIONS = engines["django"].from_string(
    """{% load realtime %}<!doctype html><html><head>{% live_script %}</head><body>
<main {% live "home" socket cursor %}>"""
    + LISTS
    + """</main>
<aside {% live "notices" socket cursor %}>
{% for room in joined %}<p id="notice-{{ room.id }}">You are in {{ room.title }}</p>{% endfor %}
</aside></body></html>"""
)


PAGES = {"turbo": TURBO, "turbo-resuming": TURBO_RESUMING, "htmx": HTMX, "two-regions": TWO_REGIONS}


@login_required
def own_client(request: http.HttpRequest, name: str) -> http.HttpResponse:
    return _page(request, PAGES[name])


def _page(request: http.HttpRequest, page: Any) -> http.HttpResponse:
    with listener.consistent_read() as cursor:
        joined = list(
            models.ChatRoom.objects.filter(member_set=request.user)
            .exclude(owner=request.user)
            .order_by("title", "id")
        )
    context = {
        "cursor": cursor,
        "socket": "/ws/user/%s" % request.user.pk,
        "scheme": "wss" if request.is_secure() else "ws",
        "joined": joined,
    }
    return http.HttpResponse(page.render(context, request))


def vendored(request: http.HttpRequest, name: str) -> http.FileResponse:
    if name not in SERVED:
        raise http.Http404(name)
    return http.FileResponse((VENDOR / name).open("rb"), content_type="text/javascript")


urlpatterns = [
    path("own-client/<str:name>/", own_client),
    path("own-client/vendor/<str:name>", vendored),
    *project_urls.urlpatterns,
]
