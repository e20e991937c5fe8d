"""`CursorModel`: the cursor a connector stores per partition, as a pydantic model.

The store keeps it as a JSON string: `dump()` writes `wire()` (by default the model's fields)
with the version under `"v"`, compact, keys sorted; `load(raw)` answers the model, or None for
anything it cannot use (nothing stored, not JSON, a version it does not read, fields that do not
validate, or what `usable()` refuses), after which the connector starts over (a full read);
`parse(raw)` is the same but raises ValueError saying why. A field added with a default keeps
every stored cursor loadable; `upgrade()` turns a stored JSON object (an older version's, or a
layout of its own) into the model's fields. Unknown keys make a cursor unusable
(`extra="forbid"`); a subclass whose JSON may carry keys it does not model sets
`extra="ignore"`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict


class CursorModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    VERSION: ClassVar[int] = 1
    """The version `dump()` writes; bump it when the meaning of a field changes."""
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of the JSON while None (so adding an optional field keeps the format)."""

    def wire(self) -> dict[str, Any]:
        """The JSON object stored (without the version)."""
        data = self.model_dump(mode="json")
        for name in self.OMIT_WHEN_NONE:
            if data.get(name) is None:
                data.pop(name, None)
        return data

    def dump(self) -> str:
        return json.dumps({"v": self.VERSION, **self.wire()}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, raw: str) -> Self:
        """The stored cursor; ValueError (saying why) for one it cannot use."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("the cursor is not a JSON object")
        version = data.pop("v", None)
        try:
            fields = cls.upgrade(data, version)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"unreadable cursor ({type(exc).__name__}: {exc})") from exc
        if fields is None:
            raise ValueError(f"cursor version {version!r} is not one this release reads")
        cursor = cls.model_validate(fields)  # pydantic's ValidationError is a ValueError
        if not cursor.usable():
            raise ValueError("the cursor cannot be synced from")
        return cursor

    @classmethod
    def load(cls, raw: str | None) -> Self | None:
        """The stored cursor, or None when there is none or it cannot be used."""
        if not raw:
            return None
        try:
            return cls.parse(raw)
        except ValueError:
            return None

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: Any) -> dict[str, Any] | None:
        """The stored JSON of `version` as the model's fields (None: not a version this reads).
        The current version's JSON is the fields as they are."""
        return data if version == cls.VERSION else None

    def usable(self) -> bool:
        """Whether a cursor that validated can be synced from (a subclass checks what types do
        not say, e.g. that an events cursor has its sync token)."""
        return True

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, validated."""
        return type(self).model_validate({**self.model_dump(), **changes})
