"""Who may look at the board: nobody but this machine by default; to expose it, a bearer token,
basic auth, or the user an authenticating proxy in front of it vouches for.

Settings come from the environment (`RECONCILER_WEB_*`, see README "The board"). Secrets are
compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from dataclasses import dataclass

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class AccessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECONCILER_WEB_", env_file=".env", extra="ignore", env_ignore_empty=True)

    token: SecretStr | None = None
    """Bearer token: `Authorization: Bearer <token>` (Prometheus, scripts)."""
    basic_auth: SecretStr | None = None
    """`user:password` for browsers (`Authorization: Basic ...`)."""
    trusted_proxy_header: str | None = None
    """Header in which an authenticating proxy names the signed-in user, e.g. X-Forwarded-User."""
    trusted_proxies: str = "127.0.0.1/32,::1/128"
    """Addresses (CIDR, comma-separated) whose `trusted_proxy_header` is believed."""
    allow_unauthenticated: bool = False
    """Serve beyond loopback without access control: only where something else decides who
    reaches the port (docker-compose publishes it on the host's 127.0.0.1 only)."""

    def any_configured(self) -> bool:
        return bool(self.token or self.basic_auth or self.trusted_proxy_header)

    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        networks = []
        for item in self.trusted_proxies.split(","):
            if item.strip():
                try:
                    networks.append(ipaddress.ip_network(item.strip(), strict=False))
                except ValueError:
                    raise ValueError(f"RECONCILER_WEB_TRUSTED_PROXIES: {item.strip()!r} is not an address or network") from None
        return networks

    def check(self) -> None:
        """Fail at start, in one line, on a setting that cannot work."""
        if self.basic_auth is not None and ":" not in self.basic_auth.get_secret_value():
            raise ValueError("RECONCILER_WEB_BASIC_AUTH must be user:password")
        self.proxy_networks()


def require_access_for(host: str, access: AccessSettings) -> None:
    """Binding beyond loopback without any access control is refused."""
    if host not in LOOPBACK_HOSTS and not access.any_configured() and not access.allow_unauthenticated:
        raise ValueError(
            f"refusing to serve the board on {host} without access control: set RECONCILER_WEB_TOKEN, "
            "RECONCILER_WEB_BASIC_AUTH or RECONCILER_WEB_TRUSTED_PROXY_HEADER, or bind 127.0.0.1"
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    user: str | None  # who, when known
    allowed: bool


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def judge(headers: Headers, peer: str | None, access: AccessSettings) -> Verdict:
    """Whether a request may see the board, and as whom."""
    if not access.any_configured():
        return Verdict(user=None, allowed=True)
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if access.token is not None and scheme.lower() == "bearer" and _same(credentials.strip(), access.token.get_secret_value()):
        return Verdict(user="token", allowed=True)
    if access.basic_auth is not None and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if decoded and _same(decoded, access.basic_auth.get_secret_value()):
            return Verdict(user=decoded.split(":", 1)[0], allowed=True)
    if access.trusted_proxy_header and peer is not None:
        user = headers.get(access.trusted_proxy_header, "").strip()
        if user and _from_trusted_proxy(peer, access):
            return Verdict(user=user, allowed=True)
    return Verdict(user=None, allowed=False)


def _from_trusted_proxy(peer: str, access: AccessSettings) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in access.proxy_networks())


class AccessMiddleware:
    """Every request is judged before the app sees it; a refusal is a plain 401."""

    def __init__(self, app: ASGIApp, access: AccessSettings) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        verdict = judge(Headers(scope=scope), client[0] if client else None, self.access)
        if not verdict.allowed:
            challenge = {"WWW-Authenticate": 'Basic realm="reconciler board"'} if self.access.basic_auth else {}
            response = PlainTextResponse("authentication required\n", status_code=401, headers=challenge)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = verdict.user
        await self.app(scope, receive, send)
