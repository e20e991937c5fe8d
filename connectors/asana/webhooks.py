"""Asana webhooks: creating one per project and checking what arrives.

`POST /webhooks {resource, target}` makes Asana POST a handshake to the target, with an
`X-Hook-Secret` the receiver must echo, while the create request is still in flight; every
later delivery carries `X-Hook-Signature` = hex HMAC-SHA256(secret, raw body). A delivery says
only that something in the project changed (compact events, at most once, no replay); the
project's `/events` stream (the connector's incremental sync) reads what did.
"""

from __future__ import annotations

import hashlib
import hmac
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


def create_webhook(*, token: str, base_url: str, project: str, target: str, timeout: float = 30.0) -> str:
    """Create a webhook on `project` delivering to `target`; returns its gid. The caller's HTTP
    endpoint must already answer the handshake (it arrives before this returns)."""
    configuration = asana.Configuration()
    configuration.host = base_url.rstrip("/")
    configuration.access_token = token
    api = asana.WebhooksApi(asana.ApiClient(configuration))
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
