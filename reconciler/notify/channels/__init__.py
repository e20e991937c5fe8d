"""Channels: how a channel-neutral MessageView reaches a person (Slack DM first)."""

from reconciler.notify.channels.base import (
    Address,
    Channel,
    DeliveryError,
    Payload,
    PermanentError,
    Receipt,
    RetryableError,
    Sent,
)

__all__ = [
    "Address", "Channel", "DeliveryError", "Payload", "PermanentError", "Receipt", "RetryableError", "Sent",
]
