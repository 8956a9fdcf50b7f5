"""The socket's Origin must be the page's own scheme, host and port, or a trusted origin."""

from __future__ import annotations

import pytest
import websockets.exceptions
import websockets.sync.client as ws_client
from django.contrib.auth.models import User
from pytest_django.fixtures import Settings as SettingsWrapper
from websockets.typing import Origin

from chat import models
from listener.sockets.consumer import Code
from tests import servers
from tests.conftest import close_code, connect, frames, session_cookie, sync

pytestmark = pytest.mark.django_db(transaction=True)


async def _code(room: models.ChatRoom, user: User, headers: list[tuple[bytes, bytes]]) -> int | None:
    """4403 if refused; None if the socket opened and delivers."""
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, user, headers=headers)
    assert connected
    if await communicator.receive_nothing(timeout=0.3):
        await communicator.disconnect()
        return None
    return await close_code(communicator)


@pytest.mark.parametrize(
    "origin,host",
    [
        # The report: a page on another port of the same host read private rooms.
        (b"http://localhost:3000", b"localhost:8002"),
        (b"http://127.0.0.1:3000", b"127.0.0.1:8000"),
        # Same host and port, other scheme: an http page opening a socket to an https site.
        (b"https://127.0.0.1:8000", b"127.0.0.1:8000"),
        # Another host on the same port.
        (b"http://localhost:8000", b"127.0.0.1:8000"),
        # Same origin, but the Host is not one this server answers (DNS rebinding).
        (b"http://evil.example:8000", b"evil.example:8000"),
        (b"null", b"127.0.0.1:8000"),
        (b"http://127.0.0.1:8000", b""),
    ],
)
async def test_other_origins_are_refused(
    people: dict[str, User], room: models.ChatRoom, origin: bytes, host: bytes
) -> None:
    headers = [(b"origin", origin)] + ([(b"host", host)] if host else [])
    assert await _code(room, people["member"], headers) == Code.FORBIDDEN


@pytest.mark.parametrize(
    "origin,host",
    [
        (b"http://127.0.0.1:8000", b"127.0.0.1:8000"),
        (b"http://localhost:8000", b"localhost:8000"),
        (b"http://LOCALHOST:8000", b"localhost:8000"),
        (b"http://localhost", b"localhost:80"),
        (b"http://localhost:80", b"localhost"),
    ],
)
async def test_a_page_of_the_server_itself_is_allowed_out_of_the_box(
    people: dict[str, User], room: models.ChatRoom, origin: bytes, host: bytes
) -> None:
    assert await _code(room, people["member"], [(b"origin", origin), (b"host", host)]) is None


async def test_no_origin_is_a_non_browser_client_and_allowed(
    people: dict[str, User], room: models.ChatRoom
) -> None:
    communicator, connected, _ = await connect("/ws/room/%d" % room.id, people["member"], headers=[])
    assert connected
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="hi")
    (frame,) = await frames(communicator, 1)
    assert frame["kwargs"]["message"] == "hi"
    await communicator.disconnect()


async def test_trusted_origins_exact_and_wildcard(
    people: dict[str, User], room: models.ChatRoom, settings: SettingsWrapper
) -> None:
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.net", "https://*.example.org"]
    host = (b"host", b"chat.example.com")
    member = people["member"]
    for origin in (b"https://app.example.net", b"https://a.example.org", b"https://example.org"):
        assert await _code(room, member, [(b"origin", origin), host]) is None, origin
    for origin in (
        b"http://app.example.net",  # scheme differs
        b"https://app.example.net:8443",  # port differs
        b"https://other.example.net",
        b"http://a.example.org",
        b"https://a.example.org:444",
        b"https://evilexample.org",
    ):
        assert await _code(room, member, [(b"origin", origin), host]) == Code.FORBIDDEN, origin


async def test_https_behind_a_proxy_is_recognized_by_secure_proxy_ssl_header(
    people: dict[str, User], room: models.ChatRoom, settings: SettingsWrapper
) -> None:
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    origin, host = (b"origin", b"https://chat.example.com"), (b"host", b"chat.example.com")
    proto = (b"x-forwarded-proto", b"https")
    assert await _code(room, people["member"], [origin, host, proto]) is None
    assert await _code(room, people["member"], [origin, host]) == Code.FORBIDDEN


@pytest.mark.parametrize("command", [servers.DAPHNE, servers.UVICORN], ids=["daphne", "uvicorn"])
def test_real_server_refuses_another_port_of_the_same_host(
    people: dict[str, User], room: models.ChatRoom, command: list[str]
) -> None:
    cookie = "sessionid=%s" % session_cookie(people["member"]).decode().split("=", 1)[1]
    url = "/ws/room/%d" % room.id
    # Without presence, the first frame of an accepted page is the message itself.
    with servers.daphne(1, {"REALTIME_PRESENCE": "0"}, command=command) as (server,):
        for page in ("http://127.0.0.1:%d" % server.port, "http://localhost:%d" % server.port):
            base = page.replace("http", "ws", 1)
            with ws_client.connect(
                base + url, origin=Origin(page), additional_headers={"Cookie": cookie}
            ) as ok:
                models.ChatMessage.objects.create(room=room, sender=people["owner"], message=page)
                assert page in ok.recv(timeout=10)
        foreign = "http://localhost:%d" % servers.free_port()
        with ws_client.connect(
            "ws://localhost:%d%s" % (server.port, url),
            origin=Origin(foreign),
            additional_headers={"Cookie": cookie},
        ) as refused:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                refused.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == Code.FORBIDDEN
