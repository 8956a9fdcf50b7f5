"""The Django admin for rooms, messages and join requests.

Every change made here (including bulk actions and the join request's status) publishes through
the row triggers, so open pages update live.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from chat import models


class MembershipInline(admin.TabularInline[models.ChatRoomMembership, models.ChatRoom]):
    """A room's members, edited on the room."""

    model = models.ChatRoomMembership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["joined"]


@admin.register(models.ChatRoom)
class ChatRoomAdmin(admin.ModelAdmin[models.ChatRoom]):
    """Rooms, with their members inline."""

    list_display = ["title", "owner", "join_code", "created"]
    list_filter = ["owner"]
    search_fields = ["title", "join_code", "owner__username"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created"]
    inlines = [MembershipInline]


@admin.register(models.ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin[models.ChatMessage]):
    """Messages, newest first."""

    list_display = ["message", "room", "sender", "posted"]
    list_filter = ["room"]
    search_fields = ["message", "sender__username"]
    autocomplete_fields = ["room", "sender"]
    readonly_fields = ["posted"]
    ordering = ["-posted", "-id"]


@admin.register(models.ChatRoomJoinRequest)
class ChatRoomJoinRequestAdmin(admin.ModelAdmin[models.ChatRoomJoinRequest]):
    """Join requests; changing the status to admitted makes the user a member (a database trigger)."""

    list_display = ["user", "room", "status", "created", "decided"]
    list_editable = ["status"]
    list_filter = ["status", "room"]
    search_fields = ["user__username", "room__title"]
    autocomplete_fields = ["user", "room"]
    readonly_fields = ["created"]
    actions = ["admit", "deny"]

    @admin.action(description="Admit the selected pending requests")
    def admit(self, request: HttpRequest, queryset: QuerySet[models.ChatRoomJoinRequest]) -> None:
        self._decide(request, queryset, models.ChatRoomJoinRequest.Status.ADMITTED)

    @admin.action(description="Deny the selected pending requests")
    def deny(self, request: HttpRequest, queryset: QuerySet[models.ChatRoomJoinRequest]) -> None:
        self._decide(request, queryset, models.ChatRoomJoinRequest.Status.DENIED)

    def _decide(
        self, request: HttpRequest, queryset: QuerySet[models.ChatRoomJoinRequest], status: str
    ) -> None:
        count = queryset.filter(status=models.ChatRoomJoinRequest.Status.PENDING).update(
            status=status, decided=timezone.now()
        )
        self.message_user(request, "%d request(s) %s." % (count, status))

    def save_model(
        self, request: HttpRequest, obj: models.ChatRoomJoinRequest, form: object, change: bool
    ) -> None:
        if obj.status != models.ChatRoomJoinRequest.Status.PENDING and obj.decided is None:
            obj.decided = timezone.now()
        super().save_model(request, obj, form, change)
