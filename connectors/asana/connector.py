"""Asana connector: one partition per project, incremental through the events API.

What one `pull(project, cursor)` does:

* **No usable cursor** (first run, expired sync token, changed mapping config, periodic safety
  re-crawl): ask `/events` for a fresh sync token (the 412 answer carries one), then crawl the
  project's tasks in pages with every field a claim needs (`opt_fields`), fetch stories only for
  tasks linked to a deliverable, and finish with the project's newest status update. Each page is
  one batch whose cursor is a checkpoint (`mode: "crawl"`: the sync token, the next page's
  offset, the linked tasks read): a crawl that fails, is killed or hits a time limit resumes at
  the page after the last one stored. The last batch carries `live_refs` (every task still in the
  project; after a resumed crawl from one gid-only listing, and a linked task the shifted pages
  missed is read then) and the events or poll cursor. A resumed offset Asana refuses (400)
  starts the crawl over. Asana cannot list a project's tasks newest first: pages go in project
  order.
* **Events cursor**: one `/events?sync=` request (more only while `has_more`). Linked tasks named
  by an event are fetched again (task + stories; two or more changed tasks come from one
  `modified_since` listing of the project, not a `GET /tasks/{gid}` each); `deleted`/`removed`
  retract their claims. An idle project costs exactly one request.
* **Changed deliverable index** (the cursor's `index` fingerprint differs; no crawl): one gid-only
  listing of the project, then only the tasks newly linked or linked to another deliverable are
  read; unlinked tasks' claims are withdrawn. Then the events or poll step as usual.
* **Poll cursor** (where `/events` answers 402/403/404/501, or `use_events=False`): the project's
  tasks with `modified_since`, plus the newest status update. Deletions are only seen by the
  periodic full crawl.

Partitions (`partitions()`): the configured `projects`, then the projects of each configured
portfolio (`GET /portfolios/{gid}/items`, items that are projects; nested portfolios are not
followed) and team (`GET /teams/{gid}/projects?archived=false`), each project once. The expansion
costs one request per page of each portfolio and team (nothing when none is configured) and is
reused for `expand_every` by every connector of the process with the same token and config, so a
worker checking each task's partition does not ask again. A portfolio or team that cannot be
expanded becomes the partition `portfolio:<gid>` / `team:<gid>`, whose `pull` raises its one-line
error: the failure is reported and recorded like any partition's, and the rest still syncs.

People: every batch carries the assignees and story authors it saw. With `workspace` set (and
`workspace_users` on), the first full crawl of a connector also reads the workspace's users
(`GET /workspaces/{gid}/users`, name and email: one request for up to 2,000 users) and yields them
in a batch of their own before the task pages, so people are joined by email to Slack and the
config. Incremental syncs never ask, so an idle project still costs one request.

Requests go through the official SDK with urllib3's own retries switched off, under the
toolkit's call loop (connectors/toolkit; `classify_answer` says what an answer means): it waits
for the caller's rate limiter around every request, honours `Retry-After` on 429, backs off with
jitter on 5xx, timeouts and resets, and ends in a one-line `ConnectorError` (or `TransientError`
once retries are exhausted) that names the project or task and never the token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

import asana
import urllib3
from asana.rest import ApiException
from pydantic import BaseModel, ConfigDict
from urllib3.util.retry import Retry as Urllib3Retry

from connectors.asana import mapping
from connectors.base import (
    ConnectorError,
    DeliverableIndex,
    NoRateLimit,
    Observation,
    PersonRecord,
    RateLimiter,
    Retraction,
    Source,
    SyncBatch,
    TransientError,
)
from connectors.config import AsanaConfig
from connectors.toolkit import (
    Backoff,
    CallPolicy,
    CursorModel,
    Fatal,
    Ok,
    OffsetPaginator,
    RequestCount,
    Retry,
    RetryAfter,
    Verdict,
    call,
)

log = logging.getLogger(__name__)

LIMITER_KEY = "asana"
CURSOR_VERSION = 1
EVENTS_UNAVAILABLE = (402, 403, 404, 501)
POLL_OVERLAP = timedelta(seconds=30)  # modified_since starts this much before the server's clock
DEFAULT_TIMEOUT = (10.0, 60.0)  # connect, read (seconds)

T = TypeVar("T")
R = TypeVar("R")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- HTTP: the SDK under our retry policy -----------------------------------------------------


class _Status(Exception):
    """An HTTP status the caller said it handles itself (`expect=`)."""

    def __init__(self, status: int, body: Any):
        super().__init__(status)
        self.status = status
        self.body = body


def _body_json(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def _asana_message(body: Any) -> str:
    errors = _body_json(body).get("errors") or []
    message = str(errors[0].get("message", "")) if errors and isinstance(errors[0], dict) else ""
    message = " ".join(message.split())
    return message[:200] + ("…" if len(message) > 200 else "")


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    raw = (headers or {}).get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(raw) - _utcnow()).total_seconds())
        except (TypeError, ValueError):
            return None


def _server_time(headers: Mapping[str, str] | None) -> datetime | None:
    raw = (headers or {}).get("Date")
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _refusal(where: str, status: int, body: Any) -> ConnectorError:
    message = _asana_message(body)
    if status == 401:
        return ConnectorError(f"{where}: not authorised (401) — check ASANA_TOKEN")
    if status == 402:
        return ConnectorError(f"{where}: needs a paid Asana plan (402)")
    if status == 403:
        return ConnectorError(f"{where}: forbidden (403) — the token's user cannot see it")
    if status == 404:
        return ConnectorError(f"{where}: not found (404) — check the gid in the config")
    detail = f": {message}" if message else ""
    return ConnectorError(f"{where}: rejected by Asana ({status}){detail}")


def classify_answer(
    answer: Any, *, where: str, expect: Sequence[int] = ()
) -> Verdict[tuple[dict[str, Any], Mapping[str, str]]]:
    """What one SDK attempt's outcome means: 429 waits `Retry-After`; 5xx, connection failures
    and bodies that are not JSON are retried (the request may have been carried out); a status
    the caller `expect`s ends in `_Status` when its body is readable (retried when cut off);
    other 4xx end in a one-line `ConnectorError` naming `where`."""
    if isinstance(answer, ApiException):
        status = int(answer.status or 0)
        if status in expect and _body_json(answer.body):
            return Fatal(_Status(status, answer.body))
        if status in expect:  # a truncated answer the caller would have to read
            return Retry(f"unreadable answer ({status})")
        if status == 429:
            return RetryAfter(_retry_after(answer.headers))
        if status >= 500:
            return Retry(f"server error ({status})", outcome_unknown=True)
        if status == 0:
            return Fatal(ConnectorError(f"{where}: TLS error talking to Asana ({answer.reason})"))
        return Fatal(_refusal(where, status, answer.body))
    if isinstance(answer, (urllib3.exceptions.HTTPError, OSError)):
        return Retry(f"connection failed ({type(answer).__name__})", answered=False, outcome_unknown=True)
    if isinstance(answer, Exception):
        return Fatal(answer)
    body, _status, headers = answer
    if isinstance(body, dict):
        return Ok((body, headers or {}))
    return Retry("unreadable answer (not JSON)", outcome_unknown=True)


class AsanaHttp:
    """The official `asana` SDK with urllib3's retries off and this policy instead:

    every attempt waits for `rate_limiter.acquire("asana")` and releases after; 429 sleeps
    `Retry-After`; 5xx, timeouts, resets and unreadable bodies back off exponentially with jitter;
    after `max_retries` retries a `TransientError`. 401/403/404/400 end at once in a one-line
    `ConnectorError` naming `where`, unless the caller `expect`s that status.
    """

    def __init__(
        self,
        *,
        token: str,
        base_url: str,
        rate_limiter: RateLimiter,
        max_retries: int,
        backoff: float,
        max_backoff: float,
        sleep: Callable[[float], None],
        timeout: float | tuple[float, float],
        pool_size: int,
        page_size: int,
    ) -> None:
        configuration = asana.Configuration()
        configuration.host = base_url.rstrip("/")
        configuration.access_token = token
        configuration.retry_strategy = Urllib3Retry(total=False)  # we retry, under the caller's limiter
        configuration.connection_pool_maxsize = max(1, pool_size)
        self._client = asana.ApiClient(configuration)
        self.tasks = asana.TasksApi(self._client)
        self.stories = asana.StoriesApi(self._client)
        self.events = asana.EventsApi(self._client)
        self.status_updates = asana.StatusUpdatesApi(self._client)
        self.portfolios = asana.PortfoliosApi(self._client)
        self.projects = asana.ProjectsApi(self._client)
        self.users = asana.UsersApi(self._client)
        self.sections = asana.SectionsApi(self._client)
        self.workspaces = asana.WorkspacesApi(self._client)
        self.teams = asana.TeamsApi(self._client)
        self._policy = CallPolicy(
            limiter=rate_limiter,
            limiter_key=LIMITER_KEY,
            max_retries=max(0, max_retries),
            backoff=Backoff(backoff, max_backoff),
            sleep=sleep,
            name="asana",
            logger=log,
        )
        # the SDK takes an int (total) or a (connect, read) pair and silently ignores a float
        self._timeout = timeout if isinstance(timeout, tuple) else (float(timeout), float(timeout))
        self.page_size = min(100, max(1, page_size))

    def close(self) -> None:
        pool = getattr(self._client, "pool", None)
        if pool is not None:
            pool.close()
            pool.join()
            del self._client.pool

    def call(
        self,
        count: RequestCount,
        where: str,
        method: Callable[..., Any],
        *args: Any,
        expect: Sequence[int] = (),
        confirm: Callable[[], dict[str, Any] | None] | None = None,
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """One API call (`method(*args)` of an SDK Api object): the JSON body and the headers.

        `confirm` makes a write exactly-once: after an attempt whose outcome is unknown (a 5xx,
        a dropped connection, a cut-off answer: Asana may have done it) it is asked, before any
        retry and before giving up, for what the write made; what it finds is the answer
        (`{"data": found}`), and the write is not sent again."""

        def send() -> Any:
            return method(*args, full_payload=True, _return_http_data_only=False, _request_timeout=self._timeout)

        def confirmed() -> tuple[dict[str, Any], Mapping[str, str]] | None:
            found = confirm() if confirm is not None else None
            return ({"data": found}, {}) if found is not None else None

        return call(
            send,
            partial(classify_answer, where=where, expect=expect),
            policy=self._policy,
            count=count,
            where=where,
            confirm=confirmed if confirm is not None else None,
        )

    def add_comment(self, task_gid: str, text: str, *, count: RequestCount | None = None) -> dict[str, Any]:
        """Post a comment story on a task (POST /tasks/{gid}/stories); the new story (its `gid`).

        The only write: task fields are never changed. Exactly once: an attempt whose outcome is
        unknown is followed by a look at the task's comments (`find_comment`) before any retry,
        and a comment with this text found there is the answer."""
        count = count or RequestCount()
        body, _ = self.call(
            count,
            f"Asana task {task_gid}",
            self.stories.create_story_for_task,
            {"data": {"text": text}},
            task_gid,
            {"opt_fields": "gid,created_at,text"},
            confirm=lambda: self.find_comment(task_gid, text, count=count),
        )
        story = body.get("data")
        if not isinstance(story, dict) or not story.get("gid"):
            raise ConnectorError(f"Asana task {task_gid}: the answer names no story")
        return story

    def find_comment(self, task_gid: str, text: str, *, count: RequestCount | None = None) -> dict[str, Any] | None:
        """The task's newest comment whose text is `text` (whitespace aside), or None. Reads every
        page of the task's stories (Asana lists them oldest first and cannot reverse the order)."""
        wanted = " ".join(text.split())
        found: dict[str, Any] | None = None
        for stories, _ in self.pages(
            count or RequestCount(),
            f"Asana task {task_gid}",
            self.stories.get_stories_for_task,
            task_gid,
            opts={"opt_fields": "gid,created_at,text,type,resource_subtype"},
        ):
            for story in stories:
                is_comment = story.get("resource_subtype") == "comment_added" or story.get("type") == "comment"
                if is_comment and story.get("gid") and " ".join(str(story.get("text") or "").split()) == wanted:
                    found = story
        return found

    def paginator(
        self,
        count: RequestCount,
        where: str,
        method: Callable[..., Any],
        *args: Any,
        opts: Mapping[str, Any],
        expect: Sequence[int] = (),
        limit: bool = True,
        start: str | None = None,
    ) -> OffsetPaginator[tuple[dict[str, Any], Mapping[str, str]]]:
        """The pages of a list endpoint from the offset `start` on, following `next_page.offset`
        (one call per page; the paginator's `position` is where to go on). `limit=False` for
        endpoints that take no `limit` (they answer in pages of their own)."""

        def fetch(offset: str | None) -> tuple[dict[str, Any], Mapping[str, str]]:
            query: dict[str, Any] = {**opts, "limit": self.page_size} if limit else dict(opts)
            if offset:
                query["offset"] = offset
            return self.call(count, where, method, *args, query, expect=expect)

        return OffsetPaginator(fetch, start=start, body=lambda answer: answer[0])

    def pages(
        self,
        count: RequestCount,
        where: str,
        method: Callable[..., Any],
        *args: Any,
        opts: Mapping[str, Any],
        expect: Sequence[int] = (),
        limit: bool = True,
    ) -> Iterator[tuple[list[dict[str, Any]], Mapping[str, str]]]:
        """Every page of a list endpoint (`paginator`): its items and headers."""
        for items, headers, _ in self.pages_from(count, where, method, *args, opts=opts, expect=expect, limit=limit):
            yield items, headers

    def pages_from(
        self,
        count: RequestCount,
        where: str,
        method: Callable[..., Any],
        *args: Any,
        opts: Mapping[str, Any],
        expect: Sequence[int] = (),
        limit: bool = True,
        start: str | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], Mapping[str, str], str | None]]:
        """`pages` from the offset `start` on, each page with the offset of the next (None: the
        last page), so a caller can keep its place between runs."""
        for page in self.paginator(count, where, method, *args, opts=opts, expect=expect, limit=limit, start=start):
            yield page.items, page.answer[1], page.next


