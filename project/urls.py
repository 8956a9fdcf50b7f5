from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from chat import login

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before Django's auth URLs: the login view that counts failures.
    path("accounts/login/", login.LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("listener.urls")),
    path("", include("chat.urls")),
]
