"""The channel interface the send stage talks to.

A channel turns a channel-neutral `MessageView` into its own payload (`render`), delivers a
payload to a person (`send`), and rewrites a message it sent earlier (`close`). Every failure it
can name is a `RetryableError` or a `PermanentError`; the send stage decides backoff and giving
up from that alone. Any other exception leaves the outbox row claimed, for the lease to reclaim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.messages import MessageView


@dataclass(frozen=True, slots=True)
class Payload:
    """What a channel sends: the plain-text fallback and the channel's rich body (Block Kit for
    Slack). Kept on the outbox row once sent, so the message can be rewritten later."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Sent:
    """Where a message went: the conversation, the message id, and the thread it is in."""

    channel: str
    ts: str
    thread_ts: str | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """Who to send to: the channel's id for the person (None when only an email is known) and,
    for a follow-up, the earlier message to reply under."""

    recipient_key: str
    user_id: str | None
    reply_to: Sent | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    sent: Sent
    found: bool = False  # the outcome was unknown, and the channel showed it had been delivered


class DeliveryError(Exception):
    """A failure the channel understood. `stops_pass`: nothing else will get through now (the
    credentials were revoked, the service does not answer), so the pass ends here."""

    retryable: bool = True

    def __init__(self, message: str, *, stops_pass: bool = False) -> None:
        super().__init__(message)
        self.stops_pass = stops_pass


class RetryableError(DeliveryError):
    """Try again later, with backoff (a timeout, a server error, a missing scope)."""

    retryable = True


class PermanentError(DeliveryError):
    """Trying again cannot help (the person does not exist on the channel)."""

    retryable = False


class Channel(Protocol):
    name: str

    def render(self, view: MessageView) -> Payload:
        """The payload for `view`; pure."""
        ...

    def resolve(self, recipient_key: str, email: str | None) -> str:
        """The channel's id for a person the store knows by email only; PermanentError when
        nobody on the channel has that email (or there is none)."""
        ...

    def send(self, address: Address, payload: Payload, *, mark: str, maybe_sent: bool) -> Receipt:
        """Deliver `payload` once. `mark` names this outbox row among everything ever sent;
        `maybe_sent`: an earlier attempt's outcome is unknown, so look for `mark` first."""
        ...

    def close(self, sent: Sent, payload: Payload, note: str) -> Payload:
        """Rewrite the message at `sent` (whose payload was `payload`) to say its findings are
        closed (`note`); returns the new payload."""
        ...
