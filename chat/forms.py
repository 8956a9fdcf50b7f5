"""Forms behind the pages' POST endpoints; each validates lengths before anything is written."""

from __future__ import annotations

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.models import User

from chat import models


class MessageForm(forms.Form):
    """A message to post to a room."""

    message = forms.CharField(max_length=200, strip=True)


class RoomForm(forms.ModelForm[models.ChatRoom]):
    """A new room; its join code is made by the model."""

    class Meta:
        model = models.ChatRoom
        fields = ("title",)


class JoinCodeForm(forms.Form):
    """The join code a room's owner shared."""

    code = forms.CharField(max_length=32, strip=True, label="Join code")


class SignUpForm(auth_forms.UserCreationForm[User]):
    """A username and a password, nothing else."""

    class Meta(auth_forms.UserCreationForm.Meta):
        fields = ("username",)
