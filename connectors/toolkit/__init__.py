"""The small HTTP toolkit every connector uses, so a source keeps only its mapping:

* `calls`: one call loop (`call`): each attempt under the caller's `RateLimiter`, counted
  (`RequestCount`, 429s apart); a source's classifier turns an answer or an exception into a
  `Verdict` (`Ok`, `RetryAfter`, `Retry`, `Fatal`); retries back off with jitter (`Backoff`);
  spent retries end in a `TransientError`, or `UnreachableError` when no attempt got an answer.
* `paging`: paginators (`OffsetPaginator` for Asana's `next_page.offset`, `CursorPaginator` for
  Slack's `response_metadata.next_cursor`) that yield pages and keep the resume position.
* `cursors`: `CursorModel`, a pydantic base for the cursor a connector stores per partition
  (`dump()` to compact JSON with its version, `load()` that answers None for what it cannot read).
"""

from connectors.toolkit.calls import Backoff, CallPolicy, Fatal, Ok, RequestCount, Retry, RetryAfter, Verdict, call
from connectors.toolkit.cursors import CursorModel
from connectors.toolkit.paging import CursorPaginator, OffsetPaginator, Page, Paginator

__all__ = [
    "Backoff",
    "CallPolicy",
    "CursorModel",
    "CursorPaginator",
    "Fatal",
    "OffsetPaginator",
    "Ok",
    "Page",
    "Paginator",
    "RequestCount",
    "Retry",
    "RetryAfter",
    "Verdict",
    "call",
]
