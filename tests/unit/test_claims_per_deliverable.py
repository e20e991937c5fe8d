"""Claims per deliverable: each clause's status and date go to the deliverables it names.

Every row reads one message the way the Slack connector does (`message_claims`): linker
mentions, then `ClaimParser.read`, then the fallback keys for claims about nothing named.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import DeliverableIndex, DeliverableRef, Field
from connectors.claims import ClaimParser
from connectors.config import SlackConfig
from connectors.slack.connector import message_claims, thread_keys
from connectors.slack.links import DeliverableLinker

# Thursday 3 Dec 2026, 10:15 in Berlin
THU = datetime(2026, 12, 3, 9, 15, tzinfo=UTC)
INDEX = DeliverableIndex.build([
    DeliverableRef("checkout", {"asana": "3001"}, ("checkout", "checkout v2")),
    DeliverableRef("payments", {"asana": "3002"}, ("payments", "payments api")),
    DeliverableRef("search", {"asana": "3003"}, ("search",)),
    DeliverableRef("audit-log", {"asana": "3004"}, ("audit log", "audit-log")),
    DeliverableRef("onboarding", {}, ("onboarding",)),
])
LINKER = DeliverableLinker(INDEX)
PARSER = ClaimParser(timezone="Europe/Berlin")


def read(text: str, fallback: list[str] | None = None, parser: ClaimParser = PARSER) -> dict[str, str]:
    chosen = message_claims(parser, LINKER, text, THU, fallback if fallback is not None else ["#chan"])
    return {f"{key}/{'status' if field == Field.STATUS else 'date'}": str(claim.value)
            for (key, field), claim in chosen.items()}


CASES = [
    # several deliverables, each with its own state
    ("checkout is done, payments still blocked on the PCI review",
     {"checkout/status": "done", "payments/status": "blocked"}),
    ("not blocked on search anymore, but the audit log is",
     {"search/status": "on_track", "audit-log/status": "blocked"}),
    ("checkout and payments are both slipping", {"checkout/status": "at_risk", "payments/status": "at_risk"}),
    ("search is blocked and so is the audit log", {"search/status": "blocked", "audit-log/status": "blocked"}),
    ("audit log is on track, onboarding isn't", {"audit-log/status": "on_track", "onboarding/status": "at_risk"}),
    ("payments is blocked, but not search", {"payments/status": "blocked", "search/status": "on_track"}),
    ("Weekly roundup:\n- checkout: done\n- payments: blocked (PCI)\n- search: on track for Wed",
     {"checkout/status": "done", "payments/status": "blocked", "search/status": "on_track",
      "search/date": "2026-12-09"}),
    ("checkout :white_check_mark:\npayments :red_circle:\nsearch :large_green_circle:",
     {"checkout/status": "done", "payments/status": "at_risk", "search/status": "on_track"}),
    ("Checkout is merged. It's live in prod now.", {"checkout/status": "done"}),
    ("checkout is blocked. payments too.", {"checkout/status": "blocked", "payments/status": "blocked"}),
    # what blocks is not what is blocked: the subject is the one it is "for", else the channel's
    ("we're blocked on payments for checkout", {"checkout/status": "blocked"}),
    ("we're waiting on payments", {"#chan/status": "blocked"}),
    ("checkout is blocked on payments", {"checkout/status": "blocked"}),
    # a claim is about the name in its own clause, not one in the clause before
    ("posted the notes in <#C0AUDIT|audit-log>, search is fine btw", {"search/status": "on_track"}),
    # channel links name a deliverable; a one-word alias used as a verb does not
    ("<#C0AUDIT|audit-log> is blocked on the storage quota", {"audit-log/status": "blocked"}),
    ("I'll search for a fix, checkout is blocked on the flaky tax test", {"checkout/status": "blocked"}),
    ("let me search the logs", {}),
    # someone else's words, irony, quotes, code and bots
    ("Sam said checkout was done last week, I doubt it", {}),
    ("the board says payments is done but it really isn't", {}),
    ("yeah right, search is totally on track :clown_face:", {}),
    ('oh sure, checkout is "done" :upside_down_face:', {}),
    ("> search is blocked on the index rebuild\nthat was last week, it's fine now", {"search/status": "on_track"}),
    ("&gt; checkout is blocked on legal\n+1, confirmed with legal this morning", {"checkout/status": "blocked"}),
    ("&gt; checkout is blocked on legal\nstill true?", {}),
    ("the bot keeps posting `onboarding: DONE` but QA hasn't even started", {}),
    ("Reminder from Asana bot: payments is due today", {}),
    ("I'd say checkout is at risk", {"checkout/status": "at_risk"}),
    # activity times are not target dates; targets are
    ("I'll finish the load test for checkout today", {}),
    ("the banner for checkout goes up tomorrow", {}),
    ("search: testing today, ship Friday", {"search/date": "2026-12-04"}),
    ("checkout pairing session tomorrow at 11, still on track for Friday",
     {"checkout/status": "on_track", "checkout/date": "2026-12-04"}),
    # numbers that are versions, day-first dates, abbreviations, "the 16th"
    ("payments fix goes out in 2.7, on track", {"payments/status": "on_track"}),
    ("onboarding: new date 18/12", {"onboarding/date": "2026-12-18"}),
    ("search Termin: 18.12.", {"search/date": "2026-12-18"}),
    ("payments due Wed", {"payments/date": "2026-12-09"}),
    ("audit log is due the 16th", {"audit-log/date": "2026-12-16"}),
    ("checkout is moving to Wednesday the 16th", {"checkout/status": "at_risk", "checkout/date": "2026-12-16"}),
    # vocabulary: fine, traffic lights, pushed, typos, everyday uses
    ("search is amber, the cluster upgrade is late", {"search/status": "at_risk"}),
    ("payments pushed to Monday", {"payments/status": "at_risk", "payments/date": "2026-12-07"}),
    ("onboarding on trackkk", {"onboarding/status": "on_track"}),
    ("the speaker dropped out of the search meetup", {}),
    ("the printer is stuck again", {}),
    ("the CI is red again on main", {}),
    # German, Spanish, French
    ("Checkout ist live, danke an alle!", {"checkout/status": "done"}),
    ("payments está bloqueado, esperando a infra", {"payments/status": "blocked"}),
    ("search est dans les temps pour vendredi", {"search/status": "on_track", "search/date": "2026-12-04"}),
    ("audit log verzögert sich, neuer Termin ist Freitag", {"audit-log/status": "at_risk", "audit-log/date": "2026-12-04"}),
    ("onboarding n'est pas bloqué", {"onboarding/status": "on_track"}),
]


@pytest.mark.parametrize(("text", "want"), CASES)
def test_claims_per_deliverable(text: str, want: dict[str, str]) -> None:
    assert read(text) == want


# What text by writers who had never seen the parser taught it (bench/README.md, "Three new
# writers and a second blind holdout"); said on Thursday 3 December in Berlin.
NEW_WRITERS = [
    # Portuguese, Dutch and Italian; dates with a month name; non-ASCII cues before a weekday
    ("O checkout foi adiado para 11 de dezembro", {"checkout/status": "at_risk", "checkout/date": "2026-12-11"}),
    ("De audit log is af en staat live", {"audit-log/status": "done"}),
    ("La search è in ritardo, slitta al 9 dicembre", {"search/status": "at_risk", "search/date": "2026-12-09"}),
    ("checkout: nog niet begonnen", {"checkout/status": "not_started"}),
    ("payments ist im Zeitplan, good für Freitag", {"payments/status": "on_track", "payments/date": "2026-12-04"}),
    # someone else's words and conditionals, in those languages too
    ("Paul dit que le checkout est en prod, mais je n'ai pas vérifié.", {}),
    ("Wenn payments rutscht, müssen wir umplanen", {}),
    # a status line heads the items under it, up to a blank line
    ("*Launched* :rocket:\n• checkout\n• payments\n\n*Blocked*\n• search",
     {"checkout/status": "done", "payments/status": "done", "search/status": "blocked"}),
    # choices, not a claim
    ("• Status: (on track / at risk / blocked / done)", {}),
    # the explicit date after a weekday; "thursday next week"
    ("payments go-live: Friday 11th December", {"payments/date": "2026-12-11"}),
    ("search will slip to thursday next week", {"search/status": "at_risk", "search/date": "2026-12-10"}),
    # when people should act, a noun with a cue word in it, an app's reminder: no target date
    ("Need a volunteer to QA the checkout copy before Friday 🙏", {}),
    ("writing the release notes for search today", {}),
    ('*Asana*: Reminder: "Checkout copy review" is due tomorrow', {}),
    # what is still open is the other deliverable's
    ("checkout is done, payments is still waiting on the bank",
     {"checkout/status": "done", "payments/status": "blocked"}),
    ("<#C1|checkout> and <#C2|search> both shipped", {"checkout/status": "done", "search/status": "done"}),
    # a unicode emoji ends a clause like a shortcode
    ("the checkout rollout is complete 🎉 payments on track for EOM",
     {"checkout/status": "done", "payments/status": "on_track", "payments/date": "2026-12-31"}),
    ("search: in progress", {"search/status": "on_track"}),
    ("in progress", {}),  # too little to give the channel's deliverable
    ("checkout and payments are both GA as of today", {"checkout/status": "done", "payments/status": "done"}),
    ("search is good for friday", {"search/status": "on_track", "search/date": "2026-12-04"}),
    ("Mi build está bloqueado otra vez", {}),  # one's own build
]


@pytest.mark.parametrize(("text", "want"), NEW_WRITERS)
def test_what_new_writers_taught(text: str, want: dict[str, str]) -> None:
    assert read(text) == want


def test_without_a_name_claims_go_to_the_fallback() -> None:
    assert read("shipped :rocket:", ["checkout"]) == {"checkout/status": "done"}
    assert read("still on track for Tuesday", ["search", "payments"]) == {
        "search/status": "on_track", "search/date": "2026-12-08",
        "payments/status": "on_track", "payments/date": "2026-12-08"}
    assert read("thanks! :pray:", ["checkout"]) == {}


# a status or date about no deliverable named goes to the channel's only when it can be about
# the work: not about the speaker's day, people, meetings, chores, private life or a quote
NOT_THE_CHANNELS = [
    "I'm stuck on a weird TypeScript error",
    "I'm on track to hit my step goal lol",
    "traffic was a nightmare, running late",
    "lol we're so behind on the fantasy league",
    "everything is fine, just slow wifi",
    "the PR is merged, thanks for the quick review!",
    "the all-hands is cancelled this week",
    "Reminder: timesheets due Friday",
    "reminder: fill in the survey by Dec 9",
    "see you all Monday!",
    "happy friday everyone :tada:",
    "Tom is stuck at the airport",
    "Raj is out, his kid is sick",
    "<@U05> is blocked on jury duty",
    "Sam unblocked me, thanks!",
    "ship it! (the birthday cake, I mean)",
    "LGTM :shipit:",
    ":coffee: :white_check_mark:",
    "✅ invites sent",
    'Legal: "we\'ll have it Monday"',
    "llego tarde, el metro está parado",
    "¡el café está listo!",
    "my 1:1 with Jo got moved to Monday",
    "Kim is OOO till Tuesday, she's blocked on nothing",
    "fyi I'll be offline Dec 23 - Jan 2",
    "Reminder: submit your holiday requests by Dec 11",
]
THE_CHANNELS = [
    ("done! :white_check_mark:", {"#chan/status": "done"}),
    ("we're blocked on legal sign-off", {"#chan/status": "blocked"}),
    ("I'm blocked on the API keys from the vendor", {"#chan/status": "blocked"}),
    ("we're running late on the press release, legal still redlining", {"#chan/status": "at_risk"}),
    ("checkout PR merged", {"checkout/status": "done"}),
    ("the onboarding PR is merged", {"onboarding/status": "done"}),
    ("the rollout is done, all users have it", {"#chan/status": "done"}),
    ("this got cancelled in the planning meeting", {"#chan/status": "cancelled"}),
    ("Newsletter went out at 9am", {"#chan/status": "done"}),
    ("it's done, thanks everyone for the help :pray:", {"#chan/status": "done"}),
    ("ETA Monday", {"#chan/date": "2026-12-07"}),
    ("Reminder: code freeze Dec 7, launch Dec 9", {"#chan/date": "2026-12-09"}),
    ("search is blocked, Ana is out sick and nobody else knows the indexer", {"search/status": "blocked"}),
]


@pytest.mark.parametrize("text", NOT_THE_CHANNELS)
def test_what_is_not_about_the_work_claims_nothing(text: str) -> None:
    assert read(text) == {}


@pytest.mark.parametrize(("text", "want"), THE_CHANNELS)
def test_a_terse_update_is_the_channels(text: str, want: dict[str, str]) -> None:
    assert read(text) == want


def test_thread_keys_follow_the_parent_claims() -> None:
    parent = "checkout is blocked waiting on payments"
    assert thread_keys(PARSER, LINKER, parent, THU, ["x"]) == ["checkout"]
    assert thread_keys(PARSER, LINKER, "checkout and payments sync", THU, ["x"]) == ["checkout", "payments"]
    assert thread_keys(PARSER, LINKER, "standup notes", THU, ["x"]) == ["x"]


def test_each_claim_keeps_its_evidence() -> None:
    text = "Weekly roundup:\n- checkout: done\n- payments: blocked (PCI)"
    got = PARSER.read(text, stated_at=THU, mentions=LINKER.mentions(text))
    evidence = {key: text[c.evidence_span[0]:c.evidence_span[1]] for key, c in got if c.evidence_span}
    assert evidence == {"checkout": "checkout: done", "payments": "payments: blocked (PCI)"}
    for _, claim in got:
        assert text[claim.span[0]:claim.span[1]] == claim.excerpt


def test_a_claim_without_names_keeps_the_old_single_reading() -> None:
    got = PARSER.parse("was blocked, now unblocked; ETA Friday", stated_at=THU)
    assert [(c.field, c.value) for c in got] == [(Field.STATUS, "on_track"), (Field.TARGET_DATE, "2026-12-04")]


def test_languages_come_from_the_config() -> None:
    english = ClaimParser(timezone="Europe/Berlin", languages=tuple(SlackConfig(status_languages=["en"]).status_languages))
    assert read("Checkout ist fertig", parser=english) == {}
    assert read("Checkout ist fertig") == {"checkout/status": "done"}
    # configured phrases work in any language, with the built-in judgement around them
    dutch = ClaimParser({"klaar": "done", "geblokkeerd": "blocked"}, timezone="Europe/Berlin")  # type: ignore[dict-item]
    assert read("checkout is klaar, payments geblokkeerd", parser=dutch) == {
        "checkout/status": "done", "payments/status": "blocked"}
    with pytest.raises(ValueError, match="unknown status language"):
        ClaimParser(languages=("xx",))


def test_the_connector_quotes_the_sentence_as_evidence() -> None:
    from connectors.slack.connector import EVIDENCE_MAX, evidence_of

    text = "Morning all! Weekly roundup:\n- checkout: done\n- payments: blocked (PCI)"
    got = dict(PARSER.read(text, stated_at=THU, mentions=LINKER.mentions(text)))
    assert evidence_of(text, got["payments"]) == "payments: blocked (PCI)"
    long = "checkout is blocked " + "because of a very long story " * 20 + "and more."
    (_, claim), = PARSER.read(long, stated_at=THU, mentions=LINKER.mentions(long))
    quoted = evidence_of(long, claim)
    assert len(quoted) <= EVIDENCE_MAX and quoted.startswith("checkout is blocked")
