"""The chat's pages (home, room, sign-up) and the POST endpoints they call.

Pages read their data and their cursor in one snapshot (``listener.consistent_read``), so
the socket they open replays exactly what happened after the render. Writes return JSON to
``fetch()`` callers and redirect otherwise; the page learns the outcome from the event stream,
like every other page, so nothing is shown twice.
"""

from __future__ import annotations

from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

import listener
from chat import forms, history, models, requests, topics
from chat.throttle import limits


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _done(request: HttpRequest, status: int, text: str, to: str, **extra: object) -> HttpResponse:
    """JSON for fetch() callers, a flash message and a redirect for plain form posts."""
    if _wants_json(request):
        return JsonResponse({"ok": status < 400, "message": text, **extra}, status=status)
    (messages.success if status < 400 else messages.error)(request, text)
    return redirect(to)


def _room_for_member(user_id: int, room_id: int) -> models.ChatRoom:
    room = get_object_or_404(models.ChatRoom.objects.select_related("owner"), pk=room_id)
    if room.owner_id != user_id and not room.member_set.filter(pk=user_id).exists():
        raise PermissionDenied("You are not a member of this room.")
    return room


@login_required
@require_http_methods(["GET"])
def home(request: requests.LoggedInRequest) -> HttpResponse:
    user = request.user
    with listener.consistent_read() as cursor:
        owned = list(models.ChatRoom.objects.filter(owner=user).order_by("title", "id"))
        joined = list(
            models.ChatRoom.objects.filter(member_set=user).exclude(owner=user).order_by("title", "id")
        )
        join_requests = list(
            models.ChatRoomJoinRequest.objects.filter(user=user).select_related("room").order_by("-created")
        )
    return render(
        request,
        "chat/home.html",
        {
            "cursor": cursor,
            # The live region follows the user's topic through its socket route.
            "socket": "/ws/user/%s" % user.id,
            "owned": owned,
            "joined": joined,
            "join_requests": join_requests,
            "room_form": forms.RoomForm(),
            "join_form": forms.JoinCodeForm(),
        },
    )


@login_required
@require_POST
def create_room(request: requests.LoggedInRequest) -> HttpResponse:
    form = forms.RoomForm(request.POST)
    if not form.is_valid():
        return _done(request, 400, forms.problem(form, {"title": "A room's title"}), reverse("home"))
    room = form.save(commit=False)
    room.owner = request.user
    room.save()
    return _done(
        request,
        201,
        "Created %s. Share its join code: %s" % (room.title, room.join_code),
        reverse("room", args=[room.id]),
        room={"id": str(room.id), "title": room.title, "join_code": room.join_code},
    )


def _too_many(request: HttpRequest, text: str, wait: int) -> HttpResponse:
    """429 with Retry-After: JSON for fetch() callers, a page saying when to retry otherwise."""
    if _wants_json(request):
        response: HttpResponse = JsonResponse({"ok": False, "message": text, "retry_after": wait})
    else:
        response = render(request, "chat/throttled.html", {"message": text})
    return limits.refused(response, wait)


@login_required
@require_POST
def join_by_code(request: requests.LoggedInRequest) -> HttpResponse:
    form = forms.JoinCodeForm(request.POST)
    home_url = reverse("home")
    if not form.is_valid():
        return _done(request, 400, forms.problem(form, {"code": "A join code"}), home_url)
    user = request.user
    # Wrong codes count per user and per address: past the limit even the right code is refused.
    guesses = [
        limits.Limit("join:user:%s" % user.id, limits.setting("CHAT_THROTTLE_PER_USER")),
        limits.Limit(
            "join:addr:%s" % request.META.get("REMOTE_ADDR", ""), limits.setting("CHAT_THROTTLE_PER_ADDRESS")
        ),
    ]
    wait = limits.retry_after(guesses)
    if wait is not None:
        return _too_many(request, limits.message("wrong join codes", wait), wait)
    room = models.ChatRoom.objects.filter(join_code=form.cleaned_data["code"]).first()
    if room is None:
        limits.record(guesses)
        return _done(request, 404, "No room has that join code.", home_url)
    if room.owner_id == user.id:
        return _done(request, 409, "You own %s already." % room.title, home_url)
    if room.member_set.filter(pk=user.id).exists():
        return _done(request, 409, "You are already a member of %s." % room.title, home_url)
    # Each denial invites another request: a few per room and window, then the owner has peace.
    per_room = limits.setting("CHAT_THROTTLE_JOIN_REQUESTS_PER_ROOM")
    asks = [limits.Limit("join:room:%s:user:%s" % (room.id, user.id), per_room)]
    wait = limits.retry_after(asks)
    if wait is not None:
        return _too_many(request, limits.message("requests to join %s" % room.title, wait), wait)
    try:
        with transaction.atomic():
            join_request = models.ChatRoomJoinRequest.objects.create(user=user, room=room)
            limits.record(asks)
    except IntegrityError:
        # The partial unique index: one pending request per user and room.
        return _done(
            request,
            409,
            "You already asked to join %s; the owner has not decided yet." % room.title,
            home_url,
        )
    return _done(
        request,
        201,
        "Asked to join %s. The owner will decide." % room.title,
        home_url,
        id=str(join_request.id),
    )


