"""`python -m reconciler.web.healthcheck [URL]`: exit 0 when the board's /healthz answers 200.

For container health checks: it signs in the way the board is configured to accept (bearer
token, basic auth, or the trusted proxy header from loopback), from the same environment.
"""

from __future__ import annotations

import base64
import sys
import urllib.error
import urllib.request

from reconciler.web.auth import AccessSettings

DEFAULT_URL = "http://127.0.0.1:8080/healthz"


def request_for(url: str, access: AccessSettings) -> urllib.request.Request:
    request = urllib.request.Request(url)
    if access.token is not None:
        request.add_header("Authorization", f"Bearer {access.token.get_secret_value()}")
    elif access.basic_auth is not None:
        encoded = base64.b64encode(access.basic_auth.get_secret_value().encode()).decode()
        request.add_header("Authorization", f"Basic {encoded}")
    elif access.trusted_proxy_header:
        request.add_header(access.trusted_proxy_header, "healthcheck")
    return request


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else DEFAULT_URL
    try:
        with urllib.request.urlopen(request_for(url, AccessSettings()), timeout=5) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"board unreachable at {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"board unhealthy at {url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
