"""How stored rows look in JSON and tables: one view per row kind, shared by the commands."""

from __future__ import annotations

from typing import Any

from reconciler.models import Observation
from reconciler.untrusted import for_rich as lit


def claim_view(row: Observation, names: dict[tuple[str, str], str]) -> dict[str, Any]:
    """One claim with its provenance; `author_name` resolves the source's id to a person."""
    return {
        "id": row.id,
        "source": row.source,
        "field": row.field,
        "value": row.value,
        "author": row.author,
        "author_name": names.get((row.source, row.author)) if row.author else None,
        "stated_at": row.stated_at,
        "edited_at": row.edited_at,
        "retracted_at": row.deleted_at,
        "excerpt": row.excerpt,
        "permalink": row.permalink,
    }


def claim_cells(claim: dict[str, Any]) -> tuple[str, str, str]:
    """(what it says, who said it, the evidence text) for a Rich table row, escaped: source text
    is shown as typed, never as markup."""
    text = claim["excerpt"] + (f"\n{claim['permalink']}" if claim["permalink"] else "")
    if claim["retracted_at"]:
        text += "\n(retracted)"
    who = claim["author_name"] or claim["author"] or "-"
    return lit(f"{claim['field']}: {claim['value']}"), lit(who), lit(text)
