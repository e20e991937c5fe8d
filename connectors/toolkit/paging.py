"""Paginators: iterate a list endpoint page by page, one request per page, and keep the
position to resume from (a crawl stores it in its checkpoint and starts there next run)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Page(Generic[A]):
    """One page: its `items`, the whole `answer` fetched (headers, other keys) and `next`, the
    position of the following page (None: this was the last)."""

    items: list[Any]
    answer: A
    next: str | None


def _same(answer: Any) -> Mapping[str, Any]:
    return answer  # type: ignore[no-any-return]


class Paginator(ABC, Generic[A]):
    """Pages from `start` on: `fetch(position)` gets one (position None: the first page) and
    answers the API's reply, or None when the list is gone (a tolerated "not found": the
    iteration ends and `missing` is True). `body` takes the JSON body out of the reply (default:
    the reply is the body); the page's items are `body[items_key]`.

    `position` is where the next page not yet yielded starts: after a page is yielded, its
    `next`; `done` once the last page is yielded."""

    def __init__(
        self,
        fetch: Callable[[str | None], A | None],
        *,
        items_key: str,
        start: str | None = None,
        body: Callable[[A], Mapping[str, Any]] = _same,
    ) -> None:
        self._fetch = fetch
        self._items_key = items_key
        self._body = body
        self.position = start
        self.done = False
        self.missing = False

    @abstractmethod
    def next_position(self, body: Mapping[str, Any]) -> str | None:
        """The position of the page after the one whose body this is (None: it was the last)."""

    def __iter__(self) -> Iterator[Page[A]]:
        while not self.done:
            answer = self._fetch(self.position)
            if answer is None:
                self.done = self.missing = True
                return
            body = self._body(answer)
            following = self.next_position(body) or None
            self.position, self.done = following, following is None
            yield Page(list(body.get(self._items_key) or []), answer, following)


class OffsetPaginator(Paginator[A]):
    """Asana's paging: the next page's position is `next_page.offset`."""

    def __init__(
        self,
        fetch: Callable[[str | None], A | None],
        *,
        items_key: str = "data",
        start: str | None = None,
        body: Callable[[A], Mapping[str, Any]] = _same,
    ) -> None:
        super().__init__(fetch, items_key=items_key, start=start, body=body)

    def next_position(self, body: Mapping[str, Any]) -> str | None:
        return (body.get("next_page") or {}).get("offset") or None


class CursorPaginator(Paginator[A]):
    """Slack's paging: the next page's position is `response_metadata.next_cursor`."""

    def next_position(self, body: Mapping[str, Any]) -> str | None:
        return (body.get("response_metadata") or {}).get("next_cursor") or None