# -- cursor ----------------------------------------------------------------------------------


class CrawlProgress(BaseModel):
    """A full crawl that has not finished (kept after every page of tasks): where it goes on."""

    model_config = ConfigDict(extra="forbid")

    mode: str  # the mode its cursor ends in: "events" or "poll"
    sync: str | None  # events: the sync token asked for before the crawl began
    offset: str | None  # the next page of tasks (Asana's offset); None with tasks_done
    tasks_done: bool  # every page of tasks is read; the status update is what is left
    seen: list[str] = []  # linked tasks read so far
    gone: list[str] = []  # linked tasks found deleted or out of the project
    open: list[str] = []  # linked, not completed tasks seen so far


class AsanaCursor(CursorModel):
    """What the store keeps per project between runs (a JSON string, `dump()`; `load()` gives
    None for anything unusable, which starts a full crawl)."""

    VERSION: ClassVar[int] = CURSOR_VERSION
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"crawl"})  # a finished crawl's cursor reads as before

    mode: str  # "events" or "poll"; "crawl" while a full crawl is unfinished (`crawl` says where)
    crawled_at: str  # server time the last full crawl began
    config: str  # fingerprint of the mapping config (not the deliverable index: see `index`)
    sync: str | None = None  # events: the sync token to read from
    since: str | None = None  # poll: modified_since for the next run
    open: list[str] = []  # linked, not completed tasks in the project
    status: dict[str, Any] | None = None  # the current status update (what its claims need)
    crawl: CrawlProgress | None = None
    index: str | None = None  # fingerprint of the deliverable index the cursor was written under
    linked: dict[str, str] = {}  # linked tasks in the project under `index`: task gid -> deliverable key

    def usable(self) -> bool:
        if self.mode == "crawl":
            progress = self.crawl
            if progress is None or progress.mode not in ("events", "poll") or (progress.mode == "events" and not progress.sync):
                return False
            return bool(progress.offset or progress.tasks_done)
        if self.mode not in ("events", "poll") or (self.mode == "events" and not self.sync):
            return False
        return not (self.mode == "poll" and not self.since)


