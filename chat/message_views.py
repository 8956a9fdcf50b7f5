"""The room page's own-message endpoints: edit, delete, and older history.

Who may do what mirrors the room page, not the admin's model permissions: a message's sender
edits and deletes it, the room's owner deletes any message in the room, and only the owner and
members reach any of it (staff keep the admin for everything else). A write only changes the
row: every page, the author's included, shows the change when its ``chat_message_updated`` or
``chat_message_deleted`` frame arrives, so all tabs agree whatever wrote the change.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from chat import forms, history, models


class Refused(Exception):
    """The request cannot be done; carries the HTTP status and the sentence the page shows."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _answer(request: HttpRequest, room_id: int, status: int, text: str, **extra: object) -> HttpResponse:
    """JSON for fetch() callers; for a plain form post, a flash message on the room page."""
    if _wants_json(request):
        return JsonResponse({"ok": status < 400, "message": text, **extra}, status=status)
    if status == 403:
        raise PermissionDenied(text)
    if status == 404:
        raise Http404(text)
    (flash.success if status < 400 else flash.error)(request, text)
    return redirect(reverse("room", args=[room_id]))


def _room(user_id: int | None, room_id: int) -> models.ChatRoom:
    """The room, when the user may read it (its owner or a member), as on the room page."""
    room = models.ChatRoom.objects.filter(pk=room_id).first()
    if room is None:
        raise Refused(404, "This room no longer exists.")
    if room.owner_id != user_id and not room.member_set.filter(pk=user_id).exists():
        raise Refused(403, "You are not a member of this room.")
    return room


def _message(room: models.ChatRoom, message_id: int) -> models.ChatMessage:
    message = models.ChatMessage.objects.filter(pk=message_id, room=room).first()
    if message is None:
        raise Refused(404, "That message no longer exists.")
    return message


def _new_text(request: HttpRequest) -> str:
    form = forms.MessageForm(request.POST)
    if form.is_valid():
        text: str = form.cleaned_data["message"]
        return text
    # From the form's own errors: re-cleaning the raw text raised on a NUL character (a 500).
    raise Refused(400, forms.problem(form, {"message": "A message"}))


@login_required
@require_POST
def edit_message(request: HttpRequest, room_id: int, message_id: int) -> HttpResponse:
    user_id = request.user.id
    try:
        room = _room(user_id, room_id)
        message = _message(room, message_id)
        if message.sender_id != user_id:
            raise Refused(403, "You can only edit your own messages.")
        text = _new_text(request)
        if text == message.message:
            return _answer(request, room_id, 200, "Nothing changed.", changed=False)
        # The sender in the filter too: a row that changed hands or vanished meanwhile is left alone.
        updated = models.ChatMessage.objects.filter(pk=message.id, room=room, sender_id=user_id).update(
            message=text
        )
        if not updated:
            raise Refused(404, "That message no longer exists.")
    except Refused as refused:
        return _answer(request, room_id, refused.status, refused.text)
    return _answer(request, room_id, 200, "Saved.", changed=True)


@login_required
@require_POST
def delete_message(request: HttpRequest, room_id: int, message_id: int) -> HttpResponse:
    user_id = request.user.id
    try:
        room = _room(user_id, room_id)
        message = _message(room, message_id)
        if message.sender_id != user_id and room.owner_id != user_id:
            raise Refused(403, "You can only delete your own messages.")
        deleted, _ = models.ChatMessage.objects.filter(pk=message.id, room=room).delete()
        if not deleted:
            raise Refused(404, "That message was already deleted.")
    except Refused as refused:
        return _answer(request, room_id, refused.status, refused.text)
    return _answer(request, room_id, 200, "Deleted.")


@login_required
@require_GET
def older_messages(request: HttpRequest, room_id: int) -> HttpResponse:
    """One page of history strictly before ``?before=``, oldest first, and the next page's keyset.

    Reads the current rows, not the page's snapshot: a change after the page's cursor reaches the
    page as a frame as well, and the page lets the frames win.
    """
    try:
        room = _room(request.user.id, room_id)
        token = request.GET.get("before", "")
        before = history.Keyset.decode(token) if token else None
    except Refused as refused:
        return JsonResponse({"ok": False, "message": refused.text}, status=refused.status)
    except history.BadKeyset as exc:
        return JsonResponse({"ok": False, "message": str(exc)}, status=400)
    found = history.page(room, before)
    return JsonResponse(
        {
            "ok": True,
            "messages": [history.as_json(m) for m in found.messages],
            "before": found.before.encode() if found.before else None,
        }
    )
