"""Live regions, declared: which event changes which part of a server-rendered page, and how.

A `Stream` says, for one event type on a region's topic, which Turbo Stream action applies to
which element, rendered from which partial template with which context. A `Live` names the
streams one kind of region follows; a page marks a region with ``{% live "<name>" ... %}`` and
the library's client opens the region's socket with ``?live=<name>``. The socket is the app's
own topic route, so the region gets exactly the events, authorization and cursor that socket's
consumer gives JSON pages; only what is sent changes.

Projects list their `Live` objects in a ``live.py`` module of any installed app, which the
library imports at start-up (like ``admin.py``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import html
from typing import Any

Payload = dict[str, Any]
# The subscriber's user id as Django gives it (int, UUID, str...).
Context = collections.abc.Callable[[Payload, collections.abc.Hashable], dict[str, Any] | None]
Variant = collections.abc.Callable[[Payload, Any], collections.abc.Hashable | None]


class Action(enum.StrEnum):
    """What a stream does to its target, with Turbo Streams' names."""

    APPEND = "append"
    PREPEND = "prepend"
    REPLACE = "replace"
    UPDATE = "update"
    REMOVE = "remove"
    BEFORE = "before"
    AFTER = "after"
    # The page fetches its own URL again (debounced) and morphs the target element in.
    REFRESH = "refresh"


# Actions that carry no template: the client needs nothing rendered to apply them.
BARE = frozenset({Action.REMOVE, Action.REFRESH})


def everyone(payload: Payload, user_id: Any) -> collections.abc.Hashable | None:
    """The default variant: one rendering serves every subscriber."""
    return ""


@dataclasses.dataclass(frozen=True)
class Stream:
    """One event type's effect on a live region: an action on a target, from a partial template."""

    event: str
    action: Action | str
    # An element id; ``{field}`` and ``{field[key]}`` are filled from the event's payload.
    target: str
    template: str | None = None
    # The template's context from the event's payload and the subscriber's variant, read in one
    # REPEATABLE READ snapshot; None sends nothing (the row is gone: a later event says so).
    context: Context | None = None
    # Applies only to events whose payload has these values (a list: any of them).
    when: collections.abc.Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Which rendering a subscriber gets: subscribers with equal keys share one render per
    # event; None leaves this subscriber out of this stream.
    variant: Variant = everyone

    def __post_init__(self) -> None:
        action = Action(self.action)
        object.__setattr__(self, "action", action)
        if action not in BARE and self.template is None:
            raise ValueError("a %s stream needs a template" % action)

    def applies(self, event_type: str, payload: Payload) -> bool:
        if event_type != self.event:
            return False
        for key, wanted in self.when.items():
            value = payload.get(key)
            if isinstance(wanted, list | tuple | set | frozenset):
                if value not in wanted:
                    return False
            elif value != wanted:
                return False
        return True

    def target_for(self, payload: Payload) -> str:
        """The target id, filled from the payload and escaped for an attribute."""
        return html.escape(self.target.format_map(payload), quote=True)


_registry: dict[str, Live] = {}


class Live:
    """The streams a kind of live region follows, registered under a name pages refer to."""

    def __init__(self, name: str, streams: collections.abc.Iterable[Stream]) -> None:
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("a live region's name is letters, digits, - and _: %r" % name)
        self.name = name
        self.streams = tuple(streams)
        _registry[name] = self

    def __repr__(self) -> str:
        return "<Live %s: %d streams>" % (self.name, len(self.streams))


def named(name: str) -> Live | None:
    return _registry.get(name)
