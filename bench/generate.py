"""A sandbox scenario and the matching reconciler config at a given scale, deterministically.

    .venv/bin/python bench/generate.py [--scale 1] [--seed 1] [--anchor YYYY-MM-DD] [--out DIR]

Scale 1 (the default) is a busy workspace: 50 Asana projects with 20,000 tasks, 20 Slack channels
with 100,000 messages (about 30 % of them thread replies), 200 people, and 2,000 deliverables
linked to Asana tasks, with decision owners, aliases, hashtags and dependencies. `--scale 0.1`
divides every count by ten. Writes four files into DIR:

- `scenario.json`: a `connectors.sandbox` scenario (see connectors/sandbox/README.md);
- `reconciler.toml`: the config a team would write for it (people, roles, deliverables with
  `asana_task`, `aliases`, `depends_on`, owners; the projects and channels to read);
- `manifest.json`: counts, what the minimum sync needs (pages, linked tasks, threads), and the
  planted contradictions;
- `changes.json`: the edits `changes(...)` makes for the incremental benchmark.

What is in it. Every linked task carries a Status (On track / At risk / Blocked / Done, with the
story that set it), a due date, an assignee and, for a fifth of them, dependencies on earlier
deliverables that are due no later (so no dependency finding is planted by accident). Slack
talks about deliverables by key, by hashtag or by Asana link, in threads too; what it says agrees
with Asana at the time it is said, or is older than the Asana change that answered it. The
exception is 1 % of the deliverables (`--contradict`): half get a newer Slack message saying
"blocked" while Asana says on track, half a newer Slack date ten days after Asana's. Everything
else is chatter, bots, joins and questions. Time runs over the 90 days before the anchor (default:
today, 00:00 UTC), so the Slack re-read window and thread watch cover the same share of the
history whenever it runs. Same scale, seed and anchor, same files.

`changes(...)` gives the edits the incremental benchmark applies to a running sandbox (1 % of the
tasks and 1 % of the messages by default).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

STATUS_FIELD_GID = "700"
OPTIONS = {"on_track": "701", "at_risk": "702", "blocked": "703", "done": "704"}
OPTION_NAMES = {"701": "On track", "702": "At risk", "703": "Blocked", "704": "Done"}
STATUS_WEIGHTS = [("on_track", 55), ("at_risk", 15), ("blocked", 10), ("done", 20)]
HISTORY_DAYS = 90
WORKSPACE_GID = "1000"
TEAM_DOMAIN = "benchco"

ADJECTIVES = [
    "billing", "checkout", "search", "mobile", "payments", "identity", "growth", "data", "platform", "admin",
    "partner", "pricing", "support", "catalog", "loyalty", "reporting", "onboarding", "security", "shipping",
    "inventory", "messaging", "privacy", "analytics", "storage", "web", "desktop", "android", "ios", "api", "infra",
]
NOUNS = [
    "export", "redesign", "migration", "dashboard", "sdk", "rollout", "pipeline", "audit", "portal", "widget",
    "gateway", "sync", "importer", "cleanup", "upgrade", "launch", "beta", "refresh", "integration", "alerts",
]
FIRST = ["ana", "ben", "chen", "dara", "eli", "fay", "gus", "hana", "ivo", "jo", "kai", "lea", "max", "noa", "omar",
         "pia", "quinn", "raj", "sara", "tom", "uma", "vik", "wen", "xan", "yara", "zoe"]
LAST = ["kim", "ng", "diaz", "okafor", "weber", "park", "rossi", "sato", "haddad", "novak", "silva", "berg",
        "costa", "ito", "khan", "meyer"]

# Texts the claim parser reads as the status in the key (checked by `check_templates`).
STATUS_TEXT = {
    "on_track": ["{r} is on track", "quick update: {r} is on track", "{r} is progressing well, on track"],
    "at_risk": ["{r} is at risk, the estimate looks tight", "heads up: {r} is at risk"],
    "blocked": ["{r} is blocked on the vendor API", "{r} is blocked until legal signs off",
                "update on {r}: blocked, waiting for the vendor"],
    "done": ["{r} is done", "{r} shipped :rocket:"],
}
DATE_TEXT = ["ETA for {r} is {iso}", "{r} should land by {md}", "{r} is planned for {md}"]
REPLY_STATUS_TEXT = {
    "on_track": ["still on track"], "at_risk": ["still at risk"],
    "blocked": ["still blocked, no news from the vendor"], "done": ["yes, it is done"],
}
REPLY_DATE_TEXT = ["target is still {iso}", "we are still aiming for {md}"]
PLANTED_STATUS_TEXT = "{r} is blocked on the vendor API, we lost a week"
PLANTED_DATE_TEXT = "ETA for {r} moved to {iso}"
CHATTER = [
    "thanks!", "+1", "looks good to me", "can someone review my PR?", "lunch anyone?", "standup in 5",
    "who owns the flaky test?", "I will take a look after lunch", "sharing the notes from the sync",
    "nice work everyone", "any updates on the design review?", "ok, makes sense", "let me check with the team",
    "pushed a fix for the typo", "meeting moved to 3pm", "here is the doc link", "agreed", "on it",
]
TOP_LEVEL_NOISE = ["merged the refactor", "deployed the hotfix to prod", "release notes are up"]
QUESTION = ["is {r} done?", "who is working on {r}?", "any news on {r}?"]


@dataclass(frozen=True)
class Scale:
    scale: float = 1.0
    seed: int = 1
    anchor: date = field(default_factory=lambda: datetime.now(UTC).date())
    contradict: float = 0.01

    def n(self, full: int, minimum: int = 1) -> int:
        return max(minimum, round(full * self.scale))

    @property
    def projects(self) -> int:
        return self.n(50)

    @property
    def tasks(self) -> int:
        return self.n(20_000, self.projects)

    @property
    def channels(self) -> int:
        return self.n(20)

    @property
    def messages(self) -> int:
        return self.n(100_000, 10)

    @property
    def deliverables(self) -> int:
        return min(self.tasks, self.n(2_000, 10))

    @property
    def people(self) -> int:
        return self.n(200, 8)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _md(day: date) -> str:
    return f"{day.strftime('%b')} {day.day}"


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


@dataclass
class _Deliverable:
    index: int
    key: str
    hashtag: str
    title: str
    task_gid: str
    project_gid: str
    channel: str
    owner: str  # person key
    role: str
    status: str
    prev_status: str
    status_at: datetime
    due: date
    depends_on: list[str]
    planted: str | None = None  # "status" or "date"
    quiet_after: datetime | None = None  # no other claims after this (planted ones)

    def status_at_time(self, moment: datetime) -> str:
        return self.status if moment >= self.status_at else self.prev_status


def generate(spec: Scale) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(scenario dict, reconciler.toml text, manifest dict)."""
    rng = random.Random(spec.seed)
    anchor = datetime.combine(spec.anchor, time(0, 0), tzinfo=UTC)
    start = anchor - timedelta(days=HISTORY_DAYS)

    # -- people -----------------------------------------------------------------------------
    people: list[dict[str, Any]] = []
    seen_keys: set[str] = set()
    for i in range(spec.people):
        base = f"{FIRST[i % len(FIRST)]}.{LAST[(i // len(FIRST)) % len(LAST)]}"
        key = base if base not in seen_keys else f"{base}{i}"
        seen_keys.add(key)
        people.append({
            "key": key,
            "name": key.replace(".", " ").title(),
            "email": f"{key}@{TEAM_DOMAIN}.test",
            "slack_id": f"U{i + 1:05d}",
            "asana_gid": str(500_000 + i),
            "tz": rng.choice(["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]),
        })

    # -- projects, channels, roles ----------------------------------------------------------
    project_gids = [str(2_000_000 + p) for p in range(spec.projects)]
    channel_ids = [f"C{c + 1:05d}" for c in range(spec.channels)]
    teams = max(1, spec.projects // 5)
    team_of_project = {g: f"team-{p % teams:02d}" for p, g in enumerate(project_gids)}
    channel_of_project = {g: channel_ids[p % spec.channels] for p, g in enumerate(project_gids)}
    su_time = {g: anchor - timedelta(days=rng.uniform(1, 6)) for g in project_gids}

    # -- tasks and deliverables -------------------------------------------------------------
    per_project = [spec.tasks // spec.projects + (1 if p < spec.tasks % spec.projects else 0)
                   for p in range(spec.projects)]
    task_rows: list[tuple[str, str, int]] = []  # (gid, project gid, index in project)
    gid = 30_000_000
    for p, count in enumerate(per_project):
        for t in range(count):
            gid += 1
            task_rows.append((str(gid), project_gids[p], t))
    step = len(task_rows) / spec.deliverables
    linked_rows = {int(i * step) for i in range(spec.deliverables)}

    deliverables: list[_Deliverable] = []
    by_gid: dict[str, _Deliverable] = {}
    tasks: list[dict[str, Any]] = []
    for row_index, (task_gid, project_gid, t) in enumerate(task_rows):
        status = _pick(rng, STATUS_WEIGHTS)
        prev = rng.choice([s for s in ("on_track", "at_risk", "blocked") if s != status])
        created = anchor - timedelta(days=rng.uniform(70, HISTORY_DAYS))
        status_at = anchor - timedelta(days=rng.uniform(5, 60))
        if status == "done":
            due = (status_at - timedelta(days=rng.randint(0, 10))).date()
        else:
            due = spec.anchor + timedelta(days=rng.randint(20, 120))
        assignee = rng.randrange(len(people))
        linked = row_index in linked_rows
        adj, noun = ADJECTIVES[row_index % len(ADJECTIVES)], NOUNS[(row_index // 7) % len(NOUNS)]
        name = f"{adj.title()} {noun} {t + 1}"
        stories = [{
            "gid": f"{task_gid}01",
            "created_at": _iso(status_at),
            "created_by": people[assignee]["asana_gid"],
            "resource_subtype": "enum_custom_field_changed",
            "type": "system",
            "text": f"{people[assignee]['name']} changed Status from \"{OPTION_NAMES[OPTIONS[prev]]}\" "
                    f"to \"{OPTION_NAMES[OPTIONS[status]]}\"",
            "custom_field": STATUS_FIELD_GID,
            "old_enum_value": OPTIONS[prev],
            "new_enum_value": OPTIONS[status],
        }]
        if status == "done":
            stories.append({"gid": f"{task_gid}02", "created_at": _iso(status_at + timedelta(minutes=1)),
                            "created_by": people[assignee]["asana_gid"], "resource_subtype": "marked_complete",
                            "type": "system", "text": f"{people[assignee]['name']} completed this task"})
        if linked:
            for c in range(rng.randint(1, 3)):
                at = created + (status_at - created) * rng.random()
                stories.append({"gid": f"{task_gid}{10 + c}", "created_at": _iso(at),
                                "created_by": people[rng.randrange(len(people))]["asana_gid"],
                                "text": rng.choice(["looks good", "updated the spec", "see the doc"])})
            stories.sort(key=lambda s: s["created_at"])
        task = {
            "gid": task_gid,
            "name": name,
            "projects": [project_gid],
            "section": f"{project_gid}{2 if status == 'done' else (1 if status != 'on_track' or t % 2 else 0)}",
            "completed": status == "done",
            "due_on": due.isoformat(),
            "assignee": people[assignee]["asana_gid"],
            "custom_fields": {STATUS_FIELD_GID: OPTIONS[status]},
            "created_at": _iso(created),
            "stories": stories,
        }
        if status == "done":
            task["completed_at"] = _iso(status_at + timedelta(minutes=1))
        tasks.append(task)
        if linked:
            i = len(deliverables)
            d = _Deliverable(
                index=i,
                key=f"{adj}-{noun}-{i:04d}",
                hashtag=f"#{adj[:2]}{noun[:2]}{i}",
                title=name,
                task_gid=task_gid,
                project_gid=project_gid,
                channel=channel_of_project[project_gid],
                owner=people[assignee]["key"],
                role=team_of_project[project_gid],
                status=status,
                prev_status=prev,
                status_at=status_at,
                due=due,
                depends_on=[],
            )
            deliverables.append(d)
            by_gid[task_gid] = d

    # dependencies: on earlier deliverables due no later (done ones only on done ones)
    for d in deliverables[1:]:
        if rng.random() >= 0.2:
            continue
        pool = [e for e in deliverables[max(0, d.index - 200):d.index]
                if e.due <= d.due and (d.status != "done" or e.status == "done")]
        for e in rng.sample(pool, k=min(len(pool), rng.choice([1, 1, 2]))):
            d.depends_on.append(e.key)
    task_by_gid = {t["gid"]: t for t in tasks}
    key_to_gid = {d.key: d.task_gid for d in deliverables}
    for d in deliverables:
        task_by_gid[d.task_gid]["dependencies"] = [key_to_gid[k] for k in d.depends_on]

    # planted contradictions: open, on track, no dependency trouble
    depended_on = {k for d in deliverables for k in d.depends_on}
    candidates = [d for d in deliverables if d.status == "on_track" and d.key not in depended_on]
    planted = rng.sample(candidates, k=min(len(candidates), max(1, round(spec.deliverables * spec.contradict))))
    for n, d in enumerate(planted):
        d.planted = "status" if n % 2 == 0 else "date"
        d.quiet_after = max(su_time[d.project_gid], d.status_at)

    # -- Slack ------------------------------------------------------------------------------
    home: dict[str, list[_Deliverable]] = {c: [] for c in channel_ids}
    for d in deliverables:
        home[d.channel].append(d)
    messages: list[dict[str, Any]] = []
    per_channel = [spec.messages // spec.channels + (1 if c < spec.messages % spec.channels else 0)
                   for c in range(spec.channels)]
    thread_count: dict[str, int] = {}
    top_level_count: dict[str, int] = {}
    authors: set[str] = set()
    span = (anchor - timedelta(minutes=10) - start).total_seconds()
    for c, channel in enumerate(channel_ids):
        budget = per_channel[c]
        used: set[int] = set()

        def stamp(moment: datetime, used: set[int] = used) -> tuple[str, datetime]:
            micros = int(moment.timestamp() * 1_000_000)
            while micros in used:
                micros += 1
            used.add(micros)
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}", datetime.fromtimestamp(micros / 1e6, UTC)

        # the shape first (top-level messages and their reply counts), then times spread evenly
        plan: list[tuple[float, int]] = []
        produced = 0
        while produced < budget:
            roll = rng.random()
            replies = 0
            if roll >= 0.03 and produced + 1 < budget and rng.random() < 0.18:
                replies = min(budget - produced - 1, rng.randint(1, 4))
            plan.append((roll, replies))
            produced += 1 + replies
        tops = sorted(start + timedelta(seconds=rng.random() * span) for _ in plan)
        threads = 0
        for (roll, replies), moment in zip(plan, tops):
            ts, moment = stamp(moment)
            author = people[rng.randrange(len(people))]
            about, text = _top_level_text(rng, home[channel], moment)
            msg: dict[str, Any] = {"channel": channel, "ts": ts, "user": author["slack_id"], "text": text}
            if roll < 0.02:
                msg = {"channel": channel, "ts": ts, "subtype": "bot_message", "bot_id": "B0DEPLOY",
                       "username": "Deploy Bot", "text": f"deploy #{rng.randrange(10_000)} finished"}
            elif roll < 0.03:
                msg = {"channel": channel, "ts": ts, "user": author["slack_id"], "subtype": "channel_join",
                       "text": f"<@{author['slack_id']}> has joined the channel"}
            else:
                authors.add(author["slack_id"])
                if about is None and rng.random() < 0.05:
                    edit_at = min(moment + timedelta(minutes=rng.randint(1, 90)), anchor - timedelta(minutes=1))
                    msg["edited"] = {"user": author["slack_id"], "ts": f"{int(edit_at.timestamp())}.000000"}
            messages.append(msg)
            if replies:
                threads += 1
                at = moment
                for _ in range(replies):
                    at = min(at + timedelta(minutes=rng.uniform(1, 600)), anchor - timedelta(minutes=2))
                    rts, at = stamp(at)
                    who = people[rng.randrange(len(people))]
                    authors.add(who["slack_id"])
                    messages.append({"channel": channel, "ts": rts, "user": who["slack_id"], "thread_ts": ts,
                                     "text": _reply_text(rng, about, at)})
        top_n = len(plan)
        thread_count[channel] = threads
        top_level_count[channel] = top_n

    # planted messages: newer than the project's status update and the Asana field
    for d in planted:
        quiet = d.quiet_after or anchor
        moment = quiet + (anchor - timedelta(minutes=30) - quiet) * rng.uniform(0.3, 0.9)
        micros = int(moment.timestamp() * 1_000_000)
        ts = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
        who = people[rng.randrange(len(people))]
        authors.add(who["slack_id"])
        if d.planted == "status":
            text = PLANTED_STATUS_TEXT.format(r=d.key)
        else:
            text = PLANTED_DATE_TEXT.format(r=d.key, iso=(d.due + timedelta(days=10)).isoformat())
        messages.append({"channel": d.channel, "ts": ts, "user": who["slack_id"], "text": text})
        top_level_count[d.channel] += 1
    messages.sort(key=lambda m: (m["channel"], m["ts"]))

    scenario: dict[str, Any] = {
        "_notes": f"bench/generate.py scale={spec.scale} seed={spec.seed} anchor={spec.anchor.isoformat()}",
        "asana": {
            "workspace": {"gid": WORKSPACE_GID, "name": "BenchCo"},
            "users": [{"gid": p["asana_gid"], "name": p["name"], "email": p["email"]} for p in people],
            "custom_fields": [{
                "gid": STATUS_FIELD_GID, "name": "Status", "type": "enum",
                "enum_options": [{"gid": g, "name": n} for g, n in OPTION_NAMES.items()],
            }],
            "projects": [
                {
                    "gid": g,
                    "name": f"Project {p + 1}",
                    "owner": people[p % len(people)]["asana_gid"],
                    "sections": [{"gid": f"{g}0", "name": "Planned"}, {"gid": f"{g}1", "name": "In progress"},
                                 {"gid": f"{g}2", "name": "Done"}],
                    "status_updates": [{
                        "gid": f"{g}9",
                        "status_type": "at_risk" if p % 2 else "off_track",
                        "title": f"Week update {p + 1}",
                        "text": "A few items are tight.",
                        "created_at": _iso(su_time[g]),
                        "author": people[p % len(people)]["asana_gid"],
                    }],
                }
                for p, g in enumerate(project_gids)
            ],
            "tasks": tasks,
        },
        "slack": {
            "team": {"id": "T0BENCH", "domain": TEAM_DOMAIN, "name": "BenchCo"},
            "bot": {"user_id": "U0BOT", "bot_id": "B0BOT", "app_id": "A0BOT", "name": "reconciler"},
            "users": [
                {"id": p["slack_id"], "name": p["key"], "real_name": p["name"], "tz": p["tz"],
                 "profile": {"email": p["email"], "real_name": p["name"]}}
                for p in people
            ],
            # created when the history starts (what the first read's progress is measured against)
            "channels": [{"id": cid, "name": f"team-{c:02d}", "is_member": True,
                          "created": int((anchor - timedelta(days=HISTORY_DAYS)).timestamp())}
                         for c, cid in enumerate(channel_ids)],
            "messages": messages,
        },
    }

    toml = _config_toml(spec, people, project_gids, channel_ids, team_of_project, channel_of_project, teams,
                        deliverables)
    linked_per_project: dict[str, int] = {}
    for d in deliverables:
        linked_per_project[d.project_gid] = linked_per_project.get(d.project_gid, 0) + 1
    manifest = {
        "scale": spec.scale,
        "seed": spec.seed,
        "anchor": spec.anchor.isoformat(),
        "counts": {
            "projects": spec.projects,
            "tasks": len(tasks),
            "channels": spec.channels,
            "messages": len(messages),
            "top_level_messages": sum(top_level_count.values()),
            "threads": sum(thread_count.values()),
            "deliverables": len(deliverables),
            "people": len(people),
            "dependencies": sum(len(d.depends_on) for d in deliverables),
            "slack_authors": len(authors),
        },
        "tasks_per_project": dict(zip(project_gids, per_project)),
        "linked_per_project": linked_per_project,
        "top_level_per_channel": top_level_count,
        "threads_per_channel": thread_count,
        "planted": [{"key": d.key, "kind": f"{d.planted}_contradiction"} for d in planted],
        "task_gids": [t["gid"] for t in tasks],
        "linked_gids": [d.task_gid for d in deliverables],
        "channels": channel_ids,
        "slack_users": [p["slack_id"] for p in people],
        "deliverable_keys": [d.key for d in deliverables],
        "deliverable_channels": [d.channel for d in deliverables],
    }
    return scenario, toml, manifest


def _top_level_text(rng: random.Random, here: list[_Deliverable], moment: datetime) -> tuple[_Deliverable | None, str]:
    """A top-level message: a claim about a deliverable homed in the channel, or not."""
    roll = rng.random()
    if here and roll < 0.35:
        d = rng.choice(here)
        ref = _ref(rng, d)
        if d.quiet_after is not None and moment >= d.quiet_after:
            return d, rng.choice(QUESTION).format(r=ref)
        status = d.status_at_time(moment)
        if status != "done" and d.planted != "date" and rng.random() < 0.3:
            return d, rng.choice(DATE_TEXT).format(r=ref, iso=d.due.isoformat(), md=_md_or_iso(d.due, moment))
        return d, rng.choice(STATUS_TEXT[status]).format(r=ref)
    if here and roll < 0.40:
        d = rng.choice(here)
        return d, rng.choice(QUESTION).format(r=_ref(rng, d))
    if roll < 0.45:
        return None, rng.choice(TOP_LEVEL_NOISE)
    return None, rng.choice(CHATTER)


def _reply_text(rng: random.Random, about: _Deliverable | None, moment: datetime) -> str:
    if about is None or rng.random() >= 0.45 or (about.quiet_after is not None and moment >= about.quiet_after):
        return rng.choice(CHATTER)
    status = about.status_at_time(moment)
    if status != "done" and about.planted != "date" and rng.random() < 0.3:
        return rng.choice(REPLY_DATE_TEXT).format(iso=about.due.isoformat(), md=_md_or_iso(about.due, moment))
    return rng.choice(REPLY_STATUS_TEXT[status])


def _md_or_iso(day: date, moment: datetime) -> str:
    """"Dec 4" when that cannot be read as another year, else the ISO date."""
    return _md(day) if 1 <= (day - moment.date()).days <= 150 else day.isoformat()


def _ref(rng: random.Random, d: _Deliverable) -> str:
    roll = rng.random()
    if roll < 0.6:
        return d.key
    if roll < 0.85:
        return d.hashtag
    return f"<https://app.asana.com/0/{d.project_gid}/{d.task_gid}|{d.title}>"


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _list(items: list[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def _config_toml(
    spec: Scale,
    people: list[dict[str, Any]],
    project_gids: list[str],
    channel_ids: list[str],
    team_of_project: dict[str, str],
    channel_of_project: dict[str, str],
    teams: int,
    deliverables: list[_Deliverable],
) -> str:
    out = [
        f"# bench/generate.py scale={spec.scale} seed={spec.seed} anchor={spec.anchor.isoformat()}",
        'timezone = "UTC"',
        'default_role = "team-00"',
        "",
        "[asana]",
        f"workspace = {_q(WORKSPACE_GID)}",
        f"projects = {_list(project_gids)}",
        'status_field = "Status"',
        "",
        "[slack]",
        f"channels = {_list(channel_ids)}",
        "",
    ]
    for p in people:
        out += ["[[people]]", f"key = {_q(p['key'])}", f"name = {_q(p['name'])}", f"email = {_q(p['email'])}",
                f"ids = {{ slack = {_q(p['slack_id'])}, asana = {_q(p['asana_gid'])} }}", ""]
    for t in range(teams):
        name = f"team-{t:02d}"
        projects = [g for g in project_gids if team_of_project[g] == name]
        channels = sorted({channel_of_project[g] for g in projects})
        lead = people[(t * 7) % len(people)]["key"]
        head = people[(t * 7 + 3) % len(people)]["key"]
        out += [
            "[[roles]]", f"name = {_q(name)}", f"lead = {_q(lead)}", f"head = {_q(head)}",
            f"zones = {{ asana_projects = {_list(projects)}, slack_channels = {_list(channels)} }}", "",
        ]
    for d in deliverables:
        out += [
            "[[deliverables]]", f"key = {_q(d.key)}", f"title = {_q(d.title)}", f"owner = {_q(d.owner)}",
            f"role = {_q(d.role)}", f"asana_task = {_q(d.task_gid)}", f"aliases = {_list([d.hashtag])}",
        ]
        if d.depends_on:
            out.append(f"depends_on = {_list(d.depends_on)}")
        out.append("")
    return "\n".join(out)


# -- incremental changes ----------------------------------------------------------------------


def changes(scenario: dict[str, Any], manifest: dict[str, Any], *, share: float = 0.01, seed: int = 2) -> list[list[Any]]:
    """Edits for a running sandbox: `share` of the tasks changed (status or due date), and
    `share` of the message count posted (claims, chatter, thread replies) plus a few edits.

    Each edit is `[target, method, args, kwargs]` for `Sandbox.asana`/`Sandbox.slack`.
    """
    rng = random.Random(seed)
    ops: list[list[Any]] = []
    task_gids = manifest["task_gids"]
    linked = set(manifest["linked_gids"])
    keys_by_gid = dict(zip(manifest["linked_gids"], manifest["deliverable_keys"]))
    channel_of = dict(zip(manifest["linked_gids"], manifest["deliverable_channels"]))
    n_tasks = max(1, round(len(task_gids) * share))
    changed = rng.sample(task_gids, n_tasks)
    for gid in changed:
        if rng.random() < 0.5:
            ops.append(["asana", "update_task", [gid], {"custom_fields": {STATUS_FIELD_GID: rng.choice(["701", "702", "703"])}}])
        else:
            due = date.fromisoformat(manifest["anchor"]) + timedelta(days=rng.randint(20, 120))
            ops.append(["asana", "update_task", [gid], {"due_on": due.isoformat()}])
    users = manifest["slack_users"]
    n_messages = max(1, round(manifest["counts"]["messages"] * share))
    recent_parents: dict[str, list[str]] = {}
    for m in scenario["slack"]["messages"]:
        if m.get("thread_ts") is None and m.get("subtype") is None:
            recent_parents.setdefault(m["channel"], []).append(m["ts"])
    for channel in recent_parents:
        recent_parents[channel] = recent_parents[channel][-50:]
    changed_linked = [g for g in changed if g in linked]
    for n in range(n_messages):
        channel = rng.choice(manifest["channels"])
        user = rng.choice(users)
        roll = rng.random()
        if roll < 0.3 and changed_linked:
            gid = rng.choice(changed_linked)
            text = f"{keys_by_gid[gid]} is at risk, the estimate looks tight"
            ops.append(["slack", "post", [channel_of[gid], user, text], {}])
        elif roll < 0.5 and recent_parents.get(channel):
            ops.append(["slack", "post", [channel, user, rng.choice(CHATTER)],
                        {"thread_ts": rng.choice(recent_parents[channel])}])
        else:
            ops.append(["slack", "post", [channel, user, rng.choice(CHATTER)], {}])
    recent = str(int((datetime.combine(date.fromisoformat(manifest["anchor"]), time(0, 0), tzinfo=UTC)
                      - timedelta(days=2)).timestamp()))
    editable = [m for m in scenario["slack"]["messages"]
                if m.get("subtype") is None and m.get("user") and m["ts"] >= recent]
    for m in rng.sample(editable, k=min(len(editable), max(1, n_messages // 20))):
        ops.append(["slack", "edit", [m["channel"], m["ts"], m["text"] + " (edited)"], {}])
    return ops


def check_templates() -> list[str]:
    """Texts the parser does not read as intended (an empty list when all is well)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from connectors.claims import ClaimParser

    parser = ClaimParser(timezone="UTC")
    at = datetime(2026, 11, 10, 14, 0, tzinfo=UTC)
    due = date(2026, 12, 4)
    problems: list[str] = []

    def expect(text: str, status: str | None, when: date | None) -> None:
        got = {c.field.value: str(getattr(c.value, "value", c.value)) for c in parser.parse(text, stated_at=at)}
        want = {k: v for k, v in (("status", status), ("target_date", when.isoformat() if when else None)) if v}
        if got != want:
            problems.append(f"{text!r}: expected {want}, parsed {got}")

    ref = "billing-export-0042"
    for status, texts in STATUS_TEXT.items():
        for t in texts:
            expect(t.format(r=ref), status, None)
    for status, texts in REPLY_STATUS_TEXT.items():
        for t in texts:
            expect(t, status, None)
    for t in DATE_TEXT + REPLY_DATE_TEXT:
        expect(t.format(r=ref, iso=due.isoformat(), md=_md(due)), None, due)
    expect(PLANTED_STATUS_TEXT.format(r=ref), "blocked", None)
    expect(PLANTED_DATE_TEXT.format(r=ref, iso=due.isoformat()), None, due)
    for t in CHATTER + [q.format(r=ref) for q in QUESTION]:
        expect(t, None, None)
    return problems


def write(spec: Scale, out: Path, *, change_share: float = 0.01) -> dict[str, Any]:
    """Generate and write scenario.json, reconciler.toml, manifest.json and changes.json (the
    edits of `changes`) into `out`."""
    scenario, toml, manifest = generate(spec)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.json").write_text(json.dumps(scenario, separators=(",", ":")), encoding="utf-8")
    (out / "reconciler.toml").write_text(toml, encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    ops = changes(scenario, manifest, share=change_share, seed=spec.seed + 1)
    (out / "changes.json").write_text(json.dumps(ops), encoding="utf-8")
    return manifest


def default_out(spec: Scale) -> Path:
    return Path(tempfile.gettempdir()) / "reconciler-bench" / f"scale-{spec.scale:g}-seed-{spec.seed}-{spec.anchor}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--anchor", type=date.fromisoformat, default=None, help="end of the history (default today)")
    ap.add_argument("--contradict", type=float, default=0.01, help="share of deliverables with a planted contradiction")
    ap.add_argument("--out", type=Path, default=None, help="directory to write (default: under the temp dir)")
    ap.add_argument("--check", action="store_true", help="only check the message templates against the parser")
    args = ap.parse_args(argv)
    if args.check:
        problems = check_templates()
        for p in problems:
            print(p, file=sys.stderr)
        print("templates ok" if not problems else f"{len(problems)} template(s) misread")
        return 1 if problems else 0
    if args.scale <= 0:
        print("generate: --scale must be positive", file=sys.stderr)
        return 2
    spec = Scale(scale=args.scale, seed=args.seed, anchor=args.anchor or datetime.now(UTC).date(),
                 contradict=args.contradict)
    out = args.out or default_out(spec)
    manifest = write(spec, out)
    print(json.dumps({"out": str(out), **manifest["counts"], "planted": len(manifest["planted"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
