"""The `reconciler` command: nouns and verbs over the one pipeline and the one store.

`main` answers the read commands that need no more than a look at the store (`conflicts list`,
`status`, see quick.py) before Typer, SQLAlchemy or the models load; everything else, and
anything those reads do not expect, goes to the Typer app in root.py (`reconciler.cli.app`)."""

from __future__ import annotations

import sys
from typing import Any


def main(*, quick: bool = True) -> None:
    """The `reconciler` executable: a bug's traceback still goes through the token scrubber."""
    try:
        if quick:
            from reconciler.cli.quick import answer

            code = answer(sys.argv[1:])
            if code is not None:
                raise SystemExit(code)
        from reconciler.cli.root import app

        app()
    except Exception:
        import traceback

        from reconciler.cli.common import _scrub

        sys.stderr.write(_scrub(traceback.format_exc()))
        raise SystemExit(1) from None


def __getattr__(name: str) -> Any:
    if name == "app":  # `from reconciler.cli import app` (the tests' CliRunner) builds the Typer app
        from reconciler.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
