"""One HTTP call loop for every connector: limiter, counting, classification, backoff.

A source supplies two functions: `send()` makes one attempt (an SDK call, an HTTP request) and
`classify(answer_or_exception)` says what it means: `Ok(value)`, `RetryAfter(seconds)` (rate
limited), `Retry(problem)` (a 5xx, a reset, a cut-off body) or `Fatal(error)`. `call` does the
rest the same way for all of them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from connectors.base import RateLimiter, TransientError, UnreachableError

T = TypeVar("T")
A = TypeVar("A")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ok(Generic[T]):
    """The attempt succeeded: `value` is what `call` returns."""

    value: T


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """Rate limited (429): wait `seconds` (the server's Retry-After; None: it did not say, back
    off instead) and try again. Counted as throttled."""

    seconds: float | None
    problem: str = "rate limited (429)"


@dataclass(frozen=True, slots=True)
class Retry:
    """A failure that may pass: back off and try again.

    `answered`: an HTTP answer came (a 5xx, a cut-off body); False for a refused connection or a
    timeout: when no attempt was answered, the loop ends in `UnreachableError`.
    `outcome_unknown`: the request may have been carried out (a write's `confirm` is asked)."""

    problem: str
    answered: bool = True
    outcome_unknown: bool = False


@dataclass(frozen=True, slots=True)
class Fatal:
    """Stop now and raise `error` (a bad token, a 404, or a status the caller handles itself)."""

    error: BaseException


Verdict = Ok[T] | RetryAfter | Retry | Fatal


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of
    min(cap, base * 2**n) seconds."""

    base: float = 0.5
    cap: float = 60.0

    def ceiling(self, attempt: int) -> float:
        return min(self.cap, self.base * (2 ** min(attempt, 64)))

    def delay(self, attempt: int, uniform: Callable[[float, float], float] = random.uniform) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + uniform(0, ceiling / 2)


class RequestCount:
    """Requests made for one pull (every attempt, retries included) and, of them, answers that
    were 429; thread-safe. `take()` / `take_throttled()` give what is new since the last take
    (what the next batch reports)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._taken = 0
        self._throttled = 0

    def add(self) -> None:
        with self._lock:
            self._total += 1

    def throttle(self) -> None:
        """One answer was 429: rate limited."""
        with self._lock:
            self._throttled += 1

    def take_throttled(self) -> int:
        """429 answers since the last take."""
        with self._lock:
            fresh, self._throttled = self._throttled, 0
            return fresh

    @property
    def total(self) -> int:
        return self._total

    def take(self) -> int:
        """Requests since the last take."""
        with self._lock:
            fresh, self._taken = self._total - self._taken, self._total
            return fresh


@dataclass(frozen=True)
class CallPolicy:
    """How a source's calls are made: under `limiter` (key `limiter_key`), with up to
    `max_retries` retries after the first attempt, `backoff` between them (a 429's Retry-After
    instead, when given), `sleep` to wait (tests pass a fake), retries logged as "<name> retry"."""

    limiter: RateLimiter
    limiter_key: str
    max_retries: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], None] = time.sleep
    name: str = "http"
    logger: logging.Logger = log

    @property
    def attempts(self) -> int:
        return max(0, self.max_retries) + 1


def call(
    send: Callable[[], A],
    classify: Callable[[A | Exception], Verdict[T]],
    *,
    policy: CallPolicy,
    count: RequestCount,
    where: str,
    confirm: Callable[[], T | None] | None = None,
) -> T:
    """Attempt `send()` until `classify` says Ok or Fatal, or the retries are spent.

    Every attempt waits for the limiter and releases it after, and is counted (`RetryAfter`
    answers also as throttled). `confirm` makes a write exactly-once: after an attempt whose
    outcome is unknown it is asked, before any retry and before giving up, for what the write
    made; what it finds (not None) is the answer, and the write is not sent again.

    Spent retries raise `TransientError("<where>: <problem>; gave up after N attempts")`, or
    `UnreachableError` when no attempt got an HTTP answer."""
    problem = "no attempt made"
    answered = False  # by an HTTP response, in any attempt
    unknown = False  # the last attempt may have been carried out
    attempts = policy.attempts
    for attempt in range(attempts):
        if unknown and confirm is not None:
            found = confirm()
            if found is not None:
                return found
        policy.limiter.acquire(policy.limiter_key)
        answer: A | Exception
        try:
            count.add()
            answer = send()
        except Exception as exc:  # noqa: BLE001 - the classifier decides what an exception means
            answer = exc
        finally:
            policy.limiter.release(policy.limiter_key)
        verdict = classify(answer)
        wait: float | None = None
        if isinstance(verdict, Ok):
            return verdict.value
        if isinstance(verdict, Fatal):
            if verdict.error is answer:
                raise verdict.error  # an exception nobody classified: as it was raised
            raise verdict.error from None
        if isinstance(verdict, RetryAfter):
            count.throttle()
            answered, unknown, wait = True, False, verdict.seconds
        else:
            answered, unknown = answered or verdict.answered, verdict.outcome_unknown
        problem = verdict.problem
        if attempt == attempts - 1:
            break
        wait = policy.backoff.delay(attempt) if wait is None else wait
        policy.logger.info(
            f"{policy.name} retry", extra={"where": where, "problem": problem, "attempt": attempt + 1, "wait": wait}
        )
        policy.sleep(wait)
    if unknown and confirm is not None:
        found = confirm()
        if found is not None:
            return found
    error = TransientError if answered else UnreachableError
    raise error(f"{where}: {problem}; gave up after {attempts} attempt{'s' if attempts > 1 else ''}")
