"""`conflicts resolve --apply`: the decision posted where the evidence lives, through the real CLI
and real HTTP against the sandbox (one Slack reply per evidence thread, one Asana comment per
evidence task), with its confirmation rules, failures and audit events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from reconciler.cli import app
from reconciler.cli import conflicts as conflicts_cli
from reconciler.models import Observation
from reconciler.settings import get_settings
from connectors.asana.writeback import asana_targets
from connectors.slack.writeback import slack_targets
from tests.conftest import demo_scenario, demo_ts, write_demo_config

pytestmark = pytest.mark.demo  # runs again with the clock moved ahead (test_demo.py)

THREAD_AS_WRITTEN = "1795428900.000100"  # Alice's "checkout-v2 is blocked" message in #launches (C01)
TOKENS = ("asana-writeback-test-token", "xoxb-writeback-test-token")
TEXT = "Decision by Erin Park: Checkout v2 is blocked (payments keys missing). Recorded as conflict #{id}."


class Env:
    def __init__(self, sandbox: Sandbox, thread: str) -> None:
        self.sb = sandbox
        self.thread = thread
        self.runner = CliRunner()

    def run(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(app, list(args), input=input)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def conflict(self) -> int:
        rows = self.json("conflicts", "list")
        return next(r["id"] for r in rows if r["deliverable"] == "checkout-v2" and r["kind"] == "status_contradiction")

    def resolve(self, cid: int, *extra: str, input: str | None = None) -> Result:
        return self.run(
            "conflicts", "resolve", str(cid), "--status", "blocked", "-c", "payments keys missing", "--by", "erin",
            *extra, input=input,
        )

    def state(self, cid: int) -> str:
        return str(self.json("conflicts", "show", str(cid))["state"])

    def audit(self, cid: int, action: str) -> list[dict[str, Any]]:
        return [e for e in self.json("audit", "--conflict", str(cid)) if e["action"] == action]

    def bot_replies(self) -> list[dict[str, Any]]:
        return [m for m in self.sb.posted_messages() if m["method"] == "chat.postMessage" and m["thread_ts"]]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with Sandbox(demo_scenario(), port=0) as sandbox:
        thread = demo_ts(sandbox, THREAD_AS_WRITTEN)
        # Two more voices: Bob in Alice's thread (same thread: one reply) and Carol in #eng.
        sandbox.slack.post("C01", "U02", "checkout-v2 is still blocked, no keys yet.", thread_ts=thread)
        sandbox.slack.post("C02", "U03", "checkout is blocked on the payments provider")
        config = write_demo_config(tmp_path)
        monkeypatch.setenv("ASANA_TOKEN", TOKENS[0])
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKENS[1])
        monkeypatch.setenv("ASANA_BASE_URL", sandbox.asana_base_url)
        monkeypatch.setenv("SLACK_BASE_URL", sandbox.slack_base_url)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'writeback.db'}")
        monkeypatch.setenv("RECONCILER_CONFIG", str(config))
        monkeypatch.setenv("USER", "lead")
        get_settings.cache_clear()
        runner = Env(sandbox, thread)
        runner.ok("sync")
        runner.ok("reconcile")
        sandbox.reset_counts()
        yield runner
        get_settings.cache_clear()


def _writes(sb: Sandbox) -> dict[str, int]:
    return {k: n for k, n in sb.request_counts().items() if k in ("slack chat.postMessage", "asana POST /tasks/{gid}/stories")}


def test_apply_yes_posts_one_reply_per_thread_and_one_comment_per_task(env: Env) -> None:
    cid = env.conflict()
    result = env.resolve(cid, "--apply", "--yes")
    assert result.exit_code == 0, result.output
    text = TEXT.format(id=cid)
    # the plan first: where, and what
    out = result.stdout
    assert f"text: {text}" in out
    assert f"Slack #launches (C01): reply in thread https://acme.slack.com/archives/C01/p{env.thread.replace('.', '')}" in out
    assert "Slack #eng (C02): reply in thread https://acme.slack.com/archives/C02/p" in out
    assert "Asana task 3001: comment on https://app.asana.com/0/2001/3001" in out
    assert "Asana task fields are not changed" in out

    replies = env.bot_replies()
    assert sorted((m["channel"], m["text"]) for m in replies) == [("C01", text), ("C02", text)]
    assert next(m for m in replies if m["channel"] == "C01")["thread_ts"] == env.thread  # Bob's reply: same thread
    eng = next(m for m in replies if m["channel"] == "C02")
    (stories,) = [env.sb.asana.created_stories()]
    assert [(s["task"], s["text"]) for s in stories] == [("3001", text)]
    assert _writes(env.sb) == {"slack chat.postMessage": 2, "asana POST /tasks/{gid}/stories": 1}
    # the task's fields are as they were: the comment is the only change
    task = env.sb.asana.tasks["3001"]
    assert [s.text for s in task.stories][-1] == text and not task.completed

    assert env.state(cid) == "resolved"
    done = env.audit(cid, "writeback")
    assert {(e["details"]["target"], e["details"].get("ts") or e["details"].get("story_gid")) for e in done} == {
        ("slack", next(m for m in replies if m["channel"] == "C01")["ts"]),
        ("slack", eng["ts"]),
        ("asana", stories[0]["gid"]),
    }
    assert all(e["actor"] == "erin" for e in done)
    assert env.audit(cid, "writeback_failed") == []
    everything = json.dumps(env.json("audit", "--conflict", str(cid))) + result.output
    assert not any(token in everything for token in TOKENS)

    # the sync after it: the bot's replies and the comment make no new claims, nothing reopens
    env.ok("sync")
    env.ok("reconcile")
    assert env.state(cid) == "resolved"


def test_dry_run_prints_the_plan_and_writes_nothing(env: Env) -> None:
    cid = env.conflict()
    result = env.resolve(cid, "--apply", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"text: {TEXT.format(id=cid)}" in result.stdout
    assert "Asana task 3001: comment on" in result.stdout
    assert "Dry run: nothing recorded, nothing written." in result.stdout
    assert _writes(env.sb) == {}
    assert env.bot_replies() == [] and env.sb.asana.created_stories() == []
    assert env.state(cid) == "open"
    assert env.audit(cid, "resolved") == []


def test_no_terminal_and_no_yes_refuses_before_anything(env: Env) -> None:
    cid = env.conflict()
    result = env.resolve(cid, "--apply")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: --apply writes to Slack and Asana") and "\n" not in message
    assert "--yes" in message
    assert env.state(cid) == "open" and _writes(env.sb) == {}


def test_on_a_terminal_it_asks_and_a_no_records_nothing(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conflicts_cli, "_interactive", lambda: True)
    cid = env.conflict()
    declined = env.resolve(cid, "--apply", input="n\n")
    assert declined.exit_code == 1
    assert "Record the decision and write this back?" in declined.stdout
    assert "nothing recorded, nothing written" in declined.stdout
    assert env.state(cid) == "open" and _writes(env.sb) == {}
    accepted = env.resolve(cid, "--apply", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert env.state(cid) == "resolved"
    assert _writes(env.sb) == {"slack chat.postMessage": 2, "asana POST /tasks/{gid}/stories": 1}


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
def test_slack_failure_is_one_line_and_the_decision_stays(env: Env, error: str) -> None:
    cid = env.conflict()
    env.sb.fail("chat.postMessage", slack_error=error, times=1)  # the first thread: #launches
    result = env.resolve(cid, "--apply", "--yes")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: Slack #launches (C01): ") and message.endswith(f"({error})"), message
    assert "\n" not in message and "Traceback" not in result.output
    assert env.state(cid) == "resolved"
    assert [m["channel"] for m in env.bot_replies()] == ["C02"]  # the others still went out
    assert len(env.sb.asana.created_stories()) == 1
    (failed,) = env.audit(cid, "writeback_failed")
    assert failed["details"]["channel"] == "C01" and error in failed["details"]["error"]
    assert len(env.audit(cid, "writeback")) == 2
    assert not any(token in result.output + json.dumps(failed) for token in TOKENS)


def test_asana_403_on_the_comment_is_one_line_and_the_decision_stays(env: Env) -> None:
    cid = env.conflict()
    env.sb.fail("POST /tasks/{gid}/stories", status=403)
    result = env.resolve(cid, "--apply", "--yes")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: Asana task 3001: forbidden (403)") and "\n" not in message, message
    assert env.state(cid) == "resolved"
    assert len(env.bot_replies()) == 2 and env.sb.asana.created_stories() == []
    (failed,) = env.audit(cid, "writeback_failed")
    assert failed["details"]["task"] == "3001" and "403" in failed["details"]["error"]
    assert not any(token in result.output + json.dumps(failed) for token in TOKENS)


def test_without_apply_nothing_is_written(env: Env) -> None:
    cid = env.conflict()
    result = env.resolve(cid)
    assert result.exit_code == 0, result.output
    assert env.state(cid) == "resolved"
    assert _writes(env.sb) == {} and env.sb.request_counts() == {}
    assert env.audit(cid, "writeback") == []
    assert env.run("conflicts", "resolve", str(cid), "--status", "done", "-c", "x", "--yes").exit_code == 1


# -- planning (no HTTP) ---------------------------------------------------------------------


def _obs(source: str, ref: str, permalink: str | None = None, partition: str | None = None) -> Observation:
    return Observation(deliverable_key="x", source=source, source_ref=ref, field="status", kind="event",
                       permalink=permalink, partition=partition)


def test_targets_group_threads_and_skip_status_updates() -> None:
    reply = "https://acme.slack.com/archives/C01/p1700000005000100?thread_ts=1700000000.000100&cid=C01"
    slack, _ = slack_targets([
        _obs("slack", "C01:1700000000.000100", "https://acme.slack.com/archives/C01/p1700000000000100", "launches"),
        _obs("slack", "C01:1700000005.000100", reply, "launches"),
        _obs("slack", "C09:1700000009.000100", None, "C09"),
    ])
    assert [(t.ref, t.thread_ts, t.label) for t in slack] == [
        ("C01", "1700000000.000100", "Slack #launches (C01)"),
        ("C09", "1700000009.000100", "Slack channel C09"),
    ]
    only_reply, _ = slack_targets([_obs("slack", "C01:1700000005.000100", reply, "launches")])
    assert only_reply[0].permalink == "https://acme.slack.com/archives/C01/p1700000000000100"
    assert only_reply[0].thread_ts == "1700000000.000100"
    asana, skipped = asana_targets([
        _obs("asana", "3001", "https://app.asana.com/0/2001/3001"),
        _obs("asana", "status_update:2001"),
        _obs("asana", "3001", "https://app.asana.com/0/2001/3001"),
    ])
    assert [t.ref for t in asana] == ["3001"]
    assert skipped == ["Asana project 2001 status update (status updates take no comments)"]


def test_sandbox_post_story_answers_201_and_is_listed(env: Env) -> None:
    import urllib.error
    import urllib.request

    url = env.sb.asana_base_url + "/tasks/3001/stories"
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=b'{"data": {"text": "hi"}}', headers=headers, method="POST")
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 201
        story = json.loads(answer.read())["data"]
    assert story["text"] == "hi" and story["type"] == "comment" and story["resource_subtype"] == "comment_added"
    listed = urllib.request.Request(url + "?opt_fields=text,type", headers=headers)
    with urllib.request.urlopen(listed) as answer:
        assert json.loads(answer.read())["data"][-1] == {"gid": story["gid"], "resource_type": "story", "text": "hi",
                                                         "type": "comment"}
    for body, status in ((b'{"data": {}}', 400), (b"{nope", 400)):
        bad = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(bad)
        assert caught.value.code == status
    assert env.sb.request_counts()["asana POST /tasks/{gid}/stories"] == 3
    assert [s["text"] for s in env.sb.asana.created_stories()] == ["hi"]


def test_writeback_retries_only_what_failed(env: Env) -> None:
    cid = env.conflict()
    env.sb.fail("chat.postMessage", slack_error="not_in_channel", times=1)  # the first thread: #launches
    failed = env.resolve(cid, "--apply", "--yes")
    assert failed.exit_code == 1 and f"reconciler conflicts writeback {cid}" in failed.stdout
    env.sb.reset_counts()

    dry = env.run("conflicts", "writeback", str(cid), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Slack #launches (C01): reply in thread" in dry.stdout
    assert "#eng" not in dry.stdout and "Asana task 3001" not in dry.stdout
    assert _writes(env.sb) == {}

    again = env.run("conflicts", "writeback", str(cid), "--yes")
    assert again.exit_code == 0, again.output
    assert _writes(env.sb) == {"slack chat.postMessage": 1}
    assert sorted(m["channel"] for m in env.bot_replies()) == ["C01", "C02"]
    assert len(env.audit(cid, "writeback")) == 3 and len(env.audit(cid, "writeback_failed")) == 1

    done = env.run("conflicts", "writeback", str(cid), "--yes")
    assert done.exit_code == 0 and "Nothing left to write back." in done.stdout
    assert _writes(env.sb) == {"slack chat.postMessage": 1}


def test_writeback_needs_a_decision(env: Env) -> None:
    cid = env.conflict()
    result = env.run("conflicts", "writeback", str(cid), "--yes")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message == (f"error: conflict {cid} has no decision to write back (open): "
                       "conflicts resolve ID ... --apply records one and writes it back")
    assert env.run("conflicts", "writeback", "999", "--yes").stderr.strip() == "error: no conflict 999"
    assert _writes(env.sb) == {}


def test_a_reply_whose_answer_is_cut_off_is_written_once(env: Env) -> None:
    cid = env.conflict()
    env.sb.fail("chat.postMessage", kind="bad_json", times=1)  # #launches took it; the answer is lost
    result = env.resolve(cid, "--apply", "--yes")
    assert result.exit_code == 0, result.output
    assert sorted(m["channel"] for m in env.bot_replies()) == ["C01", "C02"]  # one reply per thread
    assert len(env.audit(cid, "writeback")) == 3 and env.audit(cid, "writeback_failed") == []
    done = env.run("conflicts", "writeback", str(cid), "--yes")
    assert "Nothing left to write back." in done.stdout and len(env.bot_replies()) == 2


def test_a_reply_posted_by_a_run_that_died_is_not_posted_again(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reply went out, the process died before recording it: the next run finds it in the
    thread by its metadata and records it instead of replying twice."""
    from slack_sdk import WebClient

    cid = env.conflict()
    real_post = WebClient.chat_postMessage

    def post_then_die(self: WebClient, **kwargs: Any) -> Any:
        real_post(self, **kwargs)
        raise SystemExit("killed after Slack answered")

    monkeypatch.setattr(WebClient, "chat_postMessage", post_then_die)
    died = env.resolve(cid, "--apply", "--yes")
    assert isinstance(died.exception, SystemExit) and len(env.bot_replies()) == 1
    assert env.audit(cid, "writeback") == []
    monkeypatch.setattr(WebClient, "chat_postMessage", real_post)
    again = env.run("conflicts", "writeback", str(cid), "--yes")
    assert again.exit_code == 0, again.output
    assert sorted(m["channel"] for m in env.bot_replies()) == ["C01", "C02"]
    (launches,) = [e for e in env.audit(cid, "writeback") if e["details"].get("channel") == "C01"]
    assert launches["details"]["ts"] == env.bot_replies()[0]["ts"]


