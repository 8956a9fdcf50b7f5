"""The pages' views and POST endpoints through Django's test client (the browser suite drives them live)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core import management
from django.test import Client

from chat import models

pytestmark = pytest.mark.django_db(transaction=True)

JSON = {"HTTP_ACCEPT": "application/json"}


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_need_login(room):
    for url in ("/", "/rooms/%d/" % room.id):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_home_lists_rooms_requests_and_cursor(people, room):
    models.ChatRoomJoinRequest.objects.create(user=people["member"], room=room)
    body = client_for(people["member"]).get("/").content.decode()
    assert 'data-cursor="' in body
    assert 'href="/rooms/%d/"' % room.id in body
    assert 'data-socket="/ws/user/%d"' % people["member"].id in body
    assert "pending" in body
    owner_body = client_for(people["owner"]).get("/").content.decode()
    assert room.join_code in owner_body


def test_room_page_for_members_only(people, room):
    models.ChatMessage.objects.create(room=room, sender=people["owner"], message="<b>hi</b>")
    models.ChatRoomJoinRequest.objects.create(user=people["outsider"], room=room)
    member = client_for(people["member"]).get("/rooms/%d/" % room.id)
    assert member.status_code == 200
    body = member.content.decode()
    assert 'data-cursor="' in body
    # The import map that lets chat/sockets.js import "listener/realtime.js" by name.
    assert '<script type="importmap">{"imports": {"listener/realtime.js": "/static/listener/' in body
    assert "&lt;b&gt;hi&lt;/b&gt;" in body
    assert 'id="waiting"' not in body
    owner_body = client_for(people["owner"]).get("/rooms/%d/" % room.id).content.decode()
    assert 'id="waiting"' in owner_body
    assert "otto" in owner_body
    assert client_for(people["outsider"]).get("/rooms/%d/" % room.id).status_code == 403
    assert client_for(people["outsider"]).get("/rooms/999999/").status_code == 404


def test_post_message_validates_and_answers_json(people, room):
    url = "/rooms/%d/messages/" % room.id
    member = client_for(people["member"])
    response = member.post(url, {"message": "  hello  "}, **JSON)
    assert response.status_code == 201
    assert models.ChatMessage.objects.get(pk=response.json()["id"]).message == "hello"
    assert member.post(url, {"message": "x" * 201}, **JSON).status_code == 400
    assert member.post(url, {"message": "   "}, **JSON).status_code == 400
    assert client_for(people["outsider"]).post(url, {"message": "let me in"}, **JSON).status_code == 403
    assert models.ChatMessage.objects.count() == 1


def test_post_needs_csrf_token(people, room):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["member"])
    response = client.post("/rooms/%d/messages/" % room.id, {"message": "no token"}, **JSON)
    assert response.status_code == 403
    assert not models.ChatMessage.objects.exists()


def test_join_by_code_says_why_not(people, room):
    url = "/rooms/join/"

    def join(user: User, code: str) -> tuple[int, str]:
        response = client_for(user).post(url, {"code": code}, **JSON)
        return response.status_code, response.json()["message"]

    assert join(people["outsider"], "no-such-code") == (404, "No room has that join code.")
    assert join(people["owner"], room.join_code)[0] == 409
    assert join(people["member"], room.join_code) == (409, "You are already a member of Lobby.")
    assert join(people["outsider"], room.join_code)[0] == 201
    status, text = join(people["outsider"], room.join_code)
    assert status == 409
    assert "already asked" in text
    assert models.ChatRoomJoinRequest.objects.filter(user=people["outsider"], status="pending").count() == 1


def test_join_by_code_form_post_redirects_with_message(people, room):
    response = client_for(people["outsider"]).post("/rooms/join/", {"code": room.join_code}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "Asked to join Lobby" in response.content.decode()


def test_owner_decides_once(people, room):
    join_request = models.ChatRoomJoinRequest.objects.create(user=people["outsider"], room=room)
    admit = "/rooms/%d/requests/%d/admit/" % (room.id, join_request.id)
    assert client_for(people["member"]).post(admit, **JSON).status_code == 403
    owner = client_for(people["owner"])
    assert owner.post(admit, **JSON).status_code == 200
    assert room.member_set.filter(pk=people["outsider"].pk).exists()
    join_request.refresh_from_db()
    assert join_request.status == "admitted"
    assert join_request.decided is not None
    deny = "/rooms/%d/requests/%d/deny/" % (room.id, join_request.id)
    assert owner.post(deny, **JSON).status_code == 409
    assert owner.post("/rooms/%d/requests/%d/maybe/" % (room.id, join_request.id)).status_code == 404


def test_create_room_shows_its_join_code(people):
    response = client_for(people["other"]).post("/rooms/", {"title": "Garden"}, follow=True)
    created = models.ChatRoom.objects.get(title="Garden")
    assert created.owner == people["other"]
    assert response.redirect_chain[-1][0] == "/rooms/%d/" % created.id
    assert created.join_code in response.content.decode()
    too_long = client_for(people["other"]).post("/rooms/", {"title": "x" * 51}, **JSON)
    assert too_long.status_code == 400


def test_sign_up_log_out_log_in(transactional_db):
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {"username": "newbie", "password1": "a long passphrase 42", "password2": "a long passphrase 42"},
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302
    assert client.login(username="newbie", password="a long passphrase 42")


def test_admin_lists_and_filters_all_three_models(people, room):
    staff = User.objects.create_superuser("sam", password="pw")
    models.ChatRoomJoinRequest.objects.create(user=people["outsider"], room=room)
    models.ChatMessage.objects.create(room=room, sender=people["owner"], message="hi")
    client = client_for(staff)
    for url in (
        "/admin/chat/chatroom/",
        "/admin/chat/chatmessage/?room__id__exact=%d" % room.id,
        "/admin/chat/chatroomjoinrequest/?status__exact=pending",
        "/admin/chat/chatroom/%d/change/" % room.id,
    ):
        assert client.get(url).status_code == 200, url


def test_admin_bulk_admit_grants_membership(people, room):
    staff = User.objects.create_superuser("sam", password="pw")
    join_request = models.ChatRoomJoinRequest.objects.create(user=people["outsider"], room=room)
    response = client_for(staff).post(
        "/admin/chat/chatroomjoinrequest/",
        {"action": "admit", "_selected_action": [join_request.id]},
    )
    assert response.status_code == 302
    assert room.member_set.filter(pk=people["outsider"].pk).exists()


def test_seed_demo_is_idempotent(transactional_db):
    out = io.StringIO()
    management.call_command("seed_demo", stdout=out)
    counts = [
        m.objects.count() for m in (User, models.ChatRoom, models.ChatMessage, models.ChatRoomJoinRequest)
    ]
    management.call_command("seed_demo", stdout=io.StringIO())
    again = [
        m.objects.count() for m in (User, models.ChatRoom, models.ChatMessage, models.ChatRoomJoinRequest)
    ]
    assert counts == again
    assert counts[3] == 1
    assert "alice" in out.getvalue()
    assert Client().login(username="alice", password="demo-password")