class _SyncExpired(Exception):
    def __init__(self, token: str | None):
        super().__init__("sync token expired")
        self.token = token


class _EventsUnavailable(Exception):
    pass


@dataclass
class _TaskClaims:
    observations: list[Observation] = field(default_factory=list)
    retractions: list[Retraction] = field(default_factory=list)
    people: dict[str, PersonRecord] = field(default_factory=dict)
    open: set[str] = field(default_factory=set)  # linked tasks still open in the project
    gone: set[str] = field(default_factory=set)  # linked tasks deleted or no longer in the project

    def batch(self, requests: int) -> SyncBatch:
        return SyncBatch(
            observations=self.observations,
            retractions=self.retractions,
            people=sorted(self.people.values(), key=lambda p: p.source_id),
            requests=requests,
        )


def config_fingerprint(config: AsanaConfig, index: DeliverableIndex, tz: str) -> str:
    """Changes when the mapping config decides a claim's value differently (then the next run
    crawls). The deliverable index is left out: `index_fingerprint` covers it more cheaply."""
    payload = {
        "mapping": mapping.MAPPING_VERSION,
        "status_field": config.status_field.strip().lower(),
        "status_map": {k.lower(): str(v) for k, v in config.status_map.items()},
        "section_map": {k.lower(): str(v) for k, v in config.section_map.items()},
        "status_update_map": {k.lower(): str(v) for k, v in config.status_update_map.items()},
        "completed_status": str(config.completed_status),
        "timezone": tz,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def index_fingerprint(linked: Mapping[str, str]) -> str:
    """Changes when a task is linked, unlinked or linked to another deliverable (then the next
    run reads only the project's tasks whose link changed, `_relink`)."""
    return hashlib.sha256(json.dumps(sorted(linked.items())).encode()).hexdigest()[:16]


# -- partitions: projects, portfolios, teams --------------------------------------------------

PORTFOLIO_PREFIX = "portfolio:"
TEAM_PREFIX = "team:"
USER_OPT_FIELDS = "name,email"


@dataclass(frozen=True)
class Expansion:
    """The partitions of one configuration: projects (each once, in config order: `projects`,
    then each portfolio's, then each team's) and, for every portfolio or team that could not be
    expanded, its pseudo partition (`portfolio:<gid>`, `team:<gid>`) with the error to raise."""

    projects: tuple[str, ...]
    errors: Mapping[str, ConnectorError] = field(default_factory=dict)
    requests: int = 0

    def partitions(self) -> list[str]:
        return [*self.projects, *self.errors]


_EXPANSIONS: dict[tuple[Any, ...], tuple[float, Expansion]] = {}  # key -> (monotonic time asked, result)
_EXPANSIONS_LOCK = threading.Lock()


def clear_expansion_cache() -> None:
    """Forget every cached expansion (tests; a config reload builds new keys anyway)."""
    with _EXPANSIONS_LOCK:
        _EXPANSIONS.clear()


def is_expansion_partition(partition: str) -> bool:
    return partition.startswith((PORTFOLIO_PREFIX, TEAM_PREFIX))


# -- the connector ---------------------------------------------------------------------------


class AsanaConnector:
    source = Source.ASANA

    def __init__(
        self,
        *,
        token: str,
        base_url: str,
        config: AsanaConfig,
        index: DeliverableIndex,
        rate_limiter: RateLimiter = NoRateLimit(),  # noqa: B008 - stateless, the contract's default
        timezone: str = "UTC",
        page_size: int = 100,
        max_retries: int = 5,
        use_events: bool = True,
        full_crawl_every: timedelta | None = timedelta(hours=24),
        poll_overlap: timedelta = POLL_OVERLAP,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """`pipeline.build_connector` passes the first eight; the rest tune behaviour and tests:

        use_events: read `/events` (else poll with `modified_since`); full_crawl_every: re-crawl
        a project this long after its last full crawl, the safety net for dropped events and, in
        poll mode, the only way deletions are seen (None: never); poll_overlap: how far back
        `modified_since` reaches before the server's clock; backoff/max_backoff: seconds of the
        exponential backoff (with jitter); timeout: per request (connect, read); sleep/clock:
        injectable for tests.
        """
        self._config = config
        self._index = dict(index.linked("asana"))
        self._tz = ZoneInfo(timezone)
        self._use_events = use_events
        self._full_crawl_every = full_crawl_every
        self._poll_overlap = poll_overlap
        self._clock = clock
        self._workers = max(1, config.concurrent_requests)
        self._fingerprint = config_fingerprint(config, index, timezone)
        self._index_fingerprint = index_fingerprint(self._index)
        self._expansion: Expansion | None = None
        self._expansion_key = (
            base_url.rstrip("/"),
            hashlib.sha256(token.encode()).hexdigest(),
            tuple(config.projects),
            tuple(config.portfolios),
            tuple(config.teams),
        )
        # the workspace's users went out (or are going out) in a batch of this connector; the
        # partitions of a run may crawl at the same time, and one of them sends them
        self._people_taken = False
        self._people_lock = threading.Lock()
        self._http = AsanaHttp(
            token=token,
            base_url=base_url,
            rate_limiter=rate_limiter,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
            sleep=sleep,
            timeout=timeout,
            pool_size=self._workers,
            page_size=page_size,
        )

    def close(self) -> None:
        self._http.close()

    def partitions(self) -> list[str]:
        """Configured projects plus those of the configured portfolios and teams, each once; a
        portfolio or team that could not be expanded as `portfolio:<gid>` / `team:<gid>`."""
        return self.expansion().partitions()

    def expansion(self) -> Expansion:
        """The expansion of portfolios and teams: this connector's, else the process's (younger
        than `expand_every`, same token and config), else asked of Asana now. Results with a
        transient error are not shared (the next connector asks again)."""
        if self._expansion is not None:
            return self._expansion
        if not self._config.portfolios and not self._config.teams:
            self._expansion = Expansion(tuple(dict.fromkeys(self._config.projects)))
            return self._expansion
        ttl = self._config.expansion_ttl().total_seconds()
        with _EXPANSIONS_LOCK:
            cached = _EXPANSIONS.get(self._expansion_key)
        if cached is not None and time.monotonic() - cached[0] < ttl:
            self._expansion = cached[1]
            return self._expansion
        started = time.monotonic()
        expansion = self._expand()
        if not any(isinstance(e, TransientError) for e in expansion.errors.values()):
            with _EXPANSIONS_LOCK:
                _EXPANSIONS[self._expansion_key] = (started, expansion)
        self._expansion = expansion
        return expansion

    def _expand(self) -> Expansion:
        count = RequestCount()
        projects: dict[str, None] = dict.fromkeys(self._config.projects)
        errors: dict[str, ConnectorError] = {}
        sources = [(PORTFOLIO_PREFIX, gid, self._portfolio_projects) for gid in dict.fromkeys(self._config.portfolios)]
        sources += [(TEAM_PREFIX, gid, self._team_projects) for gid in dict.fromkeys(self._config.teams)]
        for prefix, gid, expand in sources:
            try:
                found = expand(gid, count)
            except ConnectorError as exc:
                errors[prefix + gid] = exc
                log.warning("asana expansion failed", extra={"partition": prefix + gid, "error": str(exc)})
                continue
            projects.update(dict.fromkeys(found))
        log.info("asana projects expanded", extra={"projects": len(projects), "requests": count.total})
        return Expansion(tuple(projects), errors, count.total)

    def _portfolio_projects(self, portfolio: str, count: RequestCount) -> list[str]:
        """The portfolio's items that are projects (nested portfolios are not followed)."""
        found: list[str] = []
        for items, _ in self._http.pages(
            count,
            f"Asana portfolio {portfolio}",
            self._http.portfolios.get_items_for_portfolio,
            portfolio,
            opts={"opt_fields": "name,resource_type"},
        ):
            found += [str(i["gid"]) for i in items if i.get("gid") and i.get("resource_type") == "project"]
        return found

    def _team_projects(self, team: str, count: RequestCount) -> list[str]:
        """The team's projects that are not archived."""
        found: list[str] = []
        for items, _ in self._http.pages(
            count,
            f"Asana team {team}",
            self._http.projects.get_projects_for_team,
            team,
            opts={"archived": "false", "opt_fields": "name,archived"},
        ):
            found += [str(i["gid"]) for i in items if i.get("gid") and not i.get("archived")]
        return found

    def pull(self, partition: str, cursor: str | None) -> Iterator[SyncBatch]:
        if is_expansion_partition(partition):
            # a portfolio or team that did not expand: its error is this partition's failure
            error = self.expansion().errors.get(partition)
            if error is not None:
                raise type(error)(str(error))
            return
        count = RequestCount()
        state = AsanaCursor.load(cursor)
        reason = self._crawl_reason(state)
        if reason is not None:
            log.info("asana full crawl", extra={"project": partition, "reason": reason})
            batches = self._full_crawl(partition, count)
        elif state is not None and state.crawl is not None:
            log.info("asana full crawl resumed", extra={"project": partition, "tasks_done": state.crawl.tasks_done})
            batches = self._full_crawl(partition, count, resume=state)
        elif state is not None:
            batches = self._incremental(partition, state, count)
        else:
            return
        for batch in batches:
            batch.throttled = count.take_throttled()
            yield batch

    def _crawl_reason(self, state: AsanaCursor | None) -> str | None:
        if state is None:
            return "no cursor"
        if state.config != self._fingerprint:
            return "mapping config changed"
        if (state.crawl.mode if state.crawl else state.mode) == "events" and not self._use_events:
            return "events switched off"
        if state.crawl is not None and state.index != self._index_fingerprint:
            return "deliverables changed during an unfinished crawl"  # its pages read used the old links
        if state.crawl is not None:
            return None  # an unfinished crawl goes on where it stopped
        if self._full_crawl_every is not None:
            crawled = mapping.parse_time(state.crawled_at)
            if crawled is None or self._clock() - crawled >= self._full_crawl_every:
                return "periodic full crawl"
        return None

    def _take_people_turn(self) -> bool:
        """True for the one crawl that sends the workspace's users (until its batch fails)."""
        with self._people_lock:
            if self._people_taken:
                return False
            self._people_taken = True
            return True

    # -- full crawl -------------------------------------------------------------------------

    def _full_crawl(
        self,
        project: str,
        count: RequestCount,
        *,
        sync: str | None = None,
        mode: str | None = None,
        resume: AsanaCursor | None = None,
    ) -> Iterator[SyncBatch]:
        """Every task page, then the status update; each page's batch carries a `crawl` cursor
        (`CrawlProgress`), so a failure, kill or time limit resumes at the next page (`resume`).
        Asana lists a project's tasks in the project's own order (no newest-first)."""
        progress = resume.crawl if resume is not None else None
        if progress is not None:
            mode, sync = progress.mode, progress.sync
        else:
            mode = mode or ("events" if self._use_events else "poll")
            if mode == "events" and sync is None:
                sync = self._fresh_sync_token(project, count)
                if sync is None:
                    mode = "poll"
            yield from self._people_batch(count)
        live: set[str] = set()  # every task seen in this run
        seen: set[str] = set(progress.seen) if progress else set()
        gone: set[str] = set(progress.gone) if progress else set()
        open_linked: set[str] = set(progress.open) if progress else set()
        started: datetime | None = mapping.parse_time(resume.crawled_at) if resume is not None else None

        def checkpoint(offset: str | None) -> str:
            assert started is not None and mode is not None
            crawl = CrawlProgress(
                mode=mode, sync=sync, offset=offset, tasks_done=offset is None,
                seen=sorted(seen), gone=sorted(gone), open=sorted(open_linked),
            )
            return AsanaCursor(
                mode="crawl", crawled_at=_iso(started), config=self._fingerprint, crawl=crawl,
                index=self._index_fingerprint,
            ).dump()

        if progress is None or not progress.tasks_done:
            try:
                for tasks, headers, offset in self._http.pages_from(
                    count,
                    f"Asana project {project}",
                    self._http.tasks.get_tasks_for_project,
                    project,
                    opts={"opt_fields": mapping.TASK_OPT_FIELDS},
                    start=progress.offset if progress else None,
                    expect=(400,) if progress else (),
                ):
                    started = started or _server_time(headers) or self._clock()
                    live.update(str(t["gid"]) for t in tasks)
                    linked = [t for t in tasks if str(t["gid"]) in self._index]
                    result = self._task_claims(project, linked, count)
                    seen.update(str(t["gid"]) for t in linked)
                    live -= result.gone
                    gone |= result.gone
                    open_linked = (open_linked - result.gone) | result.open
                    result.people = {**mapping.people_in(t.get("assignee") for t in tasks), **result.people}
                    batch = result.batch(count.take())
                    batch.cursor = checkpoint(offset)
                    yield batch
            except _Status as refused:  # a resumed crawl's offset Asana no longer takes
                log.info("asana full crawl restarted", extra={"project": project, "reason": _asana_message(refused.body)})
                yield from self._full_crawl(project, count)
                return
        if progress is not None:
            live = yield from self._relist(project, seen, gone, open_linked, count)

        started = started or self._clock()
        update = self._newest_status_update(project, count)
        snapshot = mapping.compact_status_update(update)
        final = self._status_batch(project, snapshot, open_linked)
        final.live_refs = frozenset(live | {mapping.status_update_ref(project)})
        final.cursor = AsanaCursor(
            mode=mode,
            crawled_at=_iso(started),
            config=self._fingerprint,
            sync=sync if mode == "events" else None,
            since=_iso(started - self._poll_overlap) if mode == "poll" else None,
            open=sorted(open_linked),
            status=snapshot,
            index=self._index_fingerprint,
            linked={g: self._index[g] for g in sorted(live) if g in self._index},
        ).dump()
        final.requests = count.take()
        yield final

    def _people_batch(self, count: RequestCount) -> Iterator[SyncBatch]:
        """The workspace's users, once per connector (when configured)."""
        if self._config.workspace and self._config.workspace_users and self._take_people_turn():
            applied = False
            try:
                yield SyncBatch(people=self._workspace_people(self._config.workspace, count), requests=count.take())
                applied = True  # the store applied the batch: no other partition sends them
            finally:
                if not applied:
                    with self._people_lock:
                        self._people_taken = False

    def _relist(
        self, project: str, seen: set[str], gone: set[str], open_linked: set[str], count: RequestCount
    ) -> Generator[SyncBatch, None, set[str]]:
        """The end of a crawl spread over runs: its pages were read by offset at different times,
        and tasks added or moved in between shift them. The project's task gids are listed again
        in one go (100 a request, nothing else asked) for what is live; a linked task the pages
        missed is read now (its claims, in one more batch), so nothing live is retracted."""
        live: set[str] = set()
        for tasks, _ in self._http.pages(
            count,
            f"Asana project {project}",
            self._http.tasks.get_tasks_for_project,
            project,
            opts={"opt_fields": "gid", "limit": 100},  # the largest page: nothing else is asked
            limit=False,
        ):
            live.update(str(t["gid"]) for t in tasks)
        live -= gone
        open_linked.intersection_update(live)
        missed = sorted(g for g in live if g in self._index and g not in seen)
        if missed:
            fetched = self._map(lambda gid: self._get_task(project, gid, count), missed)
            result = self._task_claims(project, [t for t in fetched if t is not None], count)
            gone_now = result.gone | {gid for gid, task in zip(missed, fetched) if task is None}
            live -= gone_now
            open_linked.difference_update(gone_now)
            open_linked.update(result.open)
            result.retractions += [Retraction(Source.ASANA, gid) for gid, task in zip(missed, fetched) if task is None]
            yield result.batch(count.take())
        return live

    def _workspace_people(self, workspace: str, count: RequestCount) -> list[PersonRecord]:
        """The workspace's users as person records (the endpoint takes no `limit`: up to 2,000
        users an answer, further pages by `offset`)."""
        users: list[dict[str, Any]] = []
        for page, _ in self._http.pages(
            count,
            f"Asana workspace {workspace}",
            self._http.users.get_users_for_workspace,
            workspace,
            opts={"opt_fields": USER_OPT_FIELDS},
            limit=False,
        ):
            users.extend(page)
        return sorted(mapping.people_in(users).values(), key=lambda p: p.source_id)

    # -- incremental ------------------------------------------------------------------------

    def _incremental(self, project: str, state: AsanaCursor, count: RequestCount) -> Iterator[SyncBatch]:
        if state.index != self._index_fingerprint:
            state = yield from self._relink(project, state, count)
        if state.mode == "events":
            yield from self._events_sync(project, state, count)
        else:
            yield from self._poll_sync(project, state, count)

    def _relink(self, project: str, state: AsanaCursor, count: RequestCount) -> Generator[SyncBatch, None, AsanaCursor]:
        """The deliverable index changed since the cursor was written: list the project's task
        gids once (100 a request, nothing else asked), read only the tasks newly linked or linked
        to another deliverable, and withdraw what unlinked tasks said. No full crawl."""
        live: set[str] = set()
        for tasks, _ in self._http.pages(
            count,
            f"Asana project {project}",
            self._http.tasks.get_tasks_for_project,
            project,
            opts={"opt_fields": "gid", "limit": 100},
            limit=False,
        ):
            live.update(str(t["gid"]) for t in tasks)
        now_linked = {g: self._index[g] for g in sorted(live) if g in self._index}
        relinked = sorted(g for g, key in now_linked.items() if state.linked.get(g) != key)
        unlinked = sorted(g for g in state.linked if g not in now_linked)
        fetched = self._map(lambda gid: self._get_task(project, gid, count), relinked)
        result = self._task_claims(project, [t for t in fetched if t is not None], count)
        gone = result.gone | {gid for gid, task in zip(relinked, fetched) if task is None}
        result.retractions += [Retraction(Source.ASANA, gid) for gid, task in zip(relinked, fetched) if task is None]
        result.retractions += [Retraction(Source.ASANA, gid) for gid in unlinked]
        open_linked = ((set(state.open) & set(now_linked)) - set(relinked)) | result.open
        status = self._status_batch(project, state.status, open_linked)
        batch = result.batch(0)
        batch.observations += status.observations
        batch.retractions += status.retractions
        batch.people += status.people
        relinked_state = state.replace(
            open=sorted(open_linked),
            index=self._index_fingerprint,
            linked={g: key for g, key in now_linked.items() if g not in gone},
        )
        batch.cursor = relinked_state.dump()
        batch.requests = count.take()
        yield batch
        return relinked_state

    # -- incremental: events ----------------------------------------------------------------

    def _events_sync(self, project: str, state: AsanaCursor, count: RequestCount) -> Iterator[SyncBatch]:
        try:
            events, token = self._read_events(project, state.sync, count)
        except _SyncExpired as expired:
            log.info("asana full crawl", extra={"project": project, "reason": "sync token expired"})
            yield from self._full_crawl(project, count, sync=expired.token)
            return
        except _EventsUnavailable:
            log.info("asana full crawl", extra={"project": project, "reason": "events unavailable"})
            yield from self._full_crawl(project, count, mode="poll")
            return
        summary = mapping.summarise_events(events, project, sections_matter=bool(self._config.section_map))
        if summary.recrawl:
            log.info("asana full crawl", extra={"project": project, "reason": "a section changed"})
            yield from self._full_crawl(project, count, sync=token)
            return

        open_linked = set(state.open)
        gone = sorted(g for g in summary.gone if g in self._index)
        changed = sorted(g for g in summary.changed if g in self._index and g not in summary.gone)
        pending = SyncBatch(retractions=[Retraction(Source.ASANA, g) for g in gone])
        open_linked -= set(gone)
        listed = self._tasks_modified_since(project, changed, events, count)
        for start in range(0, len(changed), self._http.page_size):
            chunk = changed[start : start + self._http.page_size]
            fetched = self._map(
                lambda gid: listed[gid] if gid in listed else self._get_task(project, gid, count), chunk
            )
            missing = [gid for gid, task in zip(chunk, fetched) if task is None]
            result = self._task_claims(project, [t for t in fetched if t is not None], count)
            result.retractions += [Retraction(Source.ASANA, gid) for gid in missing]
            open_linked = (open_linked - set(chunk)) | result.open
            batch = result.batch(0)
            if pending.retractions:
                batch.retractions = pending.retractions + batch.retractions
                pending = SyncBatch()
            batch.requests = count.take()
            yield batch

        snapshot = state.status
        if summary.status:
            snapshot = mapping.compact_status_update(self._newest_status_update(project, count))
        if summary.status or open_linked != set(state.open):
            final = self._status_batch(project, snapshot, open_linked)
        else:
            final = SyncBatch()
        final.retractions = pending.retractions + final.retractions
        final.cursor = state.replace(sync=token, open=sorted(open_linked), status=snapshot).dump()
        final.requests = count.take()
        yield final

    def _tasks_modified_since(
        self, project: str, changed: list[str], events: list[dict[str, Any]], count: RequestCount
    ) -> dict[str, dict[str, Any]]:
        """Two or more changed linked tasks: the project's tasks modified since the oldest event
        (less the poll overlap), read by pages instead of one `GET /tasks/{gid}` each. A changed
        task the listing lacks (deleted, moved out) is then read alone, which tells which."""
        times = [mapping.parse_time(e.get("created_at")) for e in events]
        if len(changed) < 2 or not times or None in times:
            return {}
        since = min(t for t in times if t is not None) - self._poll_overlap
        wanted = set(changed)
        found: dict[str, dict[str, Any]] = {}
        for tasks, _ in self._http.pages(
            count,
            f"Asana project {project}",
            self._http.tasks.get_tasks_for_project,
            project,
            opts={"opt_fields": mapping.TASK_OPT_FIELDS, "modified_since": _iso(since)},
        ):
            found.update((str(t["gid"]), t) for t in tasks if str(t["gid"]) in wanted)
        return found

    def _fresh_sync_token(self, project: str, count: RequestCount) -> str | None:
        """A sync token from now on (from the 412 answer), or None when events are unavailable."""
        try:
            body, _ = self._http.call(
                count,
                f"Asana project {project}",
                self._http.events.get_events,
                project,
                {},
                expect=(412, *EVENTS_UNAVAILABLE),
            )
        except _Status as exc:
            if exc.status == 412:
                token = _body_json(exc.body).get("sync")
                if token:
                    return str(token)
                raise ConnectorError(f"Asana project {project}: /events gave no sync token") from None
            log.info("asana events unavailable", extra={"project": project, "status": exc.status})
            return None
        return str(body["sync"]) if body.get("sync") else None

    def _read_events(self, project: str, token: str | None, count: RequestCount) -> tuple[list[dict[str, Any]], str]:
        events: list[dict[str, Any]] = []
        while True:
            try:
                body, _ = self._http.call(
                    count,
                    f"Asana project {project}",
                    self._http.events.get_events,
                    project,
                    {"sync": token},
                    expect=(412, *EVENTS_UNAVAILABLE),
                )
            except _Status as exc:
                if exc.status == 412:
                    raise _SyncExpired(_body_json(exc.body).get("sync")) from None
                raise _EventsUnavailable(exc.status) from None
            events.extend(body.get("data") or [])
            token = str(body.get("sync") or token)
            if not body.get("has_more"):
                return events, token

    # -- incremental: polling ---------------------------------------------------------------

    def _poll_sync(self, project: str, state: AsanaCursor, count: RequestCount) -> Iterator[SyncBatch]:
        open_linked = set(state.open)
        started: datetime | None = None
        for tasks, headers in self._http.pages(
            count,
            f"Asana project {project}",
            self._http.tasks.get_tasks_for_project,
            project,
            opts={"opt_fields": mapping.TASK_OPT_FIELDS, "modified_since": state.since},
        ):
            started = started or _server_time(headers) or self._clock()
            linked = [t for t in tasks if str(t["gid"]) in self._index]
            result = self._task_claims(project, linked, count)
            open_linked = (open_linked - {str(t["gid"]) for t in linked}) | result.open
            result.people = {**mapping.people_in(t.get("assignee") for t in tasks), **result.people}
            if linked:
                yield result.batch(count.take())
        started = started or self._clock()
        snapshot = mapping.compact_status_update(self._newest_status_update(project, count))
        if snapshot != state.status or open_linked != set(state.open):
            final = self._status_batch(project, snapshot, open_linked)
        else:
            final = SyncBatch()
        final.cursor = state.replace(
            since=_iso(started - self._poll_overlap), open=sorted(open_linked), status=snapshot
        ).dump()
        final.requests = count.take()
        yield final

    # -- pieces -----------------------------------------------------------------------------

    def _task_claims(self, project: str, tasks: list[dict[str, Any]], count: RequestCount) -> _TaskClaims:
        """Claims of linked tasks (stories fetched concurrently); a task's claims come together."""
        result = _TaskClaims()
        stories = self._map(lambda t: self._stories(project, str(t["gid"]), count), tasks)
        for task, task_stories in zip(tasks, stories):
            gid = str(task["gid"])
            if task_stories is None or not mapping.in_project(task, project):
                result.gone.add(gid)
                result.retractions.append(Retraction(Source.ASANA, gid))
                continue
            claims = mapping.task_claims(
                task,
                task_stories,
                project_gid=project,
                deliverable_key=self._index[gid],
                config=self._config,
                index=self._index,
                tz=self._tz,
            )
            if claims:
                result.observations.extend(claims)
            else:  # the task says nothing any more: withdraw what it said before
                result.retractions.append(Retraction(Source.ASANA, gid))
            result.people.update(mapping.task_people(task, task_stories))
            if not task.get("completed"):
                result.open.add(gid)
        return result

    def _stories(self, project: str, gid: str, count: RequestCount) -> list[dict[str, Any]] | None:
        """A task's stories, oldest first; None when the task is gone (404) or hidden (403)."""
        stories: list[dict[str, Any]] = []
        try:
            for page, _ in self._http.pages(
                count,
                f"Asana task {gid} (project {project})",
                self._http.stories.get_stories_for_task,
                gid,
                opts={"opt_fields": mapping.STORY_OPT_FIELDS},
                expect=(403, 404),
            ):
                stories.extend(page)
        except _Status:
            return None
        return stories

    def _get_task(self, project: str, gid: str, count: RequestCount) -> dict[str, Any] | None:
        try:
            body, _ = self._http.call(
                count,
                f"Asana task {gid} (project {project})",
                self._http.tasks.get_task,
                gid,
                {"opt_fields": mapping.TASK_OPT_FIELDS},
                expect=(403, 404),
            )
        except _Status:
            return None
        data = body.get("data")
        return data if isinstance(data, dict) else None

    def _newest_status_update(self, project: str, count: RequestCount) -> dict[str, Any] | None:
        body, _ = self._http.call(
            count,
            f"Asana project {project}",
            self._http.status_updates.get_statuses_for_object,
            project,
            {"opt_fields": mapping.STATUS_UPDATE_OPT_FIELDS, "limit": min(self._http.page_size, 20)},
        )
        return mapping.newest_status_update(body.get("data") or [])

    def _status_batch(self, project: str, snapshot: dict[str, Any] | None, open_linked: Iterable[str]) -> SyncBatch:
        """The status update's claims about every open linked task in the project (all or none)."""
        keys = [self._index[g] for g in open_linked if g in self._index]
        claims = (
            mapping.status_update_claims(snapshot, project_gid=project, deliverable_keys=keys, config=self._config)
            if snapshot
            else []
        )
        if not claims:
            return SyncBatch(retractions=[Retraction(Source.ASANA, mapping.status_update_ref(project))])
        people = mapping.people_in([snapshot.get("author")]) if snapshot else {}
        return SyncBatch(observations=claims, people=list(people.values()))

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`fn` over `items`, up to `concurrent_requests` at a time; the first error wins."""
        if self._workers == 1 or len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self._workers, len(items)), thread_name_prefix="asana") as pool:
            futures = [pool.submit(fn, item) for item in items]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
