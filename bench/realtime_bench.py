"""Real time (issue #16): how fast a Slack message reaches its owner by event, and what a day of
a busy workspace costs in Slack requests with events on against polling only.

    .venv/bin/python bench/realtime_bench.py latency [--messages 200] [--mode socket|http|both]
    .venv/bin/python bench/realtime_bench.py requests [--channels 20] [--messages 2000]

Latency: the sandbox (in this process, loopback HTTP and a local WebSocket) posts a message
naming one of 200 deliverables as blocked while a manual claim says on track, and pushes its
`message` event to the Slack app (the real slack-bolt; Socket Mode, or signed HTTP posts to the
app's WSGI server). The app states it, stores it (SQLite), reconciles and runs the notifier,
which DMs the owner. Latency is the DM's ts minus the message's ts, both stamped by the sandbox's
clock. One message every `--pace` seconds (default 0.25), owners round robin over `--owners`
people (default 200: every message is its owner's first notice). Notifier: the default timing
(group_wait 3 s, group_interval 5 min; the DM planned by the event is sent by the intake's alarm
when its window opens), quiet hours off. With fewer owners than messages, an owner's later
findings wait for group_interval after their previous DM, by design (batched, not late); the
run then waits for them and reports first notices and batched ones apart.

Requests: a simulated day (clock injected, messages posted with their ts) of `--channels`
channels and `--messages` messages, a third of them thread replies (some to threads older than
the two-week watch), a few edits and deletions. Polling only: every channel every 5 minutes.
Events on: each message, edit and deletion pushed to the intake as the Events API would, and
every channel polled every 30 minutes (the safety net). Counted: the Slack Web API requests the
sync makes (DMs are left out: the same in both).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from connectors.base import ClaimKind, Field, Observation, Source, SyncBatch  # noqa: E402
from connectors.sandbox import Sandbox, parse_scenario  # noqa: E402
from connectors.slack.client import make_web_client  # noqa: E402
from reconciler import pipeline, store  # noqa: E402
from reconciler.db import session_scope  # noqa: E402
from reconciler.pipeline import Runtime, open_store  # noqa: E402
from reconciler.protocol import load_config  # noqa: E402
from reconciler.settings import Settings  # noqa: E402

OWNERS = 20
DELIVERABLES = 200
TOKEN = "xoxb-bench-token"
APP_TOKEN = "xapp-bench-token"
SECRET = "bench-signing-secret"


def config_text(channels: list[str], owners: int = OWNERS) -> str:
    people = "\n".join(
        f'[[people]]\nkey = "p{i:03d}"\nname = "Person {i}"\nemail = "p{i:03d}@bench.test"\nslack_id = "U{1000 + i}"\n'
        for i in range(owners)
    )
    deliverables = "\n".join(
        f'[[deliverables]]\nkey = "feat-{i:03d}"\ntitle = "Feature {i:03d}"\nowner = "p{i % owners:03d}"\n'
        for i in range(DELIVERABLES)
    )
    zone = json.dumps(channels)
    return f"""timezone = "UTC"
