"""Operations endpoints of one server process: ``/health`` (JSON) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import collections.abc
import functools
import ipaddress
import os
import time
from typing import Any

import prometheus_client
from django.http import HttpRequest, HttpResponse, JsonResponse

from listener import metrics as metrics_module
from listener.layer import channel_layer, process
from listener.log import waker


def _operators_only(
    view: collections.abc.Callable[[HttpRequest], collections.abc.Coroutine[Any, Any, HttpResponse]],
) -> collections.abc.Callable[[HttpRequest], collections.abc.Coroutine[Any, Any, HttpResponse]]:
    """Loopback probes (on the host, straight to this process) and staff users; others get 403."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest) -> HttpResponse:
        if not _is_loopback_probe(request):
            user = await request.auser()
            if not (user.is_authenticated and user.is_staff):
                return JsonResponse({"error": "operators only"}, status=403)
        return await view(request)

    return wrapper


# Headers a proxy adds; a probe on the host talking to this process directly sends none of them.
_FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _is_loopback_probe(request: HttpRequest) -> bool:
    """A client on this host that reached this process without a proxy.

    Behind ``--proxy-headers`` the client address comes from ``X-Forwarded-For``, whose first
    entry the client itself chose (``127.0.0.1, 203.0.113.9`` passes for loopback), and a proxy
    on the same host connects from loopback for everyone. So a request carrying any forwarding
    header is never a loopback probe, whatever address it claims; operators behind the proxy log
    in as staff.
    """
    if any(name in request.META for name in _FORWARDING_HEADERS):
        return False
    return _is_loopback(request.META.get("REMOTE_ADDR", ""))


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@_operators_only
async def health(request: HttpRequest) -> HttpResponse:
    """This process: its listener, its sockets; 200 while the listener is connected, else 503."""
    running = await process.settled()
    sockets = channel_layer.default().sockets_by_topic_kind()
    body: dict[str, Any] = {
        "pid": os.getpid(),
        "listener": {
            "connected": running.connected,
            "last_wakeup": running.last_wakeup,
            "seconds_since_wakeup": None
            if running.last_wakeup is None
            else time.time() - running.last_wakeup,
            "last_lag_seconds": running.last_lag,
            "reconnects": running.reconnects,
            "events_read": running.events_read,
        },
        "sockets": {"open": sum(sockets.values()), "by_topic_kind": sockets},
        "backlog_high_water": metrics_module.backlog_high_water(),
    }
    elected = waker.current()
    if elected is not None:
        # "leading" in exactly one process per database; "standby" in the others.
        body["waker"] = {
            "state": elected.state.value,
            "elections": elected.elections,
            "wakeups": elected.wakeups,
        }
    return JsonResponse(body, status=200 if running.connected else 503)


@_operators_only
async def metrics(request: HttpRequest) -> HttpResponse:
    running = process.ensure_started()
    metrics_module.LISTENER_CONNECTED.set(1 if running.connected else 0)
    sockets = channel_layer.default().sockets_by_topic_kind()
    for kind in {*sockets, "room", "user"}:
        metrics_module.SOCKETS_OPEN.labels(kind).set(sockets.get(kind, 0))
    return HttpResponse(
        prometheus_client.generate_latest(), content_type=prometheus_client.CONTENT_TYPE_LATEST
    )
