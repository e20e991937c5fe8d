"""The shared state board in the browser: `reconciler serve` (see README "The board")."""

from reconciler.web.app import create_app

__all__ = ["create_app"]
