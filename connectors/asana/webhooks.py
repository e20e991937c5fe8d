"""Asana webhooks: creating one per project and checking what arrives.

`POST /webhooks {resource, target}` makes Asana POST a handshake to the target, with an
`X-Hook-Secret` the receiver must echo, while the create request is still in flight; every
later delivery carries `X-Hook-Signature` = hex HMAC-SHA256(secret, raw body). A delivery says
only that something in the project changed (compact events, at most once, no replay); the
project's `/events` stream (the connector's incremental sync) reads what did.
`GET /webhooks?workspace=W` lists the webhooks the token registered and `DELETE /webhooks/{gid}`
removes one, so a service can clear what an earlier run of it left behind.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import asana
from asana.rest import ApiException

from connectors.base import ConnectorError


def signature_ok(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether a delivery was signed with the webhook's secret (compared in constant time)."""
    if not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip())


@dataclass(frozen=True, slots=True)
class RegisteredWebhook:
    gid: str
    resource: str  # the project's gid
    target: str


def _client(token: str, base_url: str) -> asana.ApiClient:
    configuration = asana.Configuration()
    configuration.host = base_url.rstrip("/")
    configuration.access_token = token
    return asana.ApiClient(configuration)


def create_webhook(*, token: str, base_url: str, project: str, target: str, timeout: float = 30.0) -> str:
    """Create a webhook on `project` delivering to `target`; returns its gid. The caller's HTTP
    endpoint must already answer the handshake (it arrives before this returns)."""
    api = asana.WebhooksApi(_client(token, base_url))
    try:
        answer: Any = api.create_webhook({"data": {"resource": project, "target": target}}, {},
                                         _request_timeout=(timeout, timeout))
    except ApiException as exc:
        raise ConnectorError(f"Asana project {project}: the webhook was not created (HTTP {exc.status})") from None
    except OSError as exc:
        raise ConnectorError(f"Asana project {project}: the webhook was not created ({type(exc).__name__})") from None
    data = answer.get("data", answer) if isinstance(answer, dict) else None  # the SDK unwraps `data`
    gid = data.get("gid") if isinstance(data, dict) else None
    if not gid:
        raise ConnectorError(f"Asana project {project}: the webhook answer carried no gid")
    return str(gid)


def list_webhooks(*, token: str, base_url: str, workspace: str | None = None, timeout: float = 30.0) -> list[RegisteredWebhook]:
    """The webhooks this token registered, in `workspace` or (None) in every workspace it sees:
    one request per page of 100, plus one for the workspaces."""
    client = _client(token, base_url)
    try:
        workspaces = [workspace] if workspace else [
            str(w["gid"]) for w in asana.WorkspacesApi(client).get_workspaces(
                {"limit": 100, "opt_fields": "gid"}, _request_timeout=(timeout, timeout))]
        found: list[RegisteredWebhook] = []
        api = asana.WebhooksApi(client)
        for gid in workspaces:
            for hook in api.get_webhooks(gid, {"limit": 100, "opt_fields": "resource,target"},
                                         _request_timeout=(timeout, timeout)):
                resource = hook.get("resource") or {}
                found.append(RegisteredWebhook(str(hook["gid"]), str(resource.get("gid") or ""), str(hook.get("target") or "")))
        return found
    except ApiException as exc:
        raise ConnectorError(f"Asana webhooks were not listed (HTTP {exc.status})") from None
    except OSError as exc:
        raise ConnectorError(f"Asana webhooks were not listed ({type(exc).__name__})") from None


def delete_webhook(*, token: str, base_url: str, gid: str, timeout: float = 30.0) -> bool:
    """Delete webhook `gid`; False when Asana no longer has it (404: deleted already)."""
    api = asana.WebhooksApi(_client(token, base_url))
    try:
        api.delete_webhook(gid, _request_timeout=(timeout, timeout))
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise ConnectorError(f"Asana webhook {gid} was not deleted (HTTP {exc.status})") from None
    except OSError as exc:
        raise ConnectorError(f"Asana webhook {gid} was not deleted ({type(exc).__name__})") from None
    return True
