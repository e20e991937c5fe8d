"""Closed vocabularies (finding kinds, conflict states, severities) checked the same way
everywhere a person types one: an unknown value is one line naming the closest valid value and
the whole list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches
from fnmatch import fnmatchcase

from reconciler.models import ConflictState
from reconciler.rules import Rule

FINDING_KINDS: tuple[str, ...] = tuple(rule.value for rule in Rule)
CONFLICT_STATES: tuple[str, ...] = tuple(state.value for state in ConflictState)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high")

_GLOB_CHARS = frozenset("*?[")


def closest(value: str, valid: Iterable[str]) -> str | None:
    """The valid value a typo most likely meant, if any is close enough."""
    matches = get_close_matches(value, list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_message(what: str, value: str, valid: Sequence[str]) -> str:
    """`unknown kind 'stal' (did you mean 'stale'? valid: a, b, c)`."""
    guess = closest(value, valid)
    hint = f"did you mean {guess!r}? " if guess else ""
    return f"unknown {what} {value!r} ({hint}valid: {', '.join(valid)})"


def check_choice(what: str, value: str, valid: Sequence[str], *, globs: bool = False) -> str:
    """`value` itself when it is one of `valid` (or, with `globs`, a shell pattern matching at
    least one of them); else a ValueError with the closest value and the valid list."""
    if value in valid:
        return value
    if globs and _GLOB_CHARS & set(value) and any(fnmatchcase(v, value) for v in valid):
        return value
    raise ValueError(unknown_message(what, value, valid))
