"""Hardening: origin, logout, deactivation, per-user cap, and fuzzed hostile input."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from typing import Any

import hypothesis
import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core import signing
from django.test import Client
from hypothesis import strategies as st

from chat import models
from listener.sockets.consumer import Code
from project.asgi import application
from tests import servers
from tests.conftest import HOST, ORIGIN, close_code, connect, frames, session_cookie, sync

pytestmark = pytest.mark.django_db(transaction=True)

# What a refused or closed socket may say; anything else (1011 above all) is a server fault.
REFUSALS = {
    Code.BAD_CURSOR,
    Code.NOT_LOGGED_IN,
    Code.FORBIDDEN,
    Code.NOT_FOUND,
    Code.TOO_MANY_SOCKETS,
    Code.RESYNC_REQUIRED,
}
FUZZ = hypothesis.settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)


async def test_cross_site_origin_is_refused_with_4403(people, room):
    communicator, connected, _ = await connect(
        "/ws/room/%d" % room.id, people["member"], headers=[(b"origin", b"https://evil.example")]
    )
    assert connected
    assert await close_code(communicator) == Code.FORBIDDEN


async def test_logout_closes_that_sessions_sockets_only(people, room):
    browser, other_browser = Client(), Client()
    await sync(browser.force_login)(people["member"])
    await sync(other_browser.force_login)(people["member"])

    async def open_with(client: Client) -> WebsocketCommunicator:
        cookie = ("sessionid=%s" % client.cookies["sessionid"].value).encode()
        communicator = WebsocketCommunicator(
            application, "/ws/room/%d" % room.id, headers=[ORIGIN, HOST, (b"cookie", cookie)]
        )
        assert (await communicator.connect(timeout=10))[0]
        return communicator

    logged_out, still_in = await open_with(browser), await open_with(other_browser)
    response = await sync(browser.post)("/accounts/logout/")
    assert response.status_code == 302
    assert await close_code(logged_out) == Code.NOT_LOGGED_IN
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="still here")
    (frame,) = await frames(still_in, 1)
    assert frame["kwargs"]["message"] == "still here"
    await still_in.disconnect()


async def test_deactivated_users_sockets_close(people, room):
    on_room, _, _ = await connect("/ws/room/%d" % room.id, people["member"])
    on_user, _, _ = await connect("/ws/user/%d" % people["member"].id, people["member"])
    await sync(User.objects.filter(pk=people["member"].pk).update)(is_active=False)
    assert await close_code(on_room) == Code.NOT_LOGGED_IN
    assert await close_code(on_user) == Code.NOT_LOGGED_IN


async def test_per_user_cap_refuses_the_newest_socket(people, room, settings):
    settings.REALTIME_MAX_SOCKETS_PER_USER = 3
    path = "/ws/room/%d" % room.id
    opened = [(await connect(path, people["member"]))[0] for _ in range(3)]
    refused, connected, _ = await connect(path, people["member"])
    assert connected
    assert await close_code(refused) == Code.TOO_MANY_SOCKETS
    # Another user is not affected, and closing one frees a place.
    other, _, _ = await connect(path, people["owner"])
    await opened.pop().disconnect()
    again, _, _ = await connect(path, people["member"])
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="x")
    for communicator in [*opened, again, other]:
        (frame,) = await frames(communicator, 1)
        assert frame["kwargs"]["message"] == "x"
        await communicator.disconnect()


# Fuzzing: hypothesis runs in a worker thread and drives each example on the test's event loop,
# where the listener and a bystander subscriber live for the whole run.


def _on_loop(loop: asyncio.AbstractEventLoop, coro: Any, timeout: float = 20) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


async def _outcome(path: str, query: bytes, headers: list[Any]) -> int | None:
    """The close code, or None if the socket stays open (nothing arrives within a moment)."""
    communicator = WebsocketCommunicator(application, "/", headers=headers)
    # Set on the scope as a server would, past the test client's own URL parsing.
    communicator.scope.update(path=path, raw_path=path.encode(), query_string=query)
    connected, code = await communicator.connect(timeout=10)
    if not connected:
        return code
    if await communicator.receive_nothing(timeout=0.3):
        await communicator.disconnect()
        return None
    message = await communicator.receive_output()
    assert message["type"] == "websocket.close", message
    return message.get("code", 1000)


async def _bystander_still_served(bystander: WebsocketCommunicator, room, people, text: str) -> None:
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message=text)
    (frame,) = await frames(bystander, 1)
    assert frame["kwargs"]["message"] == text


path_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"), max_size=60
)


async def test_fuzz_paths_query_strings_and_cursors(people, room):
    loop = asyncio.get_running_loop()
    cookie = (b"cookie", await sync(session_cookie)(people["member"]))
    bystander, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    signer = signing.Signer(salt="listener.cursor", sep="~")
    seen: set[int | None] = set()

    @FUZZ
    @hypothesis.given(
        path=st.one_of(
            st.just("/ws/room/%d" % room.id),
            st.builds(lambda s: "/ws/" + s, path_text),
            st.builds(lambda n: "/ws/room/%d" % n, st.integers(0, 10**18)),
            st.builds(lambda n: "/ws/user/%d" % n, st.integers(0, 10**18)),
            path_text.map(lambda s: "/" + s),
        ),
        query=st.one_of(
            st.binary(max_size=300),
            st.builds(lambda t: b"cursor=" + t.encode(), st.text(max_size=300)),
            st.builds(
                lambda b: b"cursor=" + signer.sign(b.hex()).encode(),
                st.binary(max_size=64),
            ),
            st.builds(lambda b: b"cursor=" + b, st.binary(max_size=2000)),
        ),
        logged_in=st.booleans(),
    )
    def example(path: str, query: bytes, logged_in: bool) -> None:
        headers = [ORIGIN, HOST, cookie] if logged_in else [ORIGIN, HOST]
        code = _on_loop(loop, _outcome(path, query, headers))
        seen.add(code)
        assert code is None or code in REFUSALS, (path, query, code)

    await asyncio.to_thread(example)
    assert {None, Code.NOT_FOUND, Code.NOT_LOGGED_IN} <= seen
    await _bystander_still_served(bystander, room, people, "after path fuzz")
    await bystander.disconnect()


async def test_fuzz_frames_from_pages_are_ignored(people, room):
    loop = asyncio.get_running_loop()
    bystander, _, _ = await connect("/ws/room/%d" % room.id, people["owner"])
    hostile, connected, _ = await connect("/ws/room/%d" % room.id, people["member"])
    assert connected

    async def send_all(messages: list[str | bytes]) -> None:
        for message in messages:
            key = "bytes" if isinstance(message, bytes) else "text"
            await hostile.send_input({"type": "websocket.receive", key: message})

    @FUZZ
    @hypothesis.given(
        st.lists(
            st.one_of(
                st.text(max_size=200),
                st.binary(max_size=200),
                st.builds(lambda n: "x" * n, st.integers(100_000, 1_000_000)),
                st.just('{"type": "websocket.disconnect", "code": 1000}'),
            ),
            min_size=1,
            max_size=20,
        )
    )
    def example(messages: list[str | bytes]) -> None:
        _on_loop(loop, send_all(messages))

    await asyncio.to_thread(example)
    # A flood: thousands of frames in a burst.
    await send_all(["flood %d" % i for i in range(5000)])
    await sync(models.ChatMessage.objects.create)(room=room, sender=people["owner"], message="survived")
    for communicator in (bystander, hostile):
        (frame,) = await frames(communicator, 1)
        assert frame["kwargs"]["message"] == "survived"
        await communicator.disconnect()


def _raw(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        try:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            conn.recv(65536)
        except OSError:
            pass


@FUZZ
@hypothesis.given(st.binary(max_size=2000))
def _garbage_over_tcp(port: int, data: bytes) -> None:
    _raw(port, data)


def test_real_server_survives_garbage_handshakes_and_huge_frames(people, room):
    """Raw bytes, broken upgrades and a huge frame at a real daphne; it keeps serving."""
    import websockets.sync.client as ws_client

    with servers.daphne(1) as (server,):
        _garbage_over_tcp(server.port)
        upgrade = (
            b"GET /ws/room/%d HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        for key in (b"", b"!!!", b"x" * 5000):
            _raw(server.port, upgrade % (room.id, key))
        _raw(server.port, b"GET /ws/" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        cookie = "sessionid=%s" % session_cookie(people["member"]).decode().split("=", 1)[1]
        headers = {"Origin": server.http, "Cookie": cookie}
        with (
            ws_client.connect(server.ws + "/ws/room/%d" % room.id, additional_headers=headers) as bystander,
            ws_client.connect(
                server.ws + "/ws/room/%d" % room.id, additional_headers=headers, max_size=None
            ) as hostile,
        ):
            try:
                hostile.send("y" * 4_000_000)
                hostile.send(bytes(1_000_000))
            except Exception:
                pass  # the server may close an oversized frame; it must not go down
            models.ChatMessage.objects.create(room=room, sender=people["owner"], message="still serving")
            frame = bystander.recv(timeout=10)
            while '"did_alter_presence"' in frame:  # the two sockets' own presence
                frame = bystander.recv(timeout=10)
            assert '"still serving"' in frame
        with urllib.request.urlopen(server.http + "/health", timeout=5) as response:
            assert response.status == 200
        assert server.process.poll() is None


# HTTP forms: CSRF enforced, lengths enforced, HTML escaped, whatever the input.

FORM_POSTS = [
    "/rooms/",
    "/rooms/join/",
    "/rooms/{room}/messages/",
    "/rooms/{room}/requests/1/admit/",
    "/accounts/logout/",
    "/accounts/signup/",
]


@pytest.mark.parametrize("path", FORM_POSTS)
def test_form_posts_without_csrf_token_are_refused(people, room, path):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["owner"])
    response = client.post(path.format(room=room.id), {"message": "hi", "title": "x", "code": "y"})
    assert response.status_code == 403
    assert not models.ChatMessage.objects.exists()


@FUZZ
@hypothesis.given(text=st.text(max_size=400))
def _post_any_message(client: Client, room_id: int, text: str) -> None:
    before = models.ChatMessage.objects.count()
    response = client.post("/rooms/%d/messages/" % room_id, {"message": text}, HTTP_ACCEPT="application/json")
    assert response.status_code in {201, 400}, (text, response.status_code)
    stored = list(models.ChatMessage.objects.order_by("-id")[:1])
    if response.status_code == 201:
        assert stored[0].message == text.strip() and 1 <= len(stored[0].message) <= 200
    else:
        assert models.ChatMessage.objects.count() == before


def test_fuzz_message_form_enforces_lengths_and_escapes_html(people, room, settings):
    settings.CHAT_THROTTLE_POSTS = 10_000  # a fuzz run posts faster than the default posting limit
    client = Client()
    client.force_login(people["member"])
    _post_any_message(client, room.id)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    assert client.post("/rooms/%d/messages/" % room.id, {"message": evil}).status_code == 302
    page = client.get("/rooms/%d/" % room.id).content.decode()
    assert evil not in page
    assert "&lt;script&gt;alert(" in page
