from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.urls import include, path

from chat import login

urlpatterns = [
    path("admin/", admin.site.urls),
    # The new password and the cycled session key commit together, so this session's sockets
    # see the key move before they check the password (listener/revocation.py).
    path(
        "accounts/password_change/",
        transaction.atomic(auth_views.PasswordChangeView.as_view()),
        name="password_change",
    ),
    # Before Django's auth URLs: the login view that counts failures.
    path("accounts/login/", login.LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("listener.urls")),
    path("", include("chat.urls")),
]
