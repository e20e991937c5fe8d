"""`CursorModel`: the cursor a connector stores per partition, as a pydantic model.

The store keeps it as a JSON string: `dump()` writes the model's fields with the version under
`"v"`, compact, keys sorted; `load(raw)` answers the model, or None for anything it cannot use
(nothing stored, not JSON, another version, fields that do not validate, or what `usable()`
refuses), after which the connector starts over (a full read). A field added with a default
keeps every stored cursor loadable; `upgrade()` turns an older version's JSON into the current
one. Unknown keys make a cursor unusable (`extra="forbid"`); a subclass whose JSON may carry
keys it does not model sets `extra="ignore"`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError


class CursorModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    VERSION: ClassVar[int] = 1
    """The version `dump()` writes; bump it when the meaning of a field changes."""
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of the JSON while None (so adding an optional field keeps the format)."""

    def dump(self) -> str:
        data = self.model_dump(mode="json")
        for name in self.OMIT_WHEN_NONE:
            if data.get(name) is None:
                data.pop(name, None)
        return json.dumps({"v": self.VERSION, **data}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | None) -> Self | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        version = data.pop("v", None)
        upgraded = cls.upgrade(data, version)
        if upgraded is None:
            return None
        try:
            cursor = cls.model_validate(upgraded)
        except ValidationError:
            return None
        return cursor if cursor.usable() else None

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: Any) -> dict[str, Any] | None:
        """The JSON of `version` as the current version's (None: not a version this reads).
        The current version reads as it is; a subclass that bumps VERSION overrides this."""
        return data if version == cls.VERSION else None

    def usable(self) -> bool:
        """Whether a cursor that validated can be synced from (a subclass checks what types do
        not say, e.g. that an events cursor has its sync token)."""
        return True

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, validated."""
        return type(self).model_validate({**self.model_dump(), **changes})
