"""Django's login view, refusing a username or a client address after too many failures."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from chat.throttle import limits


def _limits(request: HttpRequest) -> list[limits.Limit]:
    # Per username, existing or not: guessing one account's password is limited wherever it
    # comes from, and one address cannot spray many accounts.
    username = str(request.POST.get("username", ""))[:150].strip().lower()
    return [
        limits.Limit("login:user:%s" % username, limits.setting("CHAT_THROTTLE_PER_USER")),
        limits.Limit(
            "login:addr:%s" % request.META.get("REMOTE_ADDR", ""), limits.setting("CHAT_THROTTLE_PER_ADDRESS")
        ),
    ]


class LoginView(auth_views.LoginView):
    """Django's ``LoginView``; over the limit, even the right password is refused with 429."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = limits.retry_after(_limits(request))
        if wait is None:
            return super().post(request, *args, **kwargs)
        # An unbound form: a bound one would check the password while rendering its errors.
        form = self.get_form_class()(request, initial={"username": request.POST.get("username", "")})
        context = self.get_context_data(form=form, throttled=limits.message("failed logins", wait))
        return limits.refused(self.render_to_response(context), wait)

    def form_invalid(self, form: Any) -> HttpResponse:
        limits.record(_limits(self.request))
        return super().form_invalid(form)
