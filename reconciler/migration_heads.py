"""The newest migration(s), read from the migration files without loading alembic or SQLAlchemy
(`db.migrate` and the CLI's quick reads compare a store's `alembic_version` with them)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# `revision = "0002"` and `down_revision = "0001"` (or None, or a tuple for a merge)
_REVISION_LINE = re.compile(r"^(down_)?revision\b[^=\n]*=(.*)$", re.MULTILINE)


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The newest migration(s), read from the migration files (without loading alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for down, value in _REVISION_LINE.findall(path.read_text()):
            (parents if down else revisions).update(re.findall(r"['\"]([^'\"]+)['\"]", value))
    return frozenset(revisions - parents)
