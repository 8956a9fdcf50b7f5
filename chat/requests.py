"""The request a logged-in view sees, typed as such."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest


class LoggedInRequest(HttpRequest):
    """A request behind ``login_required``: its user is a saved ``User``, never anonymous."""

    user: User
