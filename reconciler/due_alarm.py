"""Deliver a DM when it falls due, in the process that planned it.

A pushed event (Slack message, Asana webhook) plans its DM at once, but the DM is due only when
its window opens (`group_wait` after a first notice, `group_interval` after the recipient's
previous DM). Without a wake-up it would wait for the next sweep (`SWEEP_INTERVAL`, or the
embedded loop's tick). The alarm keeps the due times of what this process planned, sleeps until
the earliest, and runs the ordinary delivery then (rows are claimed under a lock, so a sweep that
gets there first leaves it nothing to do). It holds times only, never rows: if the process stops,
the sweep delivers. Times further away than `horizon` (quiet hours) are left to the sweep.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.notify import PlanReport

log = logging.getLogger(__name__)

HORIZON = timedelta(hours=1)
MAX_SLEEP = 30.0  # seconds: a clock moved by hand is noticed within this


class DueAlarm:
    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        deliver: Callable[[], object],
        exclusive: AbstractContextManager[object] | None = None,
        horizon: timedelta = HORIZON,
    ) -> None:
        self._now = now
        self._deliver = deliver
        self._exclusive = exclusive or nullcontext()  # e.g. the event intake's lock (one writer for SQLite)
        self._horizon = horizon
        self._due: list[datetime] = []
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def expect(self, plan: PlanReport | None) -> None:
        """Remember when the notices just planned fall due (those due already were delivered by
        the step that planned them)."""
        if plan is None:
            return
        now = self._now()
        times = {n.not_before for n in plan.notices if n.not_before is not None and now < n.not_before <= now + self._horizon}
        if not times:
            return
        with self._wake:
            for at in times:
                if at not in self._due:
                    heapq.heappush(self._due, at)
            self._start()
            self._wake.notify_all()

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def waiting(self) -> list[datetime]:
        with self._wake:
            return sorted(self._due)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="due-alarm", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                while not self._stop.is_set() and not self._fell_due():
                    self._wake.wait(self._sleep())
                if self._stop.is_set():
                    return
                now = self._now()
                while self._due and self._due[0] <= now:
                    heapq.heappop(self._due)
            try:
                with self._exclusive:
                    self._deliver()
            except Exception as exc:  # noqa: BLE001 - the sweep delivers what this misses
                log.warning("delivery on time failed: %s", type(exc).__name__)

    def _fell_due(self) -> bool:
        return bool(self._due) and self._due[0] <= self._now()

    def _sleep(self) -> float:
        if not self._due:
            return MAX_SLEEP
        return min(MAX_SLEEP, max(0.01, (self._due[0] - self._now()).total_seconds()))
