"""Throttles that mean it: logins keyed as Django's auth compares usernames, per (username,
address) and per address; posting per user and room; sign-up per address; ``make serve`` not
taking a client address from ``X-Forwarded-For``. Django's test client against the real
database, and a real uvicorn process run with ``make serve``'s own command line.
"""

from __future__ import annotations

import concurrent.futures
import http.cookiejar
import shlex
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from chat import models
from tests import servers

pytestmark = pytest.mark.django_db(transaction=True)

ATTACKER, OWNER_HOME = "203.0.113.66", "198.51.100.20"
FULL_WIDTH_OLIVIA = "ｏｌｉｖｉａ"  # NFKC: "olivia"  # noqa: RUF001


def log_in(client: Client, username: str, password: str, address: str) -> tuple[int, str, str]:
    response = client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )
    return response.status_code, response.headers.get("Retry-After", ""), response.content.decode()


def _fail(username: str, address: str, times: int) -> None:
    for _ in range(times):
        status, _, page = log_in(Client(), username, "wrong", address)
        assert status == 200 and "didn't match" in page


def test_a_stranger_locks_out_only_their_own_address(people: dict[str, User]) -> None:
    _fail("olivia", ATTACKER, 10)
    status, retry_after, page = log_in(Client(), "olivia", "pw", ATTACKER)
    assert status == 429 and 0 < int(retry_after) <= 900
    assert "Too many failed logins. Try again in 15 minutes." in page
    # The owner, from her own address, logs in with the right password ...
    owner = Client()
    assert log_in(owner, "olivia", "pw", OWNER_HOME)[0] == 302
    assert owner.get("/", REMOTE_ADDR=OWNER_HOME).status_code == 200
    # ... while the attacker's address stays locked, in any spelling of the name.
    for spelling in ("olivia", "OLIVIA", FULL_WIDTH_OLIVIA, " Olivia "):
        assert log_in(Client(), spelling, "pw", ATTACKER)[0] == 429, spelling


def test_spellings_of_one_username_share_one_count(people: dict[str, User]) -> None:
    # The full-width form logs in as olivia (Django's form NFKC-normalizes it) ...
    assert log_in(Client(), FULL_WIDTH_OLIVIA, "pw", ATTACKER)[0] == 302
    # ... so its failures count with olivia's, and with other cases, not under a fresh key.
    _fail("olivia", ATTACKER, 4)
    _fail(FULL_WIDTH_OLIVIA, ATTACKER, 3)
    _fail("OLIVIA", ATTACKER, 3)
    assert log_in(Client(), FULL_WIDTH_OLIVIA, "pw", ATTACKER)[0] == 429
    assert log_in(Client(), "olivia", "pw", ATTACKER)[0] == 429


def test_one_address_spraying_usernames_is_refused(people: dict[str, User]) -> None:
    for n in range(30):
        assert log_in(Client(), "nobody%d" % n, "wrong", ATTACKER)[0] == 200
    status, retry_after, _ = log_in(Client(), "mo", "pw", ATTACKER)
    assert status == 429 and int(retry_after) > 0
    assert log_in(Client(), "mo", "pw", OWNER_HOME)[0] == 302


def test_concurrent_guesses_count_every_one(people: dict[str, User]) -> None:
    def guess(_: int) -> int:
        try:
            return log_in(Client(), "olivia", "wrong", ATTACKER)[0]
        finally:
            connection.close()

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(guess, range(24)))
    assert sorted(statuses) == [200] * 10 + [429] * 14


def _member(people: dict[str, User], who: str = "member") -> Client:
    client = Client()
    client.force_login(people[who])
    return client


JSON = {"Accept": "application/json"}


