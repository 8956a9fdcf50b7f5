"""Which pages may open a socket: Django's CSRF origin rule, applied to the WebSocket handshake.

Browsers send cookies with a cross-site WebSocket handshake and do not apply the same-origin
policy to it, so the server must: a page on ``http://localhost:3000`` must not read a user's
rooms through ``ws://localhost:8002``. As Django's ``CsrfViewMiddleware`` does for unsafe
requests, the ``Origin`` must equal the request's own scheme, host and port (the handshake's
``Host``, which must itself be in ``ALLOWED_HOSTS``), or match ``CSRF_TRUSTED_ORIGINS`` with its
``https://*.example.com`` subdomain wildcards.
"""

from __future__ import annotations

import collections.abc
import functools
import urllib.parse
from typing import Any

from django.conf import settings
from django.http import request as django_request
from django.utils import http

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def allowed(scope: collections.abc.Mapping[str, Any]) -> bool:
    """May the handshake of ``scope`` open a socket?

    A handshake without ``Origin`` is allowed: browsers always send one on WebSocket
    handshakes, so its absence means a non-browser client (a script, a monitor), which can
    claim any ``Origin`` anyway; such a client still needs a valid session cookie.
    """
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    own = _own_origin(scope)
    if own is not None and _normalized(origin) == own:
        return True
    return _trusted(origin)


def _own_origin(scope: collections.abc.Mapping[str, Any]) -> str | None:
    """``scheme://host[:port]`` of the handshake itself, or None if its host is not allowed."""
    host = _header(scope, b"host")
    if host is None:
        server = scope.get("server")
        if not server or server[0] is None:
            return None
        host = "%s:%s" % tuple(server) if server[1] else str(server[0])
    domain, _port = django_request.split_domain_port(host)
    if not domain or not django_request.validate_host(domain, _allowed_hosts()):
        return None
    return _normalized("%s://%s" % ("https" if _secure(scope) else "http", host))


def _secure(scope: collections.abc.Mapping[str, Any]) -> bool:
    """As ``HttpRequest.is_secure``: ``SECURE_PROXY_SSL_HEADER`` when set and present, else the scheme."""
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        # "HTTP_X_FORWARDED_PROTO" names the header X-Forwarded-Proto.
        key = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        value = _header(scope, key)
        if value is not None:
            return bool(value.split(",", 1)[0].strip() == secure_value)
    return scope.get("scheme") in {"wss", "https"}


def _allowed_hosts() -> list[str]:
    # Django's own fallback while DEBUG is on and ALLOWED_HOSTS is empty.
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


@functools.lru_cache(maxsize=256)
def _normalized(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case, without a default port; None if unparsable.

    Kept for the few origins a site's pages come from: every handshake normalizes its own
    ``Origin`` and ``Host``, and parsing a URL costs more than the rest of the check.
    """
    try:
        parts = urllib.parse.urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = "[%s]" % host  # an IPv6 literal
    if port is not None and str(port) != _DEFAULT_PORTS[scheme]:
        host = "%s:%d" % (host, port)
    return "%s://%s" % (scheme, host)


def _trusted(origin: str) -> bool:
    """``CSRF_TRUSTED_ORIGINS``: exact entries, or ``scheme://*.domain[:port]`` for subdomains."""
    wanted = _normalized(origin)
    if wanted is None:
        return False
    scheme, netloc = wanted.split("://", 1)
    for entry in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        if "*" not in entry:
            if _normalized(entry) == wanted:
                return True
            continue
        trusted_scheme, _, trusted_netloc = entry.lower().partition("://")
        if trusted_scheme == scheme and http.is_same_domain(netloc, trusted_netloc.lstrip("*")):
            return True
    return False


def _header(scope: collections.abc.Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if bytes(key).lower() == name:
            return bytes(value).decode("latin-1")
    return None
