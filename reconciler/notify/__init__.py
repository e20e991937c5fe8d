"""The notifier: stages over an outbox, and channels that deliver it.

    plan (plan.py) -> inhibit/silence (silence.py) -> group/dedup (group.py)   = plan_notifications
    send (send.py over outbox.py) -> a channel (channels/: Slack DM first)     = deliver_pending

pipeline.py holds the order (STAGES): plan turns due conflicts into `Candidate`s of `Notice`s,
and each stage takes the list and returns what goes on. Planning reads conflicts and writes `Notification` rows, each with a channel-neutral view of what
it tells (views.py); it never sends. Sending claims due rows under a lock, has the channel render
the view and send it, and marks the row sent with the payload that went out. Every delay is data
(`Conflict.next_escalation_at`, `Notification.not_before`) selected by the next sweep: nothing
sleeps and nothing is scheduled with a countdown.

Semantics, per conflict episode (an episode starts when the notifier first sees the conflict
active, and again when a closed conflict reopens):

- first notice: level 0 of the role's escalation path (the decision owner; without one the
  role's lead, else its head), `after` level 0's delay; new conflicts for one recipient are
  grouped into one DM per window: the window's DM waits `group_wait`, and a recipient's next
  window opens no sooner than `group_interval` after the previous one;
- escalation: level i fires once, when `after` has elapsed since the episode started and its
  `when` holds (`not_acknowledged`: state open; `not_resolved`: open or acknowledged; `always`);
- reminders: while open, every `repeat_interval`, to the level-0 recipient and the current
  escalation level's recipient; acknowledged conflicts get none;
- ack timeout: an acknowledgement older than `ack_timeout` lapses (state open again, audit event
  `ack_timeout`), which resumes reminders and not_acknowledged escalation;
- resolved/dismissed: told once, to everyone a DM about it was sent to (not to the resolver);
  notices still pending for it are withdrawn;
- silences: a matching snooze or an inhibiting dependency violation stops every notice and is
  recorded in `Conflict.suppressed_by`; when it lifts, whatever is due goes out;
- quiet hours: notices whose conflicts are all non-urgent (severity != high) wait until quiet
  hours end in the recipient's time zone.
"""

from reconciler.notify.channels import (
    Address,
    Channel,
    DeliveryError,
    Payload,
    PermanentError,
    Receipt,
    RetryableError,
    Sent,
)
from reconciler.notify.channels.slack import NOTIFICATION_EVENT, SlackDM
from reconciler.notify.model import (
    AlertTiming,
    DeliveredMessage,
    DeliverReport,
    PlannedNotice,
    PlanReport,
)
from reconciler.notify.outbox import BACKOFF_BASE, BACKOFF_CAP, LEASE_RENEW_EVERY, MAX_ATTEMPTS, SENDING_LEASE
from reconciler.notify.pipeline import STAGES, Stage, plan_notifications
from reconciler.notify.send import deliver_pending
from reconciler.notify.status import next_pending_at, notification_status

__all__ = [
    "Address", "AlertTiming", "BACKOFF_BASE", "BACKOFF_CAP", "Channel", "DeliverReport", "DeliveredMessage",
    "DeliveryError", "LEASE_RENEW_EVERY", "MAX_ATTEMPTS", "NOTIFICATION_EVENT", "Payload", "PermanentError", "PlanReport",
    "PlannedNotice", "Receipt", "RetryableError", "SENDING_LEASE", "STAGES", "Sent", "SlackDM", "Stage", "deliver_pending",
    "next_pending_at", "notification_status", "plan_notifications",
]
