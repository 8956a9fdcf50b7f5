"""The chat's pages and the POST endpoints they call."""

from __future__ import annotations

from django.urls import path

from chat import message_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.signup, name="signup"),
    path("rooms/", views.create_room, name="create_room"),
    path("rooms/join/", views.join_by_code, name="join_by_code"),
    path("rooms/<int:room_id>/", views.room, name="room"),
    path("rooms/<int:room_id>/messages/", views.post_message, name="post_message"),
    path("rooms/<int:room_id>/messages/older/", message_views.older_messages, name="older_messages"),
    path(
        "rooms/<int:room_id>/messages/<int:message_id>/edit/",
        message_views.edit_message,
        name="edit_message",
    ),
    path(
        "rooms/<int:room_id>/messages/<int:message_id>/delete/",
        message_views.delete_message,
        name="delete_message",
    ),
    path(
        "rooms/<int:room_id>/requests/<int:request_id>/<str:decision>/",
        views.decide_request,
        name="decide_request",
    ),
]
