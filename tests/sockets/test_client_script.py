"""``{% load realtime %}`` gives pages a URL for realtime.js that each server really serves."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest
from django.template import engines

from tests import servers

PAGE = '{% load realtime %}<head>{% realtime_script %}</head><a href="{% realtime_url %}">'
IMPORT_MAP = re.compile(r'<script type="importmap">(?P<json>.*?)</script>', re.DOTALL)


def render() -> tuple[dict[str, Any], str]:
    """(the import map, the plain URL) of a page that uses both tags."""
    text = engines["django"].from_string(PAGE).render({})
    match = IMPORT_MAP.search(text)
    assert match, "no import map in %r" % text
    href = re.search(r'<a href="(?P<url>[^"]*)">', text)
    assert href, "no URL in %r" % text
    return json.loads(match["json"]), href["url"]


def test_the_tags_name_the_storage_url() -> None:
    import_map, url = render()
    assert import_map == {"imports": {"listener/realtime.js": "/static/listener/realtime.js"}}
    assert url == "/static/listener/realtime.js"


def test_the_tags_follow_static_url(settings: Any) -> None:
    settings.STATIC_URL = "https://cdn.example.com/assets/"
    import_map, url = render()
    assert (
        import_map["imports"]["listener/realtime.js"] == "https://cdn.example.com/assets/listener/realtime.js"
    )
    assert url == "https://cdn.example.com/assets/listener/realtime.js"


def test_a_static_url_cannot_close_the_import_map(settings: Any) -> None:
    settings.STATIC_URL = "/s/</script><script>alert(1)/"
    text = engines["django"].from_string(PAGE).render({})
    assert "<script>alert(1)" not in text
    import_map, _ = render()
    assert (
        import_map["imports"]["listener/realtime.js"] == "/s/</script><script>alert(1)/listener/realtime.js"
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("command", [servers.DAPHNE, servers.UVICORN], ids=["daphne", "uvicorn"])
def test_each_server_serves_the_url_the_tag_renders(command: list[str]) -> None:
    """whitenoise (the project's middleware) serves the packaged file; neither server does on its own."""
    _, url = render()
    with servers.daphne(1, extra_env={"DJANGO_DEBUG": "1"}, command=command) as (server,):
        with urllib.request.urlopen(server.http + url, timeout=10) as response:
            assert response.status == 200
            assert response.headers["content-type"].startswith("text/javascript")
            body = response.read().decode()
    assert "export function subscribe(" in body
