"""Failed logins and join-code guesses are limited per user and per client address, on a real server.

Daphne runs with ``--proxy-headers`` so that each request can claim its client address in
``X-Forwarded-For``, as requests through a proxy do.
"""

from __future__ import annotations

import collections.abc
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.contrib.auth.models import User

from chat import models
from chat.throttle import models as throttle_models
from tests import servers

pytestmark = pytest.mark.django_db(transaction=True)

PROXY_DAPHNE = [*servers.DAPHNE[:-1], "--proxy-headers", servers.DAPHNE[-1]]
PER_USER, PER_ADDRESS = 10, 30  # the defaults


class Browser:
    """Cookies, a CSRF token and a client address, like one browser behind a proxy."""

    def __init__(self, base: str, address: str) -> None:
        self.base = base
        self.address = address
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(
        self, path: str, form: dict[str, str] | None = None, json_reply: bool = False
    ) -> tuple[int, dict[str, str], str]:
        headers = {"X-Forwarded-For": self.address}
        if json_reply:
            headers["Accept"] = "application/json"
        data = None
        if form is not None:
            headers["X-CSRFToken"] = self.cookie("csrftoken") or ""
            data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def log_in(self, username: str, password: str) -> tuple[int, dict[str, str], str]:
        if self.cookie("csrftoken") is None:
            self.request("/accounts/login/")
        return self.request("/accounts/login/", {"username": username, "password": password})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.fixture(scope="module")
def _daphne(django_db_setup: None) -> collections.abc.Iterator[servers.Server]:
    """One server for the module: limits count in the database, per address, and each test
    claims addresses of its own (tests/servers.py's ``reused``)."""
    with servers.daphne(1, command=PROXY_DAPHNE) as (started,):
        yield started


@pytest.fixture
def server(_daphne: servers.Server, transactional_db: None) -> servers.Server:
    return servers.reused(_daphne)


def _retry_after(headers: dict[str, str]) -> int:
    wait = int(headers["Retry-After"])
    assert 0 < wait <= 900
    return wait


def test_wrong_passwords_then_the_right_one_is_refused_per_user_and_address(
    server: servers.Server, people: dict[str, User]
) -> None:
    browser = Browser(server.http, "198.51.100.1")
    for _ in range(PER_USER):
        status, _, page = browser.log_in("olivia", "wrong")
        assert status == 200 and "didn't match" in page
    status, headers, page = browser.log_in("olivia", "pw")
    assert status == 429
    _retry_after(headers)
    assert re.search(r'id="throttled">Too many failed logins\. Try again in 15 minutes\.<', page)
    assert browser.cookie("sessionid") is None
    # The same account from another address is not: failures count per (username, address) ...
    elsewhere = Browser(server.http, "198.51.100.2")
    assert elsewhere.log_in("olivia", "pw")[0] == 302
    # ... while another user from the first address logs in.
    status, headers, _ = browser.log_in("mo", "pw")
    assert status == 302 and browser.cookie("sessionid") is not None


def test_one_address_guessing_many_accounts_is_refused(
    server: servers.Server, people: dict[str, User]
) -> None:
    browser = Browser(server.http, "198.51.100.3")
    for n in range(PER_ADDRESS):
        assert browser.log_in("nobody%d" % n, "wrong")[0] == 200
    assert browser.log_in("mo", "pw")[0] == 429
    other = Browser(server.http, "198.51.100.4")
    assert other.log_in("mo", "pw")[0] == 302


def _logged_in(server: servers.Server, address: str, username: str) -> Browser:
    browser = Browser(server.http, address)
    assert browser.log_in(username, "pw")[0] == 302
    browser.request("/")  # a fresh CSRF token for the new session
    return browser


def test_join_code_guesses_then_the_right_code_is_refused(
    server: servers.Server, people: dict[str, User], room: models.ChatRoom
) -> None:
    guesser = _logged_in(server, "198.51.100.5", "otto")
    for n in range(PER_USER):
        status, _, body = guesser.request("/rooms/join/", {"code": "guess%d" % n}, json_reply=True)
        assert status == 404, body
    status, headers, body = guesser.request("/rooms/join/", {"code": room.join_code}, json_reply=True)
    assert status == 429
    assert json.loads(body)["retry_after"] == _retry_after(headers)
    assert json.loads(body)["message"].startswith("Too many wrong join codes. Try again in")
    # A plain form post gets a page saying so.
    status, headers, page = guesser.request("/rooms/join/", {"code": room.join_code})
    assert status == 429 and 'id="throttled">Too many wrong join codes' in page
    assert not models.ChatRoomJoinRequest.objects.filter(user=people["outsider"]).exists()
    # Another user from the same address is not affected.
    other = _logged_in(server, "198.51.100.5", "oscar")
    assert other.request("/rooms/join/", {"code": room.join_code}, json_reply=True)[0] == 201


def test_request_deny_cycles_stop_after_a_few(
    server: servers.Server, people: dict[str, User], room: models.ChatRoom
) -> None:
    asker = _logged_in(server, "198.51.100.6", "otto")
    for _ in range(3):
        status, _, body = asker.request("/rooms/join/", {"code": room.join_code}, json_reply=True)
        assert status == 201, body
        models.ChatRoomJoinRequest.objects.filter(user=people["outsider"], status="pending").update(
            status="denied"
        )
    status, headers, body = asker.request("/rooms/join/", {"code": room.join_code}, json_reply=True)
    assert status == 429 and "requests to join Lobby" in json.loads(body)["message"]
    _retry_after(headers)
    assert models.ChatRoomJoinRequest.objects.filter(user=people["outsider"]).count() == 3


def test_attempts_older_than_the_window_are_deleted(server: servers.Server, people: dict[str, User]) -> None:
    old = throttle_models.Attempt.objects.create(
        key="login:user:gone", at="2000-01-01T00:00:00Z", until="2000-01-01T00:15:00Z"
    )
    browser = Browser(server.http, "198.51.100.7")
    assert browser.log_in("olivia", "wrong")[0] == 200
    assert not throttle_models.Attempt.objects.filter(pk=old.pk).exists()
    assert set(throttle_models.Attempt.objects.values_list("key", flat=True)) == {
        "login:user:olivia:addr:198.51.100.7",
        "login:addr:198.51.100.7",
    }
    assert User.objects.filter(username="olivia").exists()