def _comments(env: Env) -> list[str]:
    return [s["text"] for s in env.sb.asana.created_stories()]


@pytest.mark.parametrize("fault", ["bad_json", "reset_after"])
def test_a_comment_whose_answer_is_lost_is_written_once(env: Env, fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Asana took the comment and the answer was lost (cut off half way, or the connection
    dropped after the server handled it): the task's stories are read back before any retry,
    the comment found there is recorded, and it is not posted again."""
    cid = env.conflict()
    if fault == "bad_json":
        env.sb.fail("POST /tasks/{gid}/stories", kind="bad_json", times=1)
    else:
        from connectors.sandbox.asana_api import AsanaState

        real = AsanaState.create_task_story
        calls = {"n": 0}

        def create_then_fail(self: AsanaState, req: Any, gid: str) -> dict[str, Any]:
            answer = real(self, req, gid)
            calls["n"] += 1
            if calls["n"] == 1:  # made, and then the server falls over before answering
                from connectors.sandbox.asana_api import AsanaError

                raise AsanaError(502, "Bad Gateway")
            return answer

        monkeypatch.setattr(AsanaState, "create_task_story", create_then_fail)
    result = env.resolve(cid, "--apply", "--yes")
    assert result.exit_code == 0, result.output
    text = TEXT.format(id=cid)
    assert _comments(env) == [text]
    assert env.sb.request_counts()["asana POST /tasks/{gid}/stories"] == 1
    (asana,) = [e for e in env.audit(cid, "writeback") if e["details"]["target"] == "asana"]
    assert asana["details"]["story_gid"] == env.sb.asana.created_stories()[0]["gid"]
    assert env.audit(cid, "writeback_failed") == []
    done = env.run("conflicts", "writeback", str(cid), "--yes")
    assert "Nothing left to write back." in done.stdout and _comments(env) == [text]


def test_a_comment_posted_by_a_run_that_died_is_not_posted_again(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comment went out, the process died before recording it: the next run finds it among
    the task's stories and records it instead of commenting twice."""
    from connectors.asana.connector import AsanaHttp

    cid = env.conflict()
    real_add = AsanaHttp.add_comment

    def add_then_die(self: AsanaHttp, task_gid: str, text: str, **kwargs: Any) -> dict[str, Any]:
        real_add(self, task_gid, text, **kwargs)
        raise SystemExit("killed after Asana answered")

    monkeypatch.setattr(AsanaHttp, "add_comment", add_then_die)
    died = env.resolve(cid, "--apply", "--yes")
    assert isinstance(died.exception, SystemExit) and len(_comments(env)) == 1
    monkeypatch.setattr(AsanaHttp, "add_comment", real_add)
    again = env.run("conflicts", "writeback", str(cid), "--yes")
    assert again.exit_code == 0, again.output
    assert _comments(env) == [TEXT.format(id=cid)]
    (asana,) = [e for e in env.audit(cid, "writeback") if e["details"]["target"] == "asana"]
    assert asana["details"]["story_gid"] == env.sb.asana.created_stories()[0]["gid"]


def test_a_comment_that_cannot_be_confirmed_is_not_sent_again(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Asana took the comment, the answer was cut off, and the stories cannot be read to check:
    the target fails with one line, nothing is posted blindly a second time, and the next
    write-back finds the comment and records it."""
    from connectors.sandbox.asana_api import AsanaState

    cid = env.conflict()
    real = AsanaState.create_task_story

    def create_then_hide_stories(self: AsanaState, req: Any, gid: str) -> dict[str, Any]:
        env.sb.fail("GET /tasks/{gid}/stories", status=403)
        return real(self, req, gid)

    monkeypatch.setattr(AsanaState, "create_task_story", create_then_hide_stories)
    env.sb.fail("POST /tasks/{gid}/stories", kind="bad_json", times=1)
    result = env.resolve(cid, "--apply", "--yes")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: Asana task 3001: forbidden (403)") and "\n" not in message, message
    assert env.sb.request_counts()["asana POST /tasks/{gid}/stories"] == 1
    (failed,) = env.audit(cid, "writeback_failed")
    assert failed["details"]["task"] == "3001" and "403" in failed["details"]["error"]
    assert _comments(env) == [TEXT.format(id=cid)]

    monkeypatch.setattr(AsanaState, "create_task_story", real)
    env.sb.clear_faults()
    again = env.run("conflicts", "writeback", str(cid), "--yes")
    assert again.exit_code == 0, again.output
    assert _comments(env) == [TEXT.format(id=cid)]
    assert env.sb.request_counts()["asana POST /tasks/{gid}/stories"] == 1
    (asana,) = [e for e in env.audit(cid, "writeback") if e["details"]["target"] == "asana"]
    assert asana["details"]["story_gid"] == env.sb.asana.created_stories()[0]["gid"]
