"""Django's login view, refusing a (username, address) pair or an address after too many failures.

Failures count per username *and address*, and per address (django-axes' default): a stranger
who guesses at ``olivia``'s password locks out only the stranger's own address, while olivia
logs in from hers. Usernames are keyed as Django's auth compares them (``limits.username``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from chat import forms
from chat.throttle import limits

_SUBJECTS = {"username": "A username", "password": "A password"}


def _limits(request: HttpRequest) -> list[limits.Limit]:
    address = request.META.get("REMOTE_ADDR", "")
    name = limits.username(str(request.POST.get("username", "")))
    return [
        limits.Limit("login:user:%s:addr:%s" % (name, address), limits.setting("CHAT_THROTTLE_PER_USER")),
        limits.Limit("login:addr:%s" % address, limits.setting("CHAT_THROTTLE_PER_ADDRESS")),
    ]


class LoginView(auth_views.LoginView):
    """Django's ``LoginView``; over the limit, even the right password is refused with 429."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # An unbound form for the pages below: a bound one would check the password while
        # rendering its errors.
        unbound = self.get_form_class()(request, initial={"username": request.POST.get("username", "")})
        invalid = forms.field_problem(self.get_form(), _SUBJECTS)
        if invalid is not None:
            response = self.render_to_response(self.get_context_data(form=unbound, invalid=invalid))
            response.status_code = 400
            return response
        # Counted before the password is checked, and given back if it was right: concurrent
        # guesses cannot all pass the check before the first failure is counted.
        self.taken = limits.take(_limits(request))
        if self.taken.wait is not None:
            wait = self.taken.wait
            context = self.get_context_data(form=unbound, throttled=limits.message("failed logins", wait))
            return limits.refused(self.render_to_response(context), wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        self.taken.give_back()
        return super().form_valid(form)
