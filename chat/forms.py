"""Forms behind the pages' POST endpoints; each validates lengths before anything is written.

Postgres text cannot hold a NUL character, and Django's ``CharField`` refuses one; ``problem``
and ``field_problem`` turn such refusals into the sentence a 400 answer carries, so invalid
input is explained to the user instead of reaching the database (a 500).
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.models import User
from django.core import exceptions

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


def explain(subject: str, error: exceptions.ValidationError) -> str:
    """One sentence saying why ``subject`` (e.g. "A message") was refused."""
    first = error.error_list[0]
    params = first.params or {}
    if first.code == "null_characters_not_allowed":
        return "%s cannot contain a NUL character." % subject
    if first.code == "max_length":
        return "%s is at most %d characters; this one has %d." % (
            subject,
            params["limit_value"],
            params["show_value"],
        )
    if first.code == "required":
        return "%s cannot be empty." % subject
    return "%s: %s" % (subject, " ".join(error.messages))


def problem(form: forms.BaseForm, subjects: dict[str, str]) -> str:
    """Why a form that failed ``is_valid()`` was refused, naming its first invalid field."""
    for name, errors in form.errors.as_data().items():
        subject = subjects.get(
            name, str(form.fields[name].label or name) if name in form.fields else "The form"
        )
        return explain(subject, exceptions.ValidationError(errors))
    return "The form is invalid."


def field_problem(form: forms.BaseForm, subjects: dict[str, str]) -> str | None:
    """Why a field is invalid, checked field by field without the form's ``clean()``.

    The login form's ``clean()`` checks the password, which must wait until the attempt has
    been counted; its fields (a NUL character, an over-long username) can be judged first.
    """
    for name, field in form.fields.items():
        value = field.widget.value_from_datadict(form.data, form.files, form.add_prefix(name))
        subject = subjects.get(name, str(field.label or name))
        try:
            cleaned = field.clean(value)
        except exceptions.ValidationError as error:
            return explain(subject, error)
        # AuthenticationForm sets its username's max_length after the field made its validators.
        limit = getattr(field, "max_length", None)
        if isinstance(cleaned, str) and limit is not None and len(cleaned) > limit:
            return "%s is at most %d characters; this one has %d." % (subject, limit, len(cleaned))
    return None
