"""The Celery app: Redis broker from REDIS_URL, JSON only, late acks, one task at a time.

Start a worker with `celery -A workers.celery_app worker` and the one beat with
`celery -A workers.celery_app beat`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import Celery
from kombu import Queue
from celery.signals import setup_logging

from reconciler.settings import SettingsError, get_settings
from workers.logging import configure_logging
from workers.schedule import SYNC_PARTITION, beat_schedule
from workers.settings import WorkerSettings, get_worker_settings


def soft_time_limit(hard: int) -> int:
    """Leave the task a moment to clean up (release its lock) before the hard limit."""
    return hard - max(1, min(30, hard // 10))


def celery_config(redis_url: str, ws: WorkerSettings) -> dict[str, Any]:
    return {
        "broker_url": redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_transport_options": {
            "visibility_timeout": ws.celery_visibility_timeout,
            "unacked_restore_interval": ws.celery_restore_interval,
            "unacked_restore_throttle": ws.celery_restore_throttle,
            "socket_timeout": 10,
            "socket_connect_timeout": 10,
            "retry_on_timeout": True,
            "health_check_interval": 10,
        },
        "broker_channel_error_retry": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_time_limit": ws.task_time_limit,
        "task_soft_time_limit": soft_time_limit(ws.task_time_limit),
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "task_default_queue": ws.celery_queue,
        # syncs on their own queue (a plain worker consumes both; see docker-compose.yml)
        "task_queues": [Queue(ws.celery_queue), Queue(ws.sync_queue)],
        "task_routes": {SYNC_PARTITION: {"queue": ws.sync_queue}},
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(ws),
    }


def make_app() -> Celery:
    app = Celery("reconciler", include=["workers.tasks"])
    try:
        app.conf.update(celery_config(get_settings().redis_url, get_worker_settings()))
    except SettingsError as exc:  # one line naming the variable, not an import traceback
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    return app


@setup_logging.connect
def _use_our_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """Celery leaves logging alone when this signal has a receiver; `--loglevel` (DEBUG
    included) sets the level of our one handler."""
    configure_logging(get_settings(), level=loglevel or logging.INFO)


app = make_app()
