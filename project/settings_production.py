"""Production settings: ``DJANGO_SETTINGS_MODULE=project.settings_production``.

Everything secret or site-specific comes from the environment, and a missing value stops the
process at start-up instead of running with a development default. See docs/DEPLOYING.md.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured("%s must be set in the environment for production" % name)
    return value


# Checked before the base settings load: without it they would start the embedded
# development server.
_required("DATABASE_URL")

from project.settings import *  # noqa: E402, F403

DEBUG = False
SECRET_KEY = _required("DJANGO_SECRET_KEY")
if SECRET_KEY.startswith("dev-only") or len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a long random value, not the development key")
# Also the WebSocket Origin check: pages are served from, and connect back to, these hosts.
ALLOWED_HOSTS = [h.strip() for h in _required("DJANGO_ALLOWED_HOSTS").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [
    o.strip()
    for o in os.environ.get(
        "DJANGO_CSRF_TRUSTED_ORIGINS", ",".join("https://%s" % h.lstrip(".") for h in ALLOWED_HOSTS)
    ).split(",")
    if o.strip()
]

# HTTPS terminates at the reverse proxy, which says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SECURE_SSL_REDIRECT", "1") == "1"
# Probes on the host speak plain HTTP to each process directly (listener/views.py).
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("DJANGO_HSTS_INCLUDE_SUBDOMAINS", "0") == "1"
SECURE_HSTS_PRELOAD = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# Static files: `manage.py collectstatic` at build time, served by WhiteNoise (already in
# MIDDLEWARE) with compressed, content-hashed names and far-future cache headers.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = False

# Connections come from the pool set up in project.settings (DJANGO_DB_POOL_MAX_SIZE), checked
# before reuse (a restarted Postgres is noticed).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
# Subdomains and the browser preload list commit more than this site: the operator decides.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