def test_posting_is_limited_per_user_and_room(people: dict[str, User], room: models.ChatRoom) -> None:
    member, url = _member(people), "/rooms/%d/messages/" % room.id
    for n in range(20):
        assert member.post(url, {"message": "flood %d" % n}, headers=JSON).status_code == 201
    refused = member.post(url, {"message": "one more"}, headers=JSON)
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 10
    body = refused.json()
    assert body == {
        "ok": False,
        "message": "Too many messages. Try again in %d seconds." % wait,
        "retry_after": wait,
    }
    # A plain form post gets a page that says so.
    page = member.post(url, {"message": "one more"})
    assert page.status_code == 429 and b'id="throttled">Too many messages. Try again in' in page.content
    assert models.ChatMessage.objects.filter(room=room, sender=people["member"]).count() == 20
    # Another sender in the room, and the same sender in another room, still post.
    assert _member(people, "owner").post(url, {"message": "hi"}, headers=JSON).status_code == 201
    other = models.ChatRoom.objects.create(owner=people["member"], title="Other")
    assert member.post("/rooms/%d/messages/" % other.id, {"message": "hi"}, headers=JSON).status_code == 201


def test_the_posting_limit_is_a_setting(
    people: dict[str, User], room: models.ChatRoom, settings: object
) -> None:
    settings.CHAT_THROTTLE_POSTS = 2  # type: ignore[attr-defined]
    settings.CHAT_THROTTLE_POST_WINDOW = 60  # type: ignore[attr-defined]
    member, url = _member(people), "/rooms/%d/messages/" % room.id
    assert [member.post(url, {"message": "m"}, headers=JSON).status_code for _ in range(3)] == [201, 201, 429]
    assert 10 < int(member.post(url, {"message": "m"}, headers=JSON).headers["Retry-After"]) <= 60


def _sign_up(address: str, username: str) -> tuple[int, str, str]:
    form = {"username": username, "password1": "a long passphrase 1", "password2": "a long passphrase 1"}
    response = Client().post("/accounts/signup/", form, REMOTE_ADDR=address)
    return response.status_code, response.headers.get("Retry-After", ""), response.content.decode()


def test_sign_up_is_limited_per_address(transactional_db: None) -> None:
    for n in range(5):
        assert _sign_up(ATTACKER, "bot%d" % n)[0] == 302
    status, retry_after, page = _sign_up(ATTACKER, "bot5")
    assert status == 429 and 3500 < int(retry_after) <= 3600
    assert 'id="throttled">Too many new accounts from your address. Try again in 60 minutes.' in page
    assert not User.objects.filter(username="bot5").exists()
    assert _sign_up(OWNER_HOME, "bot5")[0] == 302
    # An invalid form is not an account: it does not use up the address's quota.
    assert _sign_up(OWNER_HOME, "bot5")[0] == 400
    for n in range(4):
        assert _sign_up(OWNER_HOME, "real%d" % n)[0] == 302


MAKE_SERVE_LOGINS = 10


def _serve_command() -> list[str]:
    """The uvicorn command ``make serve`` runs, on a free-port placeholder, one worker."""
    printed = subprocess.run(
        ["make", "-n", "serve", "WORKERS=1"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    line = next(line for line in printed.splitlines() if " -m uvicorn " in line)
    args = shlex.split(line)[1:]  # without the virtualenv's python
    return [
        ("{port}" if before == "--port" else arg) for before, arg in zip(["", *args[:-1]], args, strict=True)
    ]


def test_make_serve_ignores_x_forwarded_for(people: dict[str, User]) -> None:
    command = _serve_command()
    assert "--forwarded-allow-ips" in command
    with servers.daphne(1, command=command) as (server,):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(server.http + "/accounts/login/", timeout=15).close()
        token = next(c.value for c in jar if c.name == "csrftoken")

        def attempt(password: str, claimed: str) -> int:
            form = urllib.parse.urlencode({"username": "olivia", "password": password}).encode()
            headers = {"X-Forwarded-For": claimed, "X-CSRFToken": token}
            request = urllib.request.Request(server.http + "/accounts/login/", data=form, headers=headers)
            try:
                with opener.open(request, timeout=15) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        # Each request claims a new address; all come from loopback and count there.
        assert [attempt("wrong", "192.0.2.%d" % n) for n in range(MAKE_SERVE_LOGINS)] == [200] * 10
        assert attempt("pw", "192.0.2.200") == 429
