"""``{% load realtime %}``: where a page finds the library's browser clients, and live regions.

The client is an ES module that ships inside the package (``listener/static/listener/``), so its
URL is whatever the project's static files storage says (a hashed name under a manifest storage,
a CDN under ``STATIC_URL``): pages ask the storage through these tags instead of writing a path.
"""

from __future__ import annotations

import json

from django import template
from django.templatetags import static
from django.utils import html, safestring

register = template.Library()

CLIENT = "listener/realtime.js"
# The live regions' client: applies Turbo Stream elements to regions marked with {% live %}.
LIVE_CLIENT = "listener/live.js"
# The bare name page modules import from, once the import map below is on the page.
MODULE_NAME = "listener/realtime.js"


@register.simple_tag
def realtime_url() -> str:
    """The client's URL, for a project that keeps its own import map or imports by URL."""
    return static.static(CLIENT)


@register.simple_tag
def realtime_script() -> safestring.SafeString:
    """An import map entry, so ``import { subscribe } from "listener/realtime.js"`` works in any
    module script of the page whatever URL the storage gives the file.

    It goes in ``<head>`` before the first module script: browsers read import maps only until
    a module starts loading.
    """
    imports = json.dumps({"imports": {MODULE_NAME: static.static(CLIENT)}})
    # json_script's escaping, so a URL can never close the script element early.
    return html.format_html(
        '<script type="importmap">{}</script>', safestring.mark_safe(_escape_for_script(imports))
    )


@register.simple_tag
def live_script() -> safestring.SafeString:
    """The client that keeps every ``{% live %}`` region of the page live; no other script needed."""
    return html.format_html('<script type="module" src="{}"></script>', static.static(LIVE_CLIENT))


@register.simple_tag
def live(name: str, socket: str, cursor: str) -> safestring.SafeString:
    """Attributes that make an element a live region: ``<main {% live "home" socket cursor %}>``.

    ``name`` is a `listener.Live`'s, ``socket`` the path of the topic's socket (the route whose
    consumer authorizes it), ``cursor`` the one taken with the data the region shows
    (``listener.consistent_read``): the region gets every later change once.
    """
    return html.format_html('data-live="{}" data-socket="{}" data-cursor="{}"', name, socket, cursor)


def _escape_for_script(text: str) -> str:
    """``<``, ``>`` and ``&`` as JSON escapes: the text stays valid JSON and inert in HTML."""
    return text.replace("<", "\\u003C").replace(">", "\\u003E").replace("&", "\\u0026")