@login_required
@require_http_methods(["GET"])
def room(request: requests.LoggedInRequest, room_id: int) -> HttpResponse:
    user = request.user
    with listener.consistent_read() as cursor:
        chat_room = _room_for_member(user.id, room_id)
        # The latest page and the cursor share one snapshot: older pages are fetched strictly
        # before its first message, later changes arrive as frames after the cursor.
        latest = history.page(chat_room)
        members = list(chat_room.member_set.order_by("username"))
        online = listener.online(topics.ROOM.name(chat_room.id))
        is_owner = chat_room.owner_id == user.id
        waiting = (
            list(
                models.ChatRoomJoinRequest.objects.filter(
                    room=chat_room, status=models.ChatRoomJoinRequest.Status.PENDING
                )
                .select_related("user")
                .order_by("created", "id")
            )
            if is_owner
            else []
        )
    return render(
        request,
        "chat/room.html",
        {
            "cursor": cursor,
            "room": chat_room,
            "chat_messages": latest.messages,
            "older": latest.before.encode() if latest.before else "",
            "members": members,
            "online": online,
            "is_owner": is_owner,
            "waiting": waiting,
            "message_form": forms.MessageForm(),
        },
    )


@login_required
@require_POST
def post_message(request: requests.LoggedInRequest, room_id: int) -> HttpResponse:
    chat_room = _room_for_member(request.user.id, room_id)
    room_url = reverse("room", args=[chat_room.id])
    form = forms.MessageForm(request.POST)
    if not form.is_valid():
        return _done(request, 400, forms.problem(form, {"message": "A message"}), room_url)
    # Per user and room: a flood in one room leaves the sender's other rooms, and other senders, alone.
    posts = limits.Limit(
        "post:room:%s:user:%s" % (chat_room.id, request.user.id),
        limits.setting("CHAT_THROTTLE_POSTS"),
        window=limits.setting("CHAT_THROTTLE_POST_WINDOW"),
    )
    wait = limits.take([posts]).wait
    if wait is not None:
        return _too_many(request, limits.message("messages", wait), wait)
    message = models.ChatMessage.objects.create(
        room=chat_room, sender=request.user, message=form.cleaned_data["message"]
    )
    return _done(request, 201, "Posted.", room_url, id=str(message.id))


@login_required
@require_POST
def decide_request(
    request: requests.LoggedInRequest, room_id: int, request_id: int, decision: str
) -> HttpResponse:
    if decision not in {"admit", "deny"}:
        raise Http404("Decide with admit or deny.")
    chat_room = get_object_or_404(models.ChatRoom, pk=room_id)
    if chat_room.owner_id != request.user.id:
        raise PermissionDenied("Only the room's owner decides join requests.")
    Status = models.ChatRoomJoinRequest.Status
    status = Status.ADMITTED if decision == "admit" else Status.DENIED
    room_url = reverse("room", args=[chat_room.id])
    # Only a pending request is decided, so two tabs (or the admin) deciding at once agree.
    decided = models.ChatRoomJoinRequest.objects.filter(
        Q(pk=request_id) & Q(room=chat_room) & Q(status=Status.PENDING)
    ).update(status=status, decided=timezone.now())
    if not decided:
        return _done(request, 409, "That request was already decided.", room_url)
    return _done(request, 200, "Request %s." % status.label.lower(), room_url)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = forms.SignUpForm(request.POST or None)
    if request.method != "POST":
        return render(request, "registration/signup.html", {"form": form})
    # Accounts per address: one host cannot mint an army of members (each posts its own quota).
    accounts = limits.Limit(
        "signup:addr:%s" % request.META.get("REMOTE_ADDR", ""),
        limits.setting("CHAT_THROTTLE_SIGNUPS"),
        window=limits.setting("CHAT_THROTTLE_SIGNUP_WINDOW"),
    )
    wait = limits.retry_after([accounts])
    if wait is None and form.is_valid():
        wait = limits.take([accounts]).wait
        if wait is None:
            user = form.save()
            auth.login(request, user)
            return redirect("home")
    if wait is not None:
        page = render(
            request,
            "registration/signup.html",
            {"form": form, "throttled": limits.message("new accounts from your address", wait)},
        )
        return limits.refused(page, wait)
    invalid = forms.problem(
        form, {"username": "A username", "password1": "A password", "password2": "The password confirmation"}
    )
    return render(request, "registration/signup.html", {"form": form, "invalid": invalid}, status=400)
