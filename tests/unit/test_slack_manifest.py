"""slack/manifest.yaml asks for what the app and the connectors use, and nothing more."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.slackapp import app

MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.yaml"

# conversations.history/replies (public, private), conversations.list/info, users.list/info,
# users.lookupByEmail, conversations.open, chat.postMessage/update/postEphemeral, /reconciler
NEEDED_SCOPES = {
    "channels:history", "groups:history", "channels:read", "groups:read", "users:read", "users:read.email",
    "im:write", "chat:write", "commands",
}


def test_the_manifest_matches_the_app() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == NEEDED_SCOPES
    assert "user" not in manifest["oauth_config"]["scopes"]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [app.COMMAND]
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == list(app.EVENTS)
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
