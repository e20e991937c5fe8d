"""Writing a decision back to Asana: one comment on each task that carried evidence (task fields
are never changed; project status updates take no comments)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.asana.mapping import STATUS_UPDATE_PREFIX
from connectors.base import RateLimiter, Source
from connectors.plugin import Credentials, Evidence, WriteBack, WriteTarget


def asana_targets(evidence: Sequence[Evidence]) -> tuple[list[WriteTarget], list[str]]:
    """One target per task; project status updates take no comments and are skipped (said)."""
    targets: dict[str, WriteTarget] = {}
    skipped: list[str] = []
    for obs in evidence:
        if obs.source != Source.ASANA:
            continue
        ref = obs.source_ref
        if ref.startswith(STATUS_UPDATE_PREFIX):
            note = f"Asana project {ref[len(STATUS_UPDATE_PREFIX):]} status update (status updates take no comments)"
            if note not in skipped:
                skipped.append(note)
            continue
        if ref not in targets:
            targets[ref] = WriteTarget(source=Source.ASANA.value, ref=ref, label=f"Asana task {ref}", permalink=obs.permalink)
    return list(targets.values()), skipped


class AsanaWriter:
    """Comments through the connector's HTTP client (retries, 429s, the shared rate limiter)."""

    def __init__(self, credentials: Credentials, rate_limiter: RateLimiter):
        from connectors.asana.connector import DEFAULT_TIMEOUT, AsanaHttp

        self._http = AsanaHttp(
            token=credentials.token or "",
            base_url=credentials.base_url,
            rate_limiter=rate_limiter,
            max_retries=5,
            backoff=0.5,
            max_backoff=60.0,
            sleep=time.sleep,
            timeout=DEFAULT_TIMEOUT,
            pool_size=1,
            page_size=100,
        )

    def write(self, target: WriteTarget, text: str, *, mark: str) -> str:
        """Comment once: a comment with this text already on the task (an earlier run whose answer
        was lost, or that died before recording it) is reused; `add_comment` looks again itself
        after an attempt whose outcome is unknown. The text names the conflict and the decision, so
        it is the mark (as the thread reply's metadata is for Slack)."""
        found = self._http.find_comment(target.ref, text)
        if found is not None:
            return str(found["gid"])
        story = self._http.add_comment(target.ref, text)
        return str(story["gid"])

    def close(self) -> None:
        self._http.close()


def _audit(target: WriteTarget) -> dict[str, Any]:
    return {"target": "asana", "task": target.ref}


def _place(details: Mapping[str, Any]) -> tuple[str, str | None]:
    return str(details.get("task")), None


writeback = WriteBack(
    targets=asana_targets,
    writer=lambda credentials, rate_limiter, timeout: AsanaWriter(credentials, rate_limiter),
    audit=_audit,
    place=_place,
    result_key="story_gid",
)