default_role = "engineering"
[slack]
channels = {zone}
{people}
[[roles]]
name = "engineering"
lead = "p000"
head = "p001"
zones = {{ slack_channels = {zone} }}
escalation = [{{ after = "0h", to = "owner", when = "always" }}]
{deliverables}"""


def scenario(channels: int, *, messages: list[dict[str, Any]] | None = None, owners: int = OWNERS) -> dict[str, Any]:
    users = [{"id": f"U{1000 + i}", "name": f"p{i:03d}", "real_name": f"Person {i}",
              "profile": {"email": f"p{i:03d}@bench.test"}} for i in range(owners)]
    return {"slack": {"team": {"id": "T1", "domain": "bench"}, "bot": {"user_id": "U0BOT", "bot_id": "B0BOT"},
                      "users": users,
                      "channels": [{"id": f"C{i:03d}", "name": f"ch{i:03d}"} for i in range(channels)],
                      "messages": messages or []}}


def runtime(sandbox: Sandbox, db: Path, channels: list[str], *, clock: Any = None, owners: int = OWNERS,
            default_timing: bool = False) -> Runtime:
    path = db / "config.toml"
    path.write_text(config_text(channels, owners))
    config = load_config(path)
    timing = {} if default_timing else {"group_wait": "0s", "group_interval": "0s"}
    alerts = config.alerts.model_copy(update={**timing, "quiet_hours": None})
    config = config.model_copy(update={"alerts": alerts})
    settings = Settings(slack_bot_token=SecretStr(TOKEN), slack_base_url=sandbox.slack_base_url)
    engine = open_store(f"sqlite:///{db / 'bench.db'}")
    rt = Runtime(settings=settings, config=config, engine=engine, **({"clock": clock} if clock else {}))
    pipeline.apply_config(rt)
    return rt


def seed_on_track(rt: Runtime, now: datetime) -> None:
    claims = [Observation(f"feat-{i:03d}", Source.MANUAL, f"manual:{i}", Field.STATUS, "on_track",
                          now - timedelta(days=1), ClaimKind.STATE, author="p000") for i in range(DELIVERABLES)]
    with session_scope(rt.engine) as session:
        store.apply_batch(session, source=Source.MANUAL, partition="manual", batch=SyncBatch(observations=claims), now=now)


def _ts(value: str) -> float:
    seconds, _, micros = value.partition(".")
    return int(seconds) + int((micros + "000000")[:6]) / 1e6


# -- latency -----------------------------------------------------------------------------------


def latency(mode: str, messages: int, pace: float, owners: int) -> dict[str, Any]:
    from reconciler.protocol import parse_duration
    from reconciler.slackapp.app import build_app, http_server, socket_mode_handler
    from reconciler.slackapp.events import SlackEventIntake

    with tempfile.TemporaryDirectory() as tmp, Sandbox(parse_scenario(scenario(1, owners=owners)), port=0) as sandbox:
        rt = runtime(sandbox, Path(tmp), ["C000"], owners=owners, default_timing=True)
        timing = {"group_wait": rt.config.alerts.group_wait, "group_interval": rt.config.alerts.group_interval}
        seed_on_track(rt, datetime.now(timezone.utc))
        for report in pipeline.sync_all(rt, sources=[Source.SLACK]):
            assert report.ok, report.error
        pipeline.reconcile_all(rt)
        pipeline.plan_notifications(rt)
        pipeline.deliver_notifications(rt)
        client = make_web_client(TOKEN, sandbox.slack_base_url)
        intake = SlackEventIntake(rt)
        app, _ = build_app(rt, client, signing_secret=SECRET, events=intake)
        stop: Any
        if mode == "socket":
            handler = socket_mode_handler(app, app_token=APP_TOKEN, client=client)
            handler.connect()
            assert sandbox.slack_app.socket_mode is not None
            sandbox.slack_app.socket_mode.wait_connected()
            stop = handler.close
        else:
            server = http_server(app, host="127.0.0.1", port=0)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            sandbox.slack_app.deliver_events_over_http(
                f"http://127.0.0.1:{server.server_address[1]}/slack/events", signing_secret=SECRET)
            stop = server.shutdown
        posted: dict[str, float] = {}  # deliverable title -> message ts
        first_notice: set[str] = set()  # titles whose message was its owner's first finding
        told: set[int] = set()
        try:
            for i in range(messages):
                key = i % DELIVERABLES
                ts, _ = sandbox.slack_app.post_and_emit("C000", f"U{1000 + (i + 7) % owners}",
                                                        f"feat-{key:03d} is blocked on the vendor")
                posted[f"Feature {key:03d}"] = _ts(ts)
                if key % owners not in told:
                    told.add(key % owners)
                    first_notice.add(f"Feature {key:03d}")
                time.sleep(pace)
            batched = len(posted) > len(first_notice)
            deadline = time.monotonic() + 60 + (parse_duration(timing["group_interval"]).total_seconds() if batched else 0)
            found: dict[str, float] = {}
            while time.monotonic() < deadline and len(found) < len(posted):
                for dm in sandbox.posted_messages():
                    if dm.get("method") != "chat.postMessage":
                        continue
                    text = json.dumps(dm)
                    for title, at in posted.items():
                        if title not in found and title in text:
                            found[title] = _ts(str(dm["ts"])) - at
                time.sleep(0.2)
        finally:
            stop()
            intake.alarm.stop()
        seconds = sorted(found.values())
        firsts = sorted(v for k, v in found.items() if k in first_notice)
        later = sorted(v for k, v in found.items() if k not in first_notice)
        return {
            "mode": mode, "messages": messages, "owners": owners, "pace_s": pace, **timing,
            "dms_found": len(seconds), **_figures("", seconds),
            "first_notices": len(firsts), **(_figures("first_", firsts) if later else {}),
            "batched": len(later), **_figures("batched_", later),
            "counts": vars(intake.counts),
        }


def _figures(prefix: str, seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    return {f"{prefix}p50_s": round(statistics.median(seconds), 3),
            f"{prefix}p95_s": round(seconds[max(0, int(len(seconds) * 0.95) - 1)], 3),
            f"{prefix}max_s": round(seconds[-1], 3)}


# -- requests of a day -------------------------------------------------------------------------


SYNC_METHODS = ("auth.test", "conversations.list", "conversations.history", "conversations.replies",
                "users.info", "chat.getPermalink")


def day_of_traffic(channels: int, messages: int, start: datetime, seed: int = 7) -> tuple[list[dict[str, Any]], list[tuple]]:
    """Old threads (30 days back, in the scenario) and the day's actions in time order:
    ("post", channel, user, text, thread_ts|None, ts), ("edit", channel, ts, text, at), ("delete", channel, ts, at)."""
    rng = random.Random(seed)
    old = []
    for c in range(channels):
        for k in range(3):
            ts = f"{int((start - timedelta(days=30)).timestamp()) + c * 10 + k}.000100"
            old.append({"channel": f"C{c:03d}", "ts": ts, "user": "U1000", "text": f"feat-{(c * 3 + k) % DELIVERABLES:03d} rollout thread"})
    actions: list[tuple] = []
    parents: dict[str, list[str]] = {f"C{c:03d}": [m["ts"] for m in old if m["channel"] == f"C{c:03d}"] for c in range(channels)}
    step = 86400 / messages
    phrases = ["is on track", "is blocked on review", "is at risk", "slipped to next week", "looks good", "is done"]
    for i in range(messages):
        at = start + timedelta(seconds=i * step + rng.random() * step * 0.5)
        ts = f"{int(at.timestamp())}.{at.microsecond:06d}"
        channel = f"C{rng.randrange(channels):03d}"
        text = f"feat-{rng.randrange(DELIVERABLES):03d} {rng.choice(phrases)}"
        thread = None
        if rng.random() < 1 / 3 and parents[channel]:
            # mostly recent threads, one in ten an old one
            thread = rng.choice(parents[channel][:3]) if rng.random() < 0.1 else rng.choice(parents[channel][-5:])
        actions.append(("post", channel, f"U{1000 + rng.randrange(OWNERS)}", text, thread, ts))
        if thread is None:
            parents[channel].append(ts)
        if rng.random() < 0.03:
            actions.append(("edit", channel, ts, text + " (edited)", at + timedelta(minutes=2)))
        elif rng.random() < 0.01:
            actions.append(("delete", channel, ts, at + timedelta(minutes=3)))
    actions.sort(key=lambda a: a[-1] if isinstance(a[-1], datetime) else datetime.fromtimestamp(_ts(a[-1]), timezone.utc))
    return old, actions


def requests_of_a_day(channels: int, messages: int, *, events: bool) -> dict[str, Any]:
    from connectors.slack.events import message_change  # noqa: F401 - the intake maps the events
    from reconciler.slackapp.events import SlackEventIntake

    start = datetime(2026, 11, 16, 0, 0, tzinfo=timezone.utc)
    old, actions = day_of_traffic(channels, messages, start)
    clock = [start]
    with tempfile.TemporaryDirectory() as tmp, Sandbox(parse_scenario(scenario(channels, messages=old)), port=0) as sandbox:
        names = [f"C{c:03d}" for c in range(channels)]
        rt = runtime(sandbox, Path(tmp), names, clock=lambda: clock[0])
        pipeline.sync_all(rt, sources=[Source.SLACK])  # the first read, before the day starts
        sandbox.reset_counts()
        intake = SlackEventIntake(rt)
        app = sandbox.slack_app
        poll_every = timedelta(minutes=30 if events else 5)
        next_poll = start + poll_every
        queue = list(actions)
        end = start + timedelta(days=1)
        polls = 0

        def act(action: tuple) -> None:
            kind = action[0]
            if kind == "post":
                _, channel, user, text, thread, ts = action
                if thread is not None and thread not in sandbox.slack.messages[channel]:
                    thread = None
                sandbox.slack.post(channel, user, text, thread_ts=thread, ts=ts)
                event = app.message_event(channel, ts)
            elif kind == "edit":
                _, channel, ts, text, _at = action
                if ts not in sandbox.slack.messages[channel]:
                    return
                previous = app._shown(channel, ts)
                sandbox.slack.edit(channel, ts, text)
                event = app.message_changed_event(channel, ts, previous)
            else:
                _, channel, ts, _at = action
                if ts not in sandbox.slack.messages[channel]:
                    return
                previous = app._shown(channel, ts)
                sandbox.slack.delete(channel, ts)
                event = (app.message_changed_event(channel, ts, previous) if ts in sandbox.slack.messages[channel]
                         else app.message_deleted_event(channel, ts, previous))
            if events:
                intake.on_message(event, event_id=None)

        while clock[0] < end:
            while queue and _when(queue[0]) <= next_poll:
                action = queue.pop(0)
                clock[0] = max(clock[0], _when(action))
                act(action)
            clock[0] = next_poll
            pipeline.sync_all(rt, sources=[Source.SLACK])
            polls += 1
            next_poll += poll_every
        counts = sandbox.request_counts()
        by_method = {m: sum(v for k, v in counts.items() if k.endswith(m)) for m in SYNC_METHODS}
        return {"events": events, "channels": channels, "messages": messages, "actions": len(actions),
                "poll_every_min": poll_every.total_seconds() / 60, "polls": polls,
                "requests": sum(by_method.values()), "by_method": {k: v for k, v in by_method.items() if v},
                "intake": vars(intake.counts)}


def _when(action: tuple) -> datetime:
    last = action[-1]
    return last if isinstance(last, datetime) else datetime.fromtimestamp(_ts(last), timezone.utc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--messages", type=int, default=200)
    lat.add_argument("--pace", type=float, default=0.25)
    lat.add_argument("--mode", choices=["socket", "http", "both"], default="both")
    lat.add_argument("--owners", type=int, default=DELIVERABLES)
    req = sub.add_parser("requests")
    req.add_argument("--channels", type=int, default=20)
    req.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    if args.what == "latency":
        for mode in (["socket", "http"] if args.mode == "both" else [args.mode]):
            print(json.dumps(latency(mode, args.messages, args.pace, args.owners)), flush=True)
    else:
        for events in (False, True):
            print(json.dumps(requests_of_a_day(args.channels, args.messages, events=events)), flush=True)


if __name__ == "__main__":
    main()
