"""Every form and endpoint that takes text answers invalid input (a NUL character, which Postgres
text cannot hold; text over its limit) with 400 and a sentence saying why, never a 500.

Django's test client re-raises a view's exception, so a 500 fails these tests loudly.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat import models
from chat.throttle import models as throttle_models

pytestmark = pytest.mark.django_db(transaction=True)

JSON = {"Accept": "application/json"}
NUL = "bad\x00text"


def _as(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_posting_and_editing_messages(people: dict[str, User], room: models.ChatRoom) -> None:
    member = _as(people["member"])
    url = "/rooms/%d/messages/" % room.id
    cases = {
        NUL: "A message cannot contain a NUL character.",
        "x" * 201: "A message is at most 200 characters; this one has 201.",
        "   ": "A message cannot be empty.",
    }
    for text, why in cases.items():
        response = member.post(url, {"message": text}, headers=JSON)
        assert (response.status_code, response.json()["message"]) == (400, why)
    mine = models.ChatMessage.objects.create(room=room, sender=people["member"], message="hello")
    for text, why in cases.items():
        response = member.post("%s%d/edit/" % (url, mine.id), {"message": text}, headers=JSON)
        assert (response.status_code, response.json()["message"]) == (400, why)
    mine.refresh_from_db()
    assert mine.message == "hello"
    assert list(models.ChatMessage.objects.values_list("message", flat=True)) == ["hello"]


def test_room_titles_and_join_codes(people: dict[str, User], room: models.ChatRoom) -> None:
    outsider = _as(people["outsider"])
    for title, why in {
        NUL: "A room's title cannot contain a NUL character.",
        "t" * 51: "A room's title is at most 50 characters; this one has 51.",
    }.items():
        response = outsider.post("/rooms/", {"title": title}, headers=JSON)
        assert (response.status_code, response.json()["message"]) == (400, why)
    # A plain form post: a flash message saying why, on the page it returns to.
    page = outsider.post("/rooms/", {"title": NUL}, follow=True)
    assert b"A room&#x27;s title cannot contain a NUL character." in page.content
    for code, why in {
        NUL: "A join code cannot contain a NUL character.",
        "c" * 33: "A join code is at most 32 characters; this one has 33.",
    }.items():
        response = outsider.post("/rooms/join/", {"code": code}, headers=JSON)
        assert (response.status_code, response.json()["message"]) == (400, why)
    assert models.ChatRoom.objects.count() == 1
    assert not models.ChatRoomJoinRequest.objects.exists()


def test_sign_up(transactional_db: None) -> None:
    good = "a long passphrase 1"
    for form, why in [
        (
            {"username": NUL, "password1": good, "password2": good},
            "A username cannot contain a NUL character.",
        ),
        (
            {"username": "newbie", "password1": NUL, "password2": NUL},
            "A password cannot contain a NUL character.",
        ),
        (
            {"username": "n" * 151, "password1": good, "password2": good},
            "A username is at most 150 characters",
        ),
    ]:
        response = Client().post("/accounts/signup/", form)
        assert response.status_code == 400
        assert 'id="invalid">%s' % why in response.content.decode()
    assert not User.objects.exists()


def test_log_in(people: dict[str, User]) -> None:
    for form, why in [
        ({"username": NUL, "password": "pw"}, "A username cannot contain a NUL character."),
        ({"username": "olivia", "password": NUL}, "A password cannot contain a NUL character."),
        (
            {"username": "o" * 151, "password": "pw"},
            "A username is at most 150 characters; this one has 151.",
        ),
    ]:
        response = Client().post("/accounts/login/", form)
        assert response.status_code == 400
        assert 'id="invalid">%s<' % why in response.content.decode()
        assert "_auth_user_id" not in response.client.session
    # Not a guess at a password: nothing was counted.
    assert not throttle_models.Attempt.objects.exists()
