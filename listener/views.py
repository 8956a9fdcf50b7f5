"""Operations endpoints of one server process: ``/health`` (JSON) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import collections.abc
import functools
import ipaddress
from typing import Any

import prometheus_client
from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from listener import service


def _operators_only(
    view: collections.abc.Callable[[HttpRequest], collections.abc.Awaitable[HttpResponse]],
) -> collections.abc.Callable[[HttpRequest], collections.abc.Awaitable[HttpResponse]]:
    """Loopback clients (probes on the host) and staff users; everyone else gets 403."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest) -> HttpResponse:
        if not _is_loopback(request.META.get("REMOTE_ADDR", "")):
            user = await sync_to_async(lambda: request.user)()
            if not (user.is_authenticated and user.is_staff):
                return JsonResponse({"error": "operators only"}, status=403)
        return await view(request)

    return wrapper


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@_operators_only
async def health(request: HttpRequest) -> HttpResponse:
    running = service.ensure_started()
    layer = service.channel_layer()
    body: dict[str, Any] = {
        "listener": {
            "connected": running.connected,
            "last_wakeup": running.last_wakeup,
            "reconnects": running.reconnects,
            "events_read": running.events_read,
        },
        "sockets": layer.sockets_by_topic_kind(),
    }
    return JsonResponse(body, status=200 if running.connected else 503)


@_operators_only
async def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        prometheus_client.generate_latest(), content_type=prometheus_client.CONTENT_TYPE_LATEST
    )
