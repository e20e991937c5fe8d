"""Free text (Slack messages) -> status and target-date claims, per deliverable named.

`ClaimParser.read(text, stated_at=..., mentions=...)` reads a message clause by clause and
returns `(deliverable key, Claim)` pairs: at most one status and one date per deliverable the
message names ("checkout is done, payments still blocked" gives a claim for each; a roundup or
bullet list gives one per line). Claims about nothing named have key None (the connector gives
them to the thread's or channel's deliverables). `parse(text, ...)` is the message-level
reading: at most one claim per field, for a message that names nothing. Every claim carries the
span of the words it came from and `evidence_span`, the sentence or list item it was read in,
both in the ORIGINAL text.

How a message is read
=====================
0. **Segments and subjects.** Sentences end at line breaks (bullets, numbered items, roundup
   lines) and at `.!?`; clauses at commas, colons, dashes, `;`, `and`/`but`/`so`/... . A status
   or date phrase is about the deliverables named in its clause (the nearest before it, with those
   listed alongside: "checkout and payments are blocked"; else the first after it: "not blocked
   on search anymore"), else in its sentence, else in the nearest sentence before (then after)
   that names one ("Checkout is merged. It's live now"). A deliverable named after a
   preposition is a place, not a list member ("posted it in <#C1|audit-log>, search is fine").
   Ellipsis: "..., but Y is" / "Y still is" / "and so is Y" take the state of the clause
   before; "Y isn't" / "but not Y" its negation.
1. **Masking.** Slack mrkdwn is blanked out character for character (same length), so offsets in
   the masked text are offsets in the original: `<url|label>` and `<#C1|channel>` keep only the
   label, mentions and bare URLs become spaces, `*bold*`/`_it_` lose their markers, `inline
   code`, code blocks, `~struck~` text, quoted lines (`> ...`) and one-to-three words in double
   quotes disappear (they are not the author's current claim), `&gt;`-style entities are decoded
   in place. Emoji (shortcodes and unicode) become a clause break, except those that state
   something: check marks (done), traffic-light circles (green on_track, yellow/orange/red
   at_risk), stop signs (blocked), crosses, `:traffic_light:` before a colour word.
   Not the author's claim either: reported speech from its cue to the end of its clause ("Sam
   said X was done", "the board says done", "according to the vendor"; "I'd say"/"I think" are
   the author's own; a relayed "the auditor now says Jan 20" still gives its date), irony (a
   sentence opening "yeah right"/"oh sure,", or carrying :upside_down_face:/:clown_face:/
   :roll_eyes:), a bot's text ("Reminder from Asana bot: ...", "the bot keeps posting ...",
   an app's reminder "*Asana*: Reminder: ..."),
   counterfactuals and theory ("would have been done", "in theory").
2. **Structured fields win.** `status: blocked`, `*Status:* _At risk_`, `eta: 2026-12-05`,
   `due: Dec 5`, `target date: ...`, `deadline: ...`, `go-live: ...` beat free text about the
   same deliverable. A status key counts at the start of a line or after a separator; date keys
   also anywhere when followed by a colon. `ETA: TBD` suppresses free-text dates.
3. **Status phrases** (`DEFAULT_PHRASES` in English, `claim_vocab` tables for German, Spanish,
   French, Portuguese, Dutch and Italian, plus configured extras, plus rule phrases) are found
   with one compiled regex, then each match is judged in its clause:
   - questions (a sentence ending in `?`, `Q:`, "are we ...") and hypotheticals (`if`, `unless`,
     `whether`, `in case`, `worst case`, "would be great to") claim nothing; in "X is blocked,
     can someone look?" only the tail is the question;
   - plans and modals (`will`, `'ll`, `should`, `going to`, `hoping to`, `once`, `after`, ...)
     cancel done/on-track/blocked/cancelled phrases but not at-risk ones ("might slip" is a risk
     now); "done by Friday" is a deadline; "deployed to staging" is not shipped;
   - past transient states (`was blocked`, `had been stuck`, `after being`) are history;
   - negation flips: not blocked / not at risk -> on_track, not on track -> at_risk, not done /
     not live -> no claim, not started / nobody has picked up -> not_started;
   - partial completion (`80% done`, `2 of 5 done`, `3/4 done`, `mostly done`, "merged, keys
     still pending") is not done, unless what is still open is another deliverable's;
   - statuses offered as choices ("Status: (on track / at risk / blocked)") claim nothing;
   - "in progress" is a weak on_track, and only about a deliverable the message names;
   - everyday uses are consumed as neutral: "goes live" (a plan), "out sick", "killed it",
     "standup cancelled", "blocked off my calendar", "the live site", "behind a flag", "the
     speaker dropped out", "that's fine", "the CI is red", "feeling stuck"; a clause whose
     subject is an everyday thing (printer, call, lunch, game night, ...) or one's own ("my
     PR ...", "... my notifications") claims nothing;
   - more vocabulary: "fine", traffic-light words ("is amber", "all green", "- x: red"; weaker
     than a plain phrase), a date moved later ("pushed/moved/postponed to <date>" is at_risk,
     only with a date that is not a meeting time), "needs another week", "didn't make it",
     a repeated last letter ("doneee", "on trackkk");
   Of the candidates about one deliverable the strongest kind wins (structured > explicit
   phrase or change such as "no longer blocked"/"unblocked" > plain negation such as "not
   blocked" or a traffic-light word > one lone status emoji; several emoji or a cross in the
   same line are a checklist, no claim), and among equals the LATEST in the text wins ("was
   blocked, now unblocked" -> on_track).
4. **Target dates** are looked for only when a date-ish token is present (month names,
   weekdays, numeric dates, today/tomorrow, EOD/EOW/EOM/EOY, "in two weeks", "the 5th"), and
   resolved with `dateparser` (RELATIVE_BASE = `stated_at` in the given timezone,
   PREFER_DATES_FROM future, TIMEZONE, MDY) giving the LOCAL calendar date; results are cached
   per (expression, local day). Hand rules cover what dateparser gets wrong or lacks: EOD/EOW/
   EOM/EOY, "end of next week", "next <weekday>", "the 5th", European `21.12.`. Not a target
   date: dates in questions or hypotheticals, times of day, version numbers and counts,
   numeric dates without a cue ("3/4 done"; "by/on/to/for/ETA 12/5", a zero-padded "12/05" or a
   date alone are fine), dates next to meetings/OOO/freezes/reviews/start of work (unless an
   explicit ETA/target/due cue is in the clause), the date being missed ("won't make Friday"),
   the end of a blocker ("blocked until Monday"), the old date ("from Dec 5 to Dec 12",
   "(was Nov 30)"), best cases ("as early as"), past plans ("we were going to ship today") and
   dates of something already done ("shipped today"). Activity times are not target dates:
   "today"/"tonight"/"tomorrow" count only with a target cue in the clause (due, ship, launch,
   live, release, ETA, by, moving/pushed to, on track/good/fine for, ...), and any date in a
   clause about work or an announcement (testing, pairing, review, writing, the email/banner
   going out) without such a cue is none. A guess after the date ("in 2 weeks maybe") is none.
   Also read: day-first dates when the day is over 12 ("18/12"), "Wed", "Wednesday the 16th",
   "Thursday 3rd December" (the explicit date), weekdays in the other six languages after
   "bis"/"para"/"pour"/"für"/"entro"/"Termin"..., a day and month in them ("le 10 décembre",
   "16 de dezembro", "14. Dezember"); a request's date is when people should act ("need a
   volunteer to QA it before Friday"), and "release notes"/"launch party" are not cues; a
   version number ("in 2.7", "upgrade to 5.1") is not a date. The latest remaining date wins.

   Relative slips with no known previous date ("slipping a week", "pushed by a week") yield NO
   date claim: the parser only knows absolute dates and dates relative to the message time.
   Vague periods ("next week", "mid-January", "Q1", "in January") yield no date either.

Conventions: "EOW" is the Friday of the message's Monday-Sunday week (the next Friday when said
on a weekend); "EOM" the last day of the month; a bare weekday is the next such day after
today (today's weekday means next week); "next <weekday>" is that weekday in the FOLLOWING
Monday-Sunday week (said on Thursday 12 Nov, "next Friday" is 20 Nov, not tomorrow).

`score_corpus(path)` measures precision/recall against a labelled JSONL corpus; the unit test
`tests/unit/test_claims_corpus.py` and `bench/claims_corpus.py` both use it.
"""

from __future__ import annotations

import bisect
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import dateparser

from connectors.base import CanonicalStatus, Field
from connectors.claim_vocab import (
    DATE_CUES_BY_LANGUAGE,
    LANGUAGES,
    MONTHS_BY_LANGUAGE,
    NEGATORS_BY_LANGUAGE,
    NOT_THE_WORK,
    NOT_THE_WORK_WORDS,
    PHRASES_BY_LANGUAGE,
    PRIVATE_LIFE,
    WEEKDAYS_BY_LANGUAGE,
)

__all__ = [
    "DEFAULT_PHRASES",
    "Claim",
    "ClaimParser",
    "KeyedClaim",
    "MentionLike",
    "clear_caches",
    "parse_claims",
    "score_corpus",
]

S = CanonicalStatus


@dataclass(frozen=True, slots=True)
class Claim:
    field: Field
    value: str
    span: tuple[int, int]
    excerpt: str
    # the sentence (or roundup line) the claim was read in: the evidence to quote
    evidence_span: tuple[int, int] | None = None


# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

# Plain phrases a team would put in config. Matched case-insensitively on word boundaries, any
# run of whitespace or a hyphen between words; "-ed" may be typed "-d" ("blockd", "mergd").
DEFAULT_PHRASES: dict[str, CanonicalStatus] = {
    # done
    "shipped": S.DONE,
    "launched": S.DONE,
    "live": S.DONE,
    "went live": S.DONE,
    "merged": S.DONE,
    "done": S.DONE,
    "released": S.DONE,
    "deployed": S.DONE,
    "completed": S.DONE,
    "rolled out": S.DONE,
    "finished": S.DONE,
    "published": S.DONE,
    "delivered": S.DONE,
    "went out": S.DONE,
    "done and dusted": S.DONE,
    "wrapped up": S.DONE,
    "sent": S.DONE,
    "sent out": S.DONE,
    # blocked
    "blocked": S.BLOCKED,
    "blocking": S.BLOCKED,
    "stuck": S.BLOCKED,
    "waiting on": S.BLOCKED,
    "on hold": S.BLOCKED,
    "paused": S.BLOCKED,
    "held up": S.BLOCKED,
    "on ice": S.BLOCKED,
    "stuck behind": S.BLOCKED,
    # at risk
    "at risk": S.AT_RISK,
    "slipping": S.AT_RISK,
    "slipped": S.AT_RISK,
    "slip": S.AT_RISK,
    "slips": S.AT_RISK,
    "delayed": S.AT_RISK,
    "behind": S.AT_RISK,
    "running late": S.AT_RISK,
    "off track": S.AT_RISK,
    "rolled back": S.AT_RISK,
    "reverted": S.AT_RISK,
    "longer than expected": S.AT_RISK,
    "longer than planned": S.AT_RISK,
    "longer than anticipated": S.AT_RISK,
    # on track
    "on track": S.ON_TRACK,
    "back on track": S.ON_TRACK,
    "on schedule": S.ON_TRACK,
    "on target": S.ON_TRACK,
    "going well": S.ON_TRACK,
    "going fine": S.ON_TRACK,
    "going smoothly": S.ON_TRACK,
    "still good for": S.ON_TRACK,
    "still good": S.ON_TRACK,
    "looks good for": S.ON_TRACK,
    "looking good for": S.ON_TRACK,
    "all good": S.ON_TRACK,
    "we're good": S.ON_TRACK,
    "we are good": S.ON_TRACK,
    "we're fine": S.ON_TRACK,
    "good to go": S.ON_TRACK,
    "in good shape": S.ON_TRACK,
    "ahead of schedule": S.ON_TRACK,
    "ahead of plan": S.ON_TRACK,
    "tracking to plan": S.ON_TRACK,
    "as planned": S.ON_TRACK,
    "still the plan": S.ON_TRACK,
    "no blockers": S.ON_TRACK,
    "nothing blocking": S.ON_TRACK,
    "fine": S.ON_TRACK,
    "still fine": S.ON_TRACK,
    "going ahead": S.ON_TRACK,
    # not started
    "not started": S.NOT_STARTED,
    "not yet started": S.NOT_STARTED,
    # cancelled
    "cancelled": S.CANCELLED,
    "canceled": S.CANCELLED,
    "cancelling": S.CANCELLED,
    "canceling": S.CANCELLED,
    "descoped": S.CANCELLED,
    "de-scoped": S.CANCELLED,
    "dropped": S.CANCELLED,
    "dropping": S.CANCELLED,
    "killed": S.CANCELLED,
    "shelved": S.CANCELLED,
    "scrapped": S.CANCELLED,
    "cut from scope": S.CANCELLED,
    "out of scope": S.CANCELLED,
    "no-go": S.CANCELLED,
    "pulled the plug": S.CANCELLED,
}

# Pseudo classes used by the rule phrases below.
_NEUTRAL = "neutral"  # consumes words that look like a claim but are not ("goes live", "out sick")
_STARTED = "started"  # "started"/"kicked off": claims nothing, but negated it is not_started

_NEG_WORDS = (r"(?:won'?t|will\s+not|not\s+going\s+to|unlikely\s+to|might\s+not|may\s+not|didn'?t|"
              r"did\s+not)")
_CANT = r"(?:can'?t|cannot|can\s+not|unable\s+to)"

# (regex, class, kind). kind: "" plain phrase; "change" (un-blocked: an explicit change of
# state); "neg" (the negation is part of the phrase: no further negation check); "miss" (an
# at-risk claim whose object is the date being missed); "emoji".
_RULE_PHRASES: list[tuple[str, str, str]] = [
    # not claims
    (r"(?:go|goes|going|to\s+go)[\s-]+live", _NEUTRAL, ""),
    (r"live\s+(?:demo|stream|event|session|chat|webinar|call|q&a|preview|feed|updates?)",
     _NEUTRAL, ""),
    ((r"(?:is|are|'s|'re|am|'m)\s+out\s+(?:sick|of\s+(?:the\s+)?office|today|tomorrow|until|"
     r"till|this|next|on\s+(?:leave|vacation|pto)|for\s+the)"), _NEUTRAL, ""),
    (r"(?:killed|crushed)\s+it", _NEUTRAL, ""),
    # "ship it!" and the :shipit: squirrel after an approval are a go-ahead, not "shipped"
    (r"ship\s+it(?![\w'])|(?:lgtm|approved?|looks\s+good)[\s!.,]*(?::\+1:\s*)?:shipit:", _NEUTRAL, ""),
    # "fine" as agreement, not a state; "dropped out" of an event; red/green builds
    ((r"(?:that'?s|that\s+is|i'?m|i\s+am|you'?re|seems|sounds)\s+(?:totally\s+|perfectly\s+)?fine|"
      r"fine\s+(?:by|with)\s+me|fine\s+print|fine\s+by\s+us"), _NEUTRAL, ""),
    (r"dropp(?:ed|ing)\s+(?:out|off)", _NEUTRAL, ""),
    (r"(?:right|just|close|closely|not\s+far)\s+behind", _NEUTRAL, ""),
    (r"(?:ok|okay|fine)\s*,\s*(?:i'?ll|we'?ll|let'?s|i\s+will|i\s+can)|this\s+is\s+fine", _NEUTRAL, ""),
    (r"(?:i'?m|i\s+am)\s+done\s+with", _NEUTRAL, ""),
    ((r"(?:finished|done|completed)\s+(?:with\s+)?(?:reading|writing|reviewing|watching|going\s+through|"
      r"my|your|our\s+(?:1:1|one-on-one))"), _NEUTRAL, ""),
    (r"live\s+on\s+(?:the\s+)?(?:podcast|air|stage|stream|youtube|twitch|linkedin|tv|radio)", _NEUTRAL, ""),
    (r"feel(?:ing|s)?\s+(?:a\s+bit\s+|so\s+|really\s+)?(?:blocked|stuck|behind)", _NEUTRAL, ""),
    ((r"behind\s+on\s+(?:my\s+)?(?:email|emails|slack|messages|sleep|reviews|notifications|"
      r"inbox|reading|admin)"), _NEUTRAL, ""),
    (r"(?:i'?m|i\s+am)\s+running\s+late|running\s+(?:\d+|a\s+few|five|ten)\s+min", _NEUTRAL, ""),
    ((r"(?:ci|build|builds|tests|pipeline|main|master|lint|checks|the\s+graph|dashboard\s+numbers|"
      r"status\s+page|tests\s+are|pr|prs)"
      r"\s+(?:is|are|'s|went|turned|looks?|still)\s+(?:\w+\s+)?(?:red|green)"), _NEUTRAL, ""),
    ((r"(?:team|they|everyone|folks|people|half\s+the\s+team|we)\s+(?:is|are|'re)\s+"
      r"(?:all\s+)?out"), _NEUTRAL, ""),
    (r"blocked\s+by\s+(?:a\s+|the\s+|my\s+)?(?:meeting|meetings|call|calls|traffic)", _NEUTRAL, ""),
    (r"done\s+(?:with\s+(?:my|lunch)\b|for\s+(?:today|the\s+day|now|the\s+week|tonight))",
     _NEUTRAL, ""),
    # everyday uses of the same words that are not about a deliverable
    (r"(?:killed|cancel+ed|cancel+ing)\s+(?:(?:the|a|our|my|that|this|today'?s|tomorrow'?s)\s+)?"
     r"(?:job|process|pod|query|container|worker|server|instance|meeting|standup|stand-up|"
     r"sync|call|1:1|retro|demo|invite|order|subscription|flight|trip)s?", _NEUTRAL, ""),
    (r"(?:job|process|pod|query|container|worker|server|instance|meeting|standup|stand-up|"
     r"sync|call|1:1|retro|invite|flight|trip)s?\s+(?:(?:is|was|were|got|gets|has\s+been)\s+)?"
     r"(?:killed|cancel+ed|dropped)", _NEUTRAL, ""),
    (r"blocked\s+(?:off|out|(?:(?:my|your|the|some|an?)\s+)?(?:calendar|time|hour|slot|"
     r"afternoon|morning))", _NEUTRAL, ""),
    (r"on\s+hold\s+with", _NEUTRAL, ""),
    (r"(?:she|he|i)(?:'s|'m|\s+is|\s+am|\s+was)\s+out", _NEUTRAL, ""),
    (r"sent\s+(?:it\s+|them\s+|this\s+)?(?:over\s+)?to\s+(?:legal|finance|design|security|qa|"
     r"review|procurement|the\s+\w+\s+team)", _NEUTRAL, ""),
    ((r"stuck\s+(?:in|on)\s+(?:traffic|a\s+(?:call|meeting|train|plane)|meetings|calls|"
     r"(?:the\s+)?airport)"), _NEUTRAL, ""),
    (r"(?:done|blocked|live|shipped|stuck|on\s+track)-?ish", _NEUTRAL, ""),
    ((r"dropped\s+(?:(?:a|an|the|my|some|our)\s+)?(?:link|note|comment|message|ball|line|"
     r"question|pr|doc|file|call|off|in|into|by)s?"), _NEUTRAL, ""),
    (r"(?:well|nicely|good\s+job|great\s+job)\s+done", _NEUTRAL, ""),
    (r"behind\s+(?:a|the)\s+(?:feature\s+)?(?:flag|paywall|firewall|vpn|login|scenes)",
     _NEUTRAL, ""),
    ((r"sent\s+(?:(?:you|him|her|them|it|a|an|the|my|our)\s+)*(?:pr|link|invite|note|message|"
     r"request|email\s+to\s+(?:legal|finance)|dm|draft|for\s+review|over|back)s?"),
     _NEUTRAL, ""),
    (r"(?:mostly|almost|nearly|half|partially|partly|\d+\s*%)\s+done", _NEUTRAL, ""),
    (r"(?:not\s+)?(?:sure|clear)\s+(?:it'?s|we'?re|if|whether)", _NEUTRAL, ""),
    # done
    (r"(?:is|are|'s|'re|now|went|both|all|hit|reached)\s+(?:now\s+)?(?-i:GA)|generally\s+available",
     S.DONE, ""),
    ((r"(?:(?:is|are|'s|'re|now|as)|(?:rollout|roll-out|launch|release|migration|deploy|"
     r"deployment|upgrade|handover|build|qa|testing|work|cutover))\s+complete"), S.DONE, ""),
    (r"(?:is|are|'s|'re|it's|now|be)\s+(?:now\s+)?out", S.DONE, ""),
    # explicit negation inside the phrase
    (_NEG_WORDS + r"\s+(?:make|hit|meet|finish|happen|land|be\s+ready|be\s+done|get\s+there)",
     S.AT_RISK, "miss"),
    (r"(?:can'?t|cannot)\s+make", S.AT_RISK, "miss"),
    (r"miss(?:ed)?\s+(?:the|our|this|that|it|friday|monday|tuesday|wednesday|thursday|eow|eom)",
     S.AT_RISK, "miss"),
    (r"miss(?:ed)?", S.AT_RISK, "miss"),
    (_CANT + r"\s+(?:proceed|ship|merge|launch|release|deploy|continue|move\s+forward|progress)",
     S.BLOCKED, "neg"),
    (r"(?:is|it's|we're|we\s+are)\s+a\s+go(?![\w-])", S.ON_TRACK, ""),
    (r"un-?blocked", S.ON_TRACK, "change"),
    (r"(?:is|are|'s|'re)\s+(?:well\s+|slightly\s+|a\s+bit\s+)?ahead(?!\s+of\s+(?:us|time|the))", S.ON_TRACK, ""),
    (r"should\s+(?:still\s+)?be\s+(?:fine|ok|okay|good|on\s+track)", S.ON_TRACK, ""),
    # traffic-light words: "all green", "is amber", "- checkout: red"
    ((r"(?:(?:is|are|'s|'re|all|looks?|looking|still|now|stays?|remains?|went|turned|back\s+to)\s+"
      r"|(?<=:\s)|(?<=:))green|:traffic_light:\s*green|\U0001F6A6\s*green"), S.ON_TRACK, "weak"),
    ((r"(?:(?:is|are|'s|'re|all|looks?|looking|still|now|stays?|remains?|went|turned)\s+"
      r"|(?<=:\s)|(?<=:))(?:amber|yellow|red|orange)"
      r"|:traffic_light:\s*(?:amber|yellow|red|orange)|\U0001F6A6\s*(?:amber|yellow|red|orange)"),
     S.AT_RISK, "weak"),
    # "in progress": going, a weak claim that any plain phrase beats ("in progress, but blocked"),
    # and only about a deliverable named (a bare "in progress" says too little)
    (r"(?<!work\s)in\s+progress", S.ON_TRACK, "progress"),
    # a date moved later: "pushed to Monday", "moving the launch to the 21st" (needs a date)
    ((r"(?:pushed|postponed|moved|moving|moves|bumped|pushing|pushes)(?:\s+(?:back|out|again))?"
      r"(?:\s+(?:it|this|that|the(?:\s+[\w-]+){1,3}?))?(?:\s+from\s+[\w./-]+(?:\s+\d+\w*)?)?"
      r"\s+(?:back\s+|out\s+)?(?:to|until|till)(?=\s)"),
     S.AT_RISK, "slipto"),
    (r"(?:is|are|'s|'re|be|looks?|looking|getting|pretty|very|a\s+bit|super|really)\s+tight", S.AT_RISK, ""),
    # "search is good for friday", "still on for Thursday": only before a date
    (r"(?:is|are|'s|'re|still|looks?|looking)\s+(?:good|on)\s+for(?=\s+(?:the\s+)?(?:\d|mon|tue|wed|thu|"
     r"fri|sat|sun|today|tomorrow|tmrw|eod|eow|eom|next|this|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|"
     r"nov|dec|end)\w*)", S.ON_TRACK, ""),
    (r"(?:is|are|it's|that's|'s|'re|now|went|been|landed|deployed|rolled\s+out)\s+(?:out\s+)?(?:in|to|into)\s+"
     r"prod(?:uction)?", S.DONE, ""),
    (r"(?:still\s+)?in\s+the\s+backlog", S.NOT_STARTED, ""),
    ((r"needs?\s+(?:another|one\s+more|an\s+extra|a\s+few\s+more|a\s+couple\s+more|"
      r"(?:two|three|2|3)\s+more)\s+(?:days?|weeks?|sprints?)"), S.AT_RISK, ""),
    # started family
    (r"started|begun|kicked\s+off|picked\s+up", _STARTED, ""),
    # check marks and traffic-light emoji
    ((r":(?:white_check_mark|heavy_check_mark|ballot_box_with_check|shipit):|\u2705|\u2714\ufe0f?|"
     r"\u2611\ufe0f?"), S.DONE, "emoji"),
    (r":(?:large_green_circle|green_circle):|\U0001F7E2", S.ON_TRACK, "emoji"),
    ((r":(?:red_circle|large_red_circle|large_yellow_circle|yellow_circle|large_orange_circle|"
      r"orange_circle):|\U0001F534|\U0001F7E1|\U0001F7E0"), S.AT_RISK, "emoji"),
    (r":(?:octagonal_sign|no_entry|stop_sign):|\U0001F6D1|\u26D4\ufe0f?", S.BLOCKED, "emoji"),
]

_STRUCT_STATUS_VALUES: dict[str, CanonicalStatus] = {
    "on track": S.ON_TRACK, "on-track": S.ON_TRACK, "ontrack": S.ON_TRACK, "on_track": S.ON_TRACK,
    "green": S.ON_TRACK, "good": S.ON_TRACK, "ok": S.ON_TRACK, "in progress": S.ON_TRACK,
    "at risk": S.AT_RISK, "at-risk": S.AT_RISK, "at_risk": S.AT_RISK, "yellow": S.AT_RISK,
    "amber": S.AT_RISK, "off track": S.AT_RISK, "off-track": S.AT_RISK, "red": S.AT_RISK,
    "delayed": S.AT_RISK, "slipping": S.AT_RISK, "behind": S.AT_RISK,
    "blocked": S.BLOCKED, "on hold": S.BLOCKED, "stuck": S.BLOCKED, "paused": S.BLOCKED,
    "done": S.DONE, "complete": S.DONE, "completed": S.DONE, "shipped": S.DONE,
    "launched": S.DONE, "live": S.DONE, "released": S.DONE, "deployed": S.DONE,
    "not started": S.NOT_STARTED, "not_started": S.NOT_STARTED, "not yet started": S.NOT_STARTED,
    "to do": S.NOT_STARTED, "todo": S.NOT_STARTED,
    "cancelled": S.CANCELLED, "canceled": S.CANCELLED, "descoped": S.CANCELLED,
    "dropped": S.CANCELLED, "shelved": S.CANCELLED, "killed": S.CANCELLED,
}

_TRANSIENT = {S.BLOCKED, S.AT_RISK, S.ON_TRACK, S.NOT_STARTED}
_MODAL_SENSITIVE = {S.DONE, S.ON_TRACK, S.BLOCKED, S.CANCELLED, _STARTED}

_NEGATORS = {
    "not", "no", "never", "nothing", "nobody", "none", "without", "hardly", "cannot", "nope",
    "isnt", "arent", "wasnt", "werent", "dont", "doesnt", "didnt", "havent", "hasnt", "hadnt",
    "wont", "cant", "aint", "shouldnt", "wouldnt", "couldnt", "neither", "nor",
} | set().union(*NEGATORS_BY_LANGUAGE.values())
_MODALS = {
    "will", "would", "should", "could", "might", "may", "must", "can", "gonna", "going", "plan",
    "planning", "planned", "hope", "hoping", "aim", "aiming", "expect", "expecting", "expected",
    "want", "wants", "need", "needs", "supposed", "scheduled", "about", "try", "trying", "to",
    "once", "when", "after", "before", "until", "till", "let's", "lets", "please", "pls",
    "ready", "wanna", "shall", "ll", "d",
}
_TO_EXCEPTIONS = {"back", "moved", "move", "went", "set", "changed", "switched", "flipped",
                  "due", "down", "close", "up"}
_PAST = {"was", "were", "had"}
_PARTIAL = re.compile(r"\d+\s*%|\b\d+\s*(?:of|out\s+of|/)\s*\d+\b", re.IGNORECASE)
_AFTER_LIVE = {"in", "on", "for", "now", "to", "with", "at", "across", "since", "and", "as",
               "today", "yesterday", "this", "last", "earlier", "already", "everywhere",
               "again", "globally", "worldwide"}
_EVERYDAY = {
    "printer", "wifi", "coffee", "lunch", "dinner", "party", "game", "offsite", "meeting",
    "meetings", "call", "calls", "podcast", "handover", "interview", "train", "flight", "bus",
    "package", "parcel", "laptop", "dotfiles", "elevator", "traffic", "retro", "standup",
    "pipeline", "runner", "stream", "livestream", "kitchen", "renovation", "deal", "contract",
    "demo", "uber", "taxi", "cab", "calendar", "calendars", "playlist", "spotify", "spam",
    "account", "league", "visa",
    "invite", "speaker", "candidate", "vacation", "weekend", "gym", "kids", "doctor",
}
_PERFECT = {"has", "have", "had", "hasnt", "havent", "hadnt", "'ve"}
_PREPROD = {"staging", "stage", "dev", "test", "testing", "qa", "sandbox", "preview", "uat",
            "preprod", "pre-prod"}

_TIER_STRUCTURED, _TIER_EXPLICIT, _TIER_NEGATED, _TIER_EMOJI = 3, 2, 1, 0


def _phrase_regex(phrase: str) -> str:
    words = re.split(r"[\s-]+", phrase.strip().replace("\u2019", "'"))
    parts = []
    for w in words:
        e = re.escape(w.lower())
        if len(w) >= 5 and w.lower().endswith("ed"):
            e = re.escape(w.lower()[:-2]) + "e?d"
        parts.append(e)
    if parts and phrase[-1:].isalpha():
        parts[-1] += parts[-1][-1] + "*"  # a repeated last letter: "doneee", "on trackkk"
    return r"[\s-]+".join(parts)


# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------

_SLACK_ENTITY = re.compile(r"<([^<>|\n]*)(?:\|([^<>\n]*))?>")
_HTML_ENTITY = re.compile(r"&(amp|lt|gt);")
_QUOTE_LINE = re.compile(r"(?m)^[ \t]*>.*$")
# a reply that endorses the quote it answers makes the quote its author's claim too
_ENDORSE = re.compile(r"\n[ \t]*(?:\+1|:\+1:|\U0001F44D|confirmed|agreed|yes|yep|yup|correct|exactly|"
                      r"true|this|seconded|same here)(?![\w?])", re.IGNORECASE)


def _quote(m: re.Match[str]) -> str:
    """A quoted line is someone else's words, unless the next line endorses it ("+1", "confirmed").
    The ">" itself is always blanked."""
    line = m.group(0)
    rest = m.string[m.end():]
    if _ENDORSE.match(rest) and not re.match(r"\n[^\n]*\?", rest):
        gt = line.index(">")
        return line[:gt] + " " + line[gt + 1:]
    return _blank(line)
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_STRIKE = re.compile(r"(?<![\w~])~[^~\n]+~(?![\w~])")
# a word or three in quotes is a mention of the words ("the ticket still says "blocked""),
# not the author's claim
_QUOTED_WORDS = re.compile(r"[\"\u201c](?:\s*[\w'-]+:?){1,3}\s*[\"\u201d]")
_EMOJI = re.compile(r":[a-z0-9_+'\-]*[a-z][a-z0-9_+'\-]*:", re.IGNORECASE)
# emoji that state something keep their text; any other emoji becomes a clause break
_STATUS_EMOJI = {"white_check_mark", "heavy_check_mark", "ballot_box_with_check", "shipit",
                 "large_green_circle", "green_circle", "red_circle", "large_red_circle",
                 "large_yellow_circle", "yellow_circle", "large_orange_circle", "orange_circle",
                 "octagonal_sign", "no_entry", "stop_sign", "traffic_light"}
_CROSS_EMOJI = re.compile(r":(?:x|heavy_multiplication_x|no_entry_sign):|\u274c|\u2716",
                          re.IGNORECASE)
# emoji that turn the sentence they end into irony ("dark mode is "done" :upside_down_face:")
_SARCASM_EMOJI = re.compile(r":(?:upside_down_face|clown_face|roll_eyes|face_with_rolling_eyes|"
                            r"unamused|smirk):|\U0001F643|\U0001F921|\U0001F644|\U0001F612",
                            re.IGNORECASE)
# Unicode emoji that state nothing ("🎉", "🙌", "🚀"); the status ones (check marks, coloured
# circles, stop signs, crosses, the traffic light) are kept like their shortcodes.
_UNICODE_EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]")
_UNICODE_STATUS = set("\u2705\u2714\u2611\u26d4\u274c\u2716\U0001F534\U0001F6A6\U0001F6D1"
                      "\U0001F7E0\U0001F7E1\U0001F7E2")
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_MARKERS = re.compile(r"(?<![\w*_`])[*_`]+(?=\S)|(?<=\S)[*_`]+(?![\w*_`])")
_BARE_URL = re.compile(r"https?://\S+")


def _blank(s: str) -> str:
    return "".join("\n" if c == "\n" else " " for c in s)


def _mask(text: str) -> str:
    def entity(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        whole = m.group(0)
        if label is not None and not target.startswith(("@", "!")):
            start = m.start(2) - m.start(0)
            return " " * start + label + " "  # keep the label: link text, channel name
        return _blank(whole)

    t = _SLACK_ENTITY.sub(entity, text)
    t = _HTML_ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)]
                         + " " * len(m.group(1)) + " ", t)
    t = _QUOTE_LINE.sub(_quote, t)
    t = _CODE_BLOCK.sub(lambda m: _blank(m.group(0)), t)
    t = _INLINE_CODE.sub(lambda m: _blank(m.group(0)), t)  # code is not prose
    t = _STRIKE.sub(lambda m: _blank(m.group(0)), t)
    t = _QUOTED_WORDS.sub(lambda m: _blank(m.group(0)), t)
    # other emoji are blanked but keep a "|" so they separate clauses like punctuation
    t = _EMOJI.sub(lambda m: m.group(0) if m.group(0)[1:-1].lower() in _STATUS_EMOJI
                   else "|" + " " * (len(m.group(0)) - 1), t)
    t = _UNICODE_EMOJI.sub(lambda m: m.group(0) if m.group(0) in _UNICODE_STATUS else "|", t)
    t = _MARKERS.sub(lambda m: _blank(m.group(0)), t)
    t = _BARE_URL.sub(lambda m: _blank(m.group(0)), t)
    t = t.replace("\u2019", "'").replace("\u2018", "'")
    assert len(t) == len(text)
    return t


# ---------------------------------------------------------------------------------------------
# Sentences, clauses and tokens
# ---------------------------------------------------------------------------------------------

_SENT_END = re.compile(r"\n+|[.!?]+(?=[\s)\"']|$)")
_ABBREV_BEFORE_DOT = re.compile(
    r"(?:\b(?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|e\.g|i\.e|vs|approx|etc)|\d)$",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"^\W*(?:(?:hey|so|ok|okay|also|and|quick\s+q|q|question)\b[\s,:]*)?"
    r"(?:(?:quick\s+)?q\s*:|question\s*:|"
    r"(?:is|are|was|were|did|does|do|has|have|can|could|will|would|should|shall|any)\s+"
    r"(?:we|you|it|they|this|that|the|anyone|anybody|everyone|someone|somebody|there|i|he|she|"
    r"our|your|update|news|eta)\b)",
    re.IGNORECASE,
)
_QUESTION_SPLIT = re.compile(r"[,;\u2014\u2013]|\s-\s|\bbut\b", re.IGNORECASE)
_QUESTION_TAIL = re.compile(
    r"(?:(?:can|could|would|will)\s+(?:someone|somebody|anyone|anybody|you|u)\b|"
    r"(?:any(?:one|body)|who|what|when|where|why|how|which|thoughts|ideas|pls|please)\b|"
    r"(?:is|are|do|does|did|should|shall)\s+(?:someone|anyone|anybody|there|that|this)\b)",
    re.IGNORECASE,
)
_HYPOTHETICAL = re.compile(
    r"\b(?:if|unless|in\s+case|whether|assuming|suppose|supposing|worst\s+case|best\s+case|"
    r"would\s+be\s+(?:great|nice|good|ideal|awesome|cool)|wish|ideally|in\s+the\s+event|"
    r"in\s+theory|on\s+paper|(?:would|could|should)(?:\s+not|n'?t)?\s+have|what\s+if|"
    r"not\s+sure|unsure|wondering|(?:pls|please|can\s+you|could\s+you)\s+(?:confirm|verify|check|"
    r"double[- ]check|make\s+sure)|make\s+sure|double[- ]check|"
    # the same in the other status languages (Italian "si è" is reflexive, not "if")
    r"wenn|falls|sofern|si(?!\s+(?:è|e|sta|stanno|sono)\b)|caso|indien|qualora)\b",
    re.IGNORECASE,
)
_CLAUSE_DELIM = re.compile(
    r"[,;:()\[\]\u2192\u2022|]|->|(?<=\s)[-\u2013\u2014](?=\s)|\u2014|\n|[.!?](?=\s|$)|"
    r"\b(?:but|and|so|then|now|while|though|although|because|bc|since|whereas|except)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|%", re.IGNORECASE)
# Someone else's words: from the cue to the end of its clause ("Sam said X was done, I doubt it",
# "the board says done but it really isn't", "according to the vendor it shipped").
_REPORTED = re.compile(
    r"\b(?:said|says|say|told|tells|mentioned|mentions|claims?|claimed|thinks|thought|heard|hear|"
    r"keeps?\s+(?:saying|posting|telling)|according\s+to|supposedly|allegedly|apparently|"
    r"reportedly|rumou?r\s+(?:is|has\s+it)|quoting|"
    r"(?:a\s+)?dit\s+que|dice\s+que|dijo\s+que|diz\s+que|disse\s+que|sagt|sagte|meint|"
    r"zegt\s+dat|zei\s+dat|dice\s+che|ha\s+detto\s+che)\b",
    re.IGNORECASE,
)
_REPORTED_END = re.compile(r"[,;.!?:\u2014\u2013\n]|\s-\s|\bbut\b|\bhowever\b", re.IGNORECASE)
# irony at the start of a sentence ("yeah right, it's totally on track")
_SARCASM_START = re.compile(r"^\W*(?:yeah\s+right|oh\s+sure|sure\s+sure|suuu+re|as\s+if|sure\s*,|"
                            r"oh\s+yeah\s*,|right\s*,\s*because)", re.IGNORECASE)
# a bot's words pasted or relayed, and reminders: not a person's claim
_BOT_TEXT = re.compile(r"\b(?:from|by)\s+(?:the\s+)?(?:[\w-]+\s+)?bot\b|"
                       r"\bbot\s+(?:output|says|said|posted|posts|message|text|keeps)\b|"
                       r"^\W*(?:the\s+)?[\w-]+\s+bot\s*:|\bthe\s+bot\b|"
                       # an app's reminder ("*Asana*: Reminder: ...", 'Reminder: "Copy review" is due')
                       r"^\W*[\w-]+\W*:\W*reminder\b|\breminder\s*:\s*[\"\u201c]", re.IGNORECASE)


@dataclass(slots=True)
class _Sentence:
    start: int
    end: int
    question_from: int | None  # positions >= this are part of a question
    hyp_from: int | None  # positions >= this are hypothetical
    reported: list[tuple[int, int, bool]]  # someone else's words, irony, a bot's text; the flag:
    # also for dates (not for a relayed "the vendor now says Jan 20")

    def excluded(self, pos: int, *, for_date: bool = False) -> bool:
        return (self.question_from is not None and pos >= self.question_from) or (
            self.hyp_from is not None and pos >= self.hyp_from) or any(
            a <= pos < b and (dates or not for_date) for a, b, dates in self.reported)


def _sentences(masked: str, text: str | None = None) -> list[_Sentence]:
    out: list[_Sentence] = []
    start = 0
    n = len(masked)
    for m in _SENT_END.finditer(masked):
        if m.group(0) == "." and _ABBREV_BEFORE_DOT.search(masked[max(0, m.start() - 6):m.start()]):
            continue  # "Dec. 8th", "21.12." are not sentence ends
        out.append(_make_sentence(masked, start, m.end(), text))
        start = m.end()
    if start < n:
        out.append(_make_sentence(masked, start, n, text))
    return out


def _make_sentence(masked: str, start: int, end: int, text: str | None = None) -> _Sentence:
    body = masked[start:end]
    stripped = body.strip(" \t\n|")
    q_from: int | None = None
    if _QUESTION_START.match(stripped):
        q_from = start
    elif stripped.endswith("?"):
        q_from = start
        # "I'm blocked on review, can someone take a look?": only the tail asks
        cut = None
        for m in _QUESTION_SPLIT.finditer(body):
            cut = m
        if cut is not None and _QUESTION_TAIL.match(body[cut.end():].strip(" \t|")):
            q_from = start + cut.end()
    hyp = _HYPOTHETICAL.search(body)
    return _Sentence(start, end, q_from, start + hyp.start() if hyp else None,
                     _reported_spans(masked, start, end, text))


def _reported_spans(masked: str, start: int, end: int, text: str | None) -> list[tuple[int, int, bool]]:
    body = masked[start:end]
    raw = text[start:end] if text is not None else body
    # the irony emoji may close the sentence after its full stop: look a little beyond
    after = text[end:end + 40].split("\n", 1)[0] if text is not None else ""
    if _SARCASM_START.match(body) or _SARCASM_EMOJI.search(raw) or (
            _SARCASM_EMOJI.match(after.strip()) if after.strip() else False):
        return [(start, end, True)]
    if _BOT_TEXT.search(body):
        return [(start, end, True)]
    spans: list[tuple[int, int, bool]] = []
    for m in _REPORTED.finditer(body):
        if re.search(r"\b(?:i|we)(?:'d|\s+would)?\s+(?:think|thought|say)\s*$", body[:m.end()],
                     re.IGNORECASE):
            continue  # "I think it's done", "I'd say it's at risk": the author's own (hedged) word
        stop = _REPORTED_END.search(body, m.end())
        relayed = m.group(0).lower() in ("says", "say")
        spans.append((start + m.start(), start + (stop.start() if stop else len(body)), not relayed))
    return spans


def _norm_token(tok: str) -> str:
    t = tok.lower()
    if t.endswith("n't"):
        return t.replace("'", "")
    if "'" in t:
        head, tail = t.split("'", 1)
        if tail in ("ll", "d"):
            return tail
        if tail in ("re", "s", "m", "ve"):
            return head + "'" + tail
    return t


@dataclass(slots=True)
class _Ctx:
    sentences: list[_Sentence]
    sent_starts: list[int]
    delims_start: list[int]
    delims_end: list[int]

    def sentence(self, pos: int) -> _Sentence:
        i = bisect.bisect_right(self.sent_starts, pos) - 1
        return self.sentences[max(i, 0)]

    def clause(self, s: int, e: int, masked: str) -> tuple[int, int]:
        sent = self.sentence(s)
        i = bisect.bisect_right(self.delims_end, s) - 1
        cs = self.delims_end[i] if i >= 0 else 0
        j = bisect.bisect_left(self.delims_start, e)
        ce = self.delims_start[j] if j < len(self.delims_start) else len(masked)
        return max(cs, sent.start), min(ce, sent.end)


def _context(masked: str, text: str | None = None) -> _Ctx:
    sents = _sentences(masked, text)
    ds, de = [], []
    for m in _CLAUSE_DELIM.finditer(masked):
        ds.append(m.start())
        de.append(m.end())
    return _Ctx(sents, [s.start for s in sents], ds, de)


def _tokens(masked: str, start: int, end: int) -> list[tuple[str, int]]:
    return [(_norm_token(m.group(0)), m.start()) for m in _TOKEN.finditer(masked, start, end)]


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORD = r"(?:st|nd|rd|th)?"
_WEEKDAY = (r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|weds?|"
            r"thu(?:rs?)?|fri)")
_FOREIGN_WEEKDAYS = {name: n for table in WEEKDAYS_BY_LANGUAGE.values() for name, n in table.items()}
_FOREIGN_WEEKDAY = "(?:" + "|".join(sorted(_FOREIGN_WEEKDAYS, key=len, reverse=True)) + ")"
_FOREIGN_MONTHS = {name: n for table in MONTHS_BY_LANGUAGE.values() for name, n in table.items()}
_FOREIGN_MONTH = "(?:" + "|".join(sorted(_FOREIGN_MONTHS, key=len, reverse=True)) + ")"
_NUMWORD = r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d{1,2})"
_DAYQUAL = r"(?:\s+(?:eod|cob|end\s+of\s+(?:the\s+)?day|morning|afternoon|evening|night))?"

_DATE_RE = re.compile(
    r"(?P<iso>\b\d{4}-\d{2}-\d{2}\b)"
    r"|(?P<md>\b\d{4}/\d{1,2}/\d{1,2}\b|\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])"
    r"(?:/(?:\d{4}|\d{2}))?\b(?!/|\.\d))"
    r"|(?P<dotted>\b(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:\d{4}|\d{2})?(?![\d.]))"
    r"|(?P<monthday>\b" + _MONTH + r"\.?\s+\d{1,2}" + _ORD + r"\b(?:,?\s+\d{4}\b)?(?!:|\.\d))"
    r"|(?P<daymonth>\b\d{1,2}" + _ORD + r"\s+(?:of\s+)?" + _MONTH + r"\b\.?(?:,?\s+\d{4}\b)?)"
    r"|(?P<fdaymonth>\b(?:0?[1-9]|[12]\d|3[01])\.?\s+(?:de\s+)?" + _FOREIGN_MONTH
    + r"(?!\w)(?:\s+(?:de\s+)?\d{4}\b)?)"
    r"|(?P<dm>\b(?:1[3-9]|2\d|3[01])/(?:0?[1-9]|1[0-2])(?:/(?:\d{4}|\d{2}))?\b(?!/|\.\d))"
    r"|(?P<wdnth>\b" + _WEEKDAY + r"(?:day)?,?\s+the\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)\b)"
    r"|(?P<nth>\bthe\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?" + _MONTH + r"))"
    r"|(?P<foreign>(?<!\w)" + _FOREIGN_WEEKDAY + r"(?!\w))"
    r"|(?P<eonw>\bend\s+of\s+(?:the\s+)?next\s+week\b)"
    r"|(?P<eow>\beow\b|\bend\s+of\s+(?:the\s+|this\s+)?week\b)"
    r"|(?P<eom>\beom\b|\bend\s+of\s+(?:the\s+|this\s+)?month\b)"
    r"|(?P<eoy>\beoy\b|\bend\s+of\s+(?:the\s+|this\s+)?year\b)"
    r"|(?P<weekday>\b(?:(?:next|this|coming)\s+)?" + _WEEKDAY + r"(?:day)?\b\.?"
    + r"(?:\s+(?:of\s+)?next\s+week\b)?" + _DAYQUAL
    # "Thursday 3rd December", "Fri, Dec 4": the explicit date after it is the one to read
    + r"(?!,?\s+(?:the\s+)?(?:\d{1,2}(?:st|nd|rd|th)?\b|" + _MONTH + r"\b)))"
    r"|(?P<relday>\b(?:today|tonight|tomorrow|tmrw|tmr|tomorow|eod|cob)\b" + _DAYQUAL + ")"
    r"|(?P<induration>\b(?:in|within)\s+" + _NUMWORD + r"\s+(?:days?|weeks?)\b)"
    r"|(?P<etaduration>\beta:?\s+" + _NUMWORD + r"\s+(?:days?|weeks?)\b)",
    re.IGNORECASE,
)
_DATEISH = re.compile(
    r"\d|\b(?:" + _MONTH[3:-1] + r"|mon|tue|wed|thu|fri|sat|sun|today|tonight|tomorrow|tmrw|tmr|"
    r"tomorow|eod|cob|eow|eom|eoy|end\s+of|week|weeks|days?)|" + _FOREIGN_WEEKDAY,
    re.IGNORECASE,
)
_NEEDS_CUE = {"md", "dm", "dotted", "nth"}
_FOREIGN_CUES = frozenset().union(*DATE_CUES_BY_LANGUAGE.values())
_CUES = _FOREIGN_CUES | {
    "by", "on", "to", "for", "until", "till", "before", "eta", "due", "date", "deadline",
    "target", "targeting", "targeted", "launch", "launches", "launching", "ship", "ships",
    "shipping", "release", "releasing", "live", "go-live", "moved", "moving", "pushed",
    "pushing", "postponed", "delayed", "out",
}
_PREP_CUES = _FOREIGN_CUES | {"by", "on", "to", "for", "until", "till", "before", "eta", "due",
                              "date", "deadline", "targeting", "targeted", "target", "moving",
                              "moved", "slipping", "slips", "slipped", "pushed", "postponed",
                              "cutover", "ships", "ship", "launch", "launches", "live"}
# "today"/"tomorrow" is a target date only with one of these in its clause ("ships tomorrow",
# "due today", "on track for tomorrow"); otherwise it is when some work happens ("I'll finish
# the load test today", "the banner goes up tomorrow").
_RELDAY_CUES = {
    "due", "ship", "ships", "shipping", "launch", "launches", "launching", "live", "release",
    "releases", "releasing", "eta", "by", "target", "targeting", "deadline", "date", "moving",
    "moved", "moves", "pushed", "postponed", "slipping", "slips", "slipped", "delayed", "track",
    "ready", "land", "lands", "landing", "rollout", "roll", "rolling", "go-live", "cutover",
    "until", "till", "before", "out", "merge", "good", "fine", "set", "green", "go", "merging", "deploy", "deploying", "done",
    "finished", "complete", "pushing", "prod", "production", "publish", "publishing",
    "publishes",
}
# Work or an announcement happening on a day, not the deliverable's date.
_ACTIVITY = {
    "test", "testing", "tests", "work", "working", "write", "writing", "pair", "pairing",
    "review", "reviewing", "look", "looking", "dry", "email", "banner", "newsletter", "post",
    "blog", "announcement", "tweet", "finish", "finishing", "polish", "polishing", "debug",
    "debugging", "investigate", "investigating", "copy", "qa", "rehearsal", "training", "archive",
    "archiving",
}
_ANNOUNCEMENT = {"email", "emails", "banner", "newsletter", "blog", "announcement", "tweet",
                 "invite", "invites", "reminder", "post", "recording", "results"}
_HEDGE = re.compile(r"\b(?:maybe|perhaps|possibly|no\s+idea|not\s+sure|who\s+knows|idk)\b",
                    re.IGNORECASE)
_VERSIONISH = {"v", "version", "ios", "android", "sdk", "build", "app", "hotfix", "release",
               "released", "node", "python", "api"}
# Words that make a nearby date the date of something else: a meeting, an absence, a freeze,
# the start of work, the end of another event.
_EVENT = re.compile(
    r"\b(?:sync|meeting|meet|standup|stand-up|call|retro|demo|review|freeze|ooo|pto|vacation|"
    r"out\s+of\s+office|off\s+sick|kickoff|kick-off|kicks?\s+off|kicking\s+off|kicked\s+off|"
    r"starts?|starting|started|begins?|beginning|began|ends|ending|chat|discuss|talk|workshop|"
    r"offsite|interview|out\s+sick|(?:she|he|i)(?:'s|'m|\s+is|\s+am|\s+was)\s+out|"
    r"(?:i|we|she|he|they)(?:'ll|\s+will)\s+be\s+(?:out|off|away)|day\s+off|invite|closed|"
    r"party|dinner|lunch|holiday\s+party|wrap|wrap-up|recap|roundup|round-up|digest|summary)\b",
    re.IGNORECASE,
)
_STRONG_CUE = re.compile(r"\b(?:eta|due|target|targeting|deadline|launch\s+date|ship\s+date|"
                         r"release\s+date|new\s+date|go-live)\b", re.IGNORECASE)
_AFTER_TIME = re.compile(r"\s*(?:at|@)\s*\d{1,2}(?::\d{2})?\s*(?:am|pm)?\b|\s*\d{1,2}:\d{2}|"
                         r"\s*\d{1,2}\s*(?:am|pm)\b",
                         re.IGNORECASE)
_NOT_TARGET_BEFORE = re.compile(
    r"(?:\bfrom|\binstead\s+of|\boriginally|\bwas|\bold|\bas\s+early\s+as|\bblack|\bcyber|"
    r"\bgood|\bsince|\blast|\bthis\s+past|\bback(?:\s+(?:on|in))?|\bmiss(?:ed|ing)?(?:\s+(?:the|our|this|that))?)\s*$",
    re.IGNORECASE,
)
_PAST_PLAN = re.compile(r"\b(?:was|were)\s+(?:going|supposed|meant|planning|scheduled|due)\b|"
                        r"\bhad\s+(?:planned|hoped)\b", re.IGNORECASE)
# Partial completion: "X merged; production keys still pending" says nothing is done overall.
_STILL_OPEN = re.compile(
    r"\b(?:still\s+(?:pending|outstanding|open|missing|waiting|to\s+do|todo)|not\s+yet\s+(?:done|live|shipped)"
    r"|(?:remaining|outstanding)\s+(?:work|items|tasks|bits)|left\s+to\s+do)\b",
    re.IGNORECASE,
)
# A request: its date is when people should act ("need a volunteer to QA it before Friday").
_REQUEST = re.compile(r"\b(?:please|pls|plz|need\s+(?:a|an|some|someone|somebody|volunteers?|help|"
                      r"input|your|everyone|(?:it|this|that|them)\s+(?:by|before)|(?:[\w-]+\s+){1,3}(?:by|before)\b)|(?:can|could)\s+(?:someone|somebody|anyone|you|we\s+get)|"
                      r"volunteers?)\b", re.IGNORECASE)
# Nouns that contain a cue word but name something else: "the release notes", "the launch party".
_CUE_COMPOUND = re.compile(r"\b(?:release|launch|ship|go-live)\s+(?:notes?|party|email|post|checklist|"
                           r"blog|video|deck|meeting|sync|review|plan|brief|copy)\b", re.IGNORECASE)
_NOT_TARGET_AFTER = re.compile(r"\s*(?:at\s+the\s+earliest|best\s+case)", re.IGNORECASE)
_BLOCKED_UNTIL = re.compile(r"\b(?:until|till|til)\s*$", re.IGNORECASE)
_WEEKDAY_NUM = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_NUMWORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
             "seven": 7, "eight": 8, "nine": 9, "ten": 10}

_STRUCT_KEY = re.compile(
    # at the start of a line or after a separator: "status: x", "• Due - Dec 5", "| eta = ..."
    r"(?:(?:^|(?<=[\n\u2022|,;/(\u2014\u2013]))[ \t]*|(?<=\s[-\u2013\u2014]\s))"
    r"(?P<key>status|state|eta|due(?:\s+date)?|target(?:\s+date)?|deadline|"
    r"launch\s+date|ship\s+date|release\s+date|go[\s-]?live(?:\s+date)?|new\s+date)"
    r"[ \t]*(?:[:=]|\s[-\u2013\u2014](?=\s))[ \t]*"
    # date keys with a colon anywhere: "holiday campaign go-live: 12/08"
    r"|\b(?P<dkey>eta|due(?:\s+date)?|target\s+date|deadline|launch\s+date|ship\s+date|"
    r"release\s+date|go[\s-]?live(?:\s+date)?)[ \t]*:[ \t]*",
    re.IGNORECASE,
)
_STRUCT_VALUE_END = re.compile(r"[\n.;,(/|\u2014\u2013]|\s-\s|$")
_TBD = re.compile(r"^\s*(?:tbd|tbc|unknown|unclear|n/a|none|\?+|-+)\b", re.IGNORECASE)


def _dp_settings(base: datetime, tz: str) -> dict[str, Any]:
    return {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future",
        "TIMEZONE": tz,
        "RETURN_AS_TIMEZONE_AWARE": False,
        "DATE_ORDER": "MDY",
        "PREFER_DAY_OF_MONTH": "first",
    }


# dateparser keeps state between calls and is not thread-safe (scrapinghub/dateparser#441); the
# channels of a sync are read in threads.
_DATEPARSER_LOCK = threading.Lock()


@lru_cache(maxsize=8192)
def _dateparser(expr: str, local: date, tz: str) -> date | None:
    base = datetime.combine(local, dtime(12, 0))
    with _DATEPARSER_LOCK:
        got = dateparser.parse(expr, languages=["en"], settings=_dp_settings(base, tz))
    return got.date() if got is not None else None


def _friday_of_week(d: date, weeks_ahead: int = 0) -> date:
    monday = d - timedelta(days=d.weekday())
    fri = monday + timedelta(days=4 + 7 * weeks_ahead)
    if weeks_ahead == 0 and fri < d:  # said on the weekend: next Friday
        fri += timedelta(days=7)
    return fri


def _day_first(parts: list[int], local: date) -> date | None:
    """Day, month[, year] (18/12, 18.12.26): with no year, the next such day from `local`."""
    day, month = parts[0], parts[1]
    if len(parts) > 2:
        year = parts[2] + 2000 if parts[2] < 100 else parts[2]
        try:
            return date(year, month, day)
        except ValueError:
            return None
    for y in (local.year, local.year + 1):
        try:
            cand = date(y, month, day)
        except ValueError:
            return None
        if cand >= local:
            return cand
    return None


def _resolve(kind: str, expr: str, local: date, tz: str) -> date | None:
    e = re.sub(r"\s+", " ", expr.strip().lower()).rstrip(".")
    if kind == "eow":
        return _friday_of_week(local)
    if kind == "eonw":
        return _friday_of_week(local, 1)
    if kind == "eom":
        first_next = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
        return first_next - timedelta(days=1)
    if kind == "eoy":
        return date(local.year, 12, 31)
    if kind == "relday":
        word = e.split()[0]
        if word in ("today", "tonight", "eod", "cob"):
            return local
        return _dateparser("tomorrow", local, tz)
    if kind == "weekday":
        e = re.sub(r"\s+(?:eod|cob|end of (?:the )?day|morning|afternoon|evening|night)$", "", e)
        if e.endswith("next week"):  # "thursday next week" is "next thursday"
            e = "next " + e.split()[0]
        words = e.split()
        if words[0] == "next":
            # "next Friday": that weekday in the following Monday-Sunday week
            wd = _WEEKDAY_NUM[words[1][:3]]
            monday_next = local - timedelta(days=local.weekday()) + timedelta(days=7)
            return monday_next + timedelta(days=wd)
        if words[0] == "coming":
            e = words[1]
        return _dateparser(e, local, tz)
    if kind == "foreign":
        wd = _FOREIGN_WEEKDAYS.get(e)
        if wd is None:
            return None
        ahead = (wd - local.weekday()) % 7 or 7  # like a bare English weekday: the next one
        return local + timedelta(days=ahead)
    if kind == "fdaymonth":
        words = re.findall(r"[^\W\d_]+|\d+", e)
        month = next(_FOREIGN_MONTHS[w] for w in words if w in _FOREIGN_MONTHS)
        numbers = [int(w) for w in words if w.isdigit()]
        return _day_first([numbers[0], month, *numbers[1:2]], local)
    if kind == "dm":
        return _day_first([int(p) for p in e.split("/")], local)
    if kind in ("nth", "wdnth"):
        day = int(re.search(r"\d+", e).group(0))  # type: ignore[union-attr]
        y, m = local.year, local.month
        for _ in range(3):  # the next month (this one included) that has that day in the future
            try:
                cand = date(y, m, day)
            except ValueError:
                cand = None
            if cand is not None and cand >= local:
                return cand
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return None
    if kind == "dotted":
        return _day_first([int(p) for p in e.split(".") if p], local)
    if kind == "etaduration":
        e = re.sub(r"^eta:?\s+", "in ", e)
    if kind in ("induration", "etaduration"):
        m = re.match(r"(?:in|within) (\w+) (day|week)s?", e)
        if m and m.group(1) in _NUMWORDS:
            e = f"in {_NUMWORDS[m.group(1)]} {m.group(2)}s"
        e = e.replace("within", "in")
    return _dateparser(e, local, tz)


# ---------------------------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Cand:
    status: CanonicalStatus
    tier: int
    start: int
    end: int
    kind: str
    base: Any = None  # the phrase's own class before a negation ("not blocked" -> blocked)


@dataclass(slots=True)
class _DateCand:
    start: int
    end: int
    day: date
    tier: int  # _TIER_STRUCTURED for a field ("eta: Dec 5"), _TIER_EXPLICIT for free text


class MentionLike(Protocol):
    """A deliverable named in the text (`connectors.slack.links.Mention` is one)."""

    @property
    def key(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


KeyedClaim = tuple[str | None, Claim]

# What may stand between deliverables named as one list: "checkout, payments and search",
# "checkout & the payments API", or a link and its label.
_LIST_GAP = re.compile(r"(?:[\s,&+/|<>()*_]|<#\w+\||\([^()\d,\n]{0,30}\)|\band\b|\bor\b|\bthe\b|\bboth\b|\bplus\b|\bas\s+well\s+as\b)*",
                       re.IGNORECASE)
# A clause that repeats the previous clause's state for another deliverable: "..., but Y is",
# "Y still is", "Y is too"; or denies it: "Y isn't", "but not Y", "Y not so much".
_ELLIPSIS_SAME = re.compile(r"^[\s,]*(?:(?:(?:still|too|also)\s+)?(?:is|are)(?:\s+(?:still|too|also|as\s+well|"
                            r"though|tho))*|too|as\s+well|also)[\s.!)]*$", re.IGNORECASE)
_ELLIPSIS_NOT = re.compile(r"^[\s,]*(?:(?:is|are)\s+not|isn'?t|aren'?t|not\s+so\s+much|not(?:\s+yet)?)"
                           r"(?:\s+(?:yet|though|tho))*[\s.!)]*$", re.IGNORECASE)
_DATE_WORD = re.compile(r"\b(?:eta|date|target|deadline|due\s+date)\b", re.IGNORECASE)
_AFTER_PREPOSITION = re.compile(r"\b(?:in|into|to|from|at|about|via|under|over|on|by|behind|with)\s+(?:the\s+)?"
                                r"(?:<#\w+\|)?$",
                                re.IGNORECASE)
_FIRST_PERSON_SINGULAR = {"i", "i'm", "im", "me", "i've", "ich", "je", "j'ai", "yo", "estoy"}
_PRONOUN = re.compile(r"(?<![\w'])(?:i|i'm|im|i've|i'd|i'll|me|we|we're|we'll|we've|we'd|us|they|they're|it|"
                      r"it's|he|she|you|you're|ich|wir|je|j'ai|nous|yo|estoy|estamos)(?![\w'])", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")


def _words(masked: str, start: int, end: int) -> list[str]:
    """Lower-case words in any script, "'s" dropped ("build's" -> "build", "café" whole)."""
    return [w.lower().replace("\u2019", "'").removesuffix("'s") for w in _WORD.findall(masked, start, end)]


_ONE_ON_ONE = re.compile(r"\b1:1s?\b|\bone[- ]on[- ]ones?\b", re.IGNORECASE)
_PEOPLE_TIME = re.compile(r"\b(?:see|talk\s+to|catch)\s+(?:you|u|ya|y'all|everyone|all)\b|\b(?:please|pls|plz|"
                          r"kindly|rsvp|fill\s+(?:in|out)|sign\s+up|vote|register|happy|enjoy)\b|"
                          r"\b(?:last|first)\s+day\b|\bdone\s+for\s+(?:today|tonight|now|the\s+day)\b|"
                          r"\b(?:i'?ll|i\s+will|i'?m|i\s+am|i'?ve)\s+(?:be\s+|been\s+)?(?:offline|out|ooo|away|off|"
                          r"on\s+(?:leave|vacation|holiday|pto)|back)\b|\b(?:ooo|pto|leave|out\s+of\s+office)\b",
                          re.IGNORECASE)
# a person as the whole subject: "Tom is stuck at the airport", "<@U05> is out today"
_PERSON_SUBJECT = re.compile(r"\W*(?!(?:It|This|That|We|They|He|She|Everything|All|Prod|Staging)\b)"
                             r"(?:<@\w+(?:\|[^>]*)?>|[A-Z][a-z]{1,14})(?:'s|\u2019s)?\s+"
                             r"(?:(?:is|was|got|has\s+been|'s|\u2019s)\s+)?(?:(?:still|now|so|also|totally|a\s+bit)\s+)?")
_OTHER_THINGS = NOT_THE_WORK_WORDS - NOT_THE_WORK["chores"]
_DETERMINERS = {"the", "a", "an", "my", "our", "your", "his", "her", "their", "this", "that", "these",
                "those", "reminder", "fyi", "ps", "also", "and", "so", "ok", "btw", "new", "old"}
# "my"/"your" in the status languages: one's own things ("mi build", "mein Laptop")
_MY_YOUR = {"my", "your", "mi", "mis", "tu", "mein", "meine", "meinen", "dein", "deine", "mon", "ma",
            "mes", "ton", "ta", "meu", "minha", "mijn", "mio", "mia"}
_FILLER = {"still", "so", "a", "bit", "little", "just", "also", "now", "and", "but", "sorry", "ugh",
           "lol", "omg", "kinda", "totally", "really", "quite", "slightly"}
_BLOCKED_BY = re.compile(r"\b(?:on|by|behind)\s+(?:the\s+)?$", re.IGNORECASE)
_FOR_BEFORE = re.compile(r"\bfor\s+(?:the\s+)?$", re.IGNORECASE)
_SO_IS_BEFORE = re.compile(r"\b(?:so|as)\s+(?:is|are)\s+(?:the\s+)?$|\bsame\s+(?:for|with|goes\s+for)\s+"
                           r"(?:the\s+)?$", re.IGNORECASE)
_NOT_BEFORE = re.compile(r"(?:\bbut\s+)?\bnot\s+(?:the\s+)?$", re.IGNORECASE)


def _other_subject(subject: list[str], text: str, sent_start: int, s: int) -> bool:
    """The clause's subject is not the work: "the printer is stuck", "the all-hands is
    cancelled", "moved our 1:1 to ...", a bare chore ("the PR is merged", but "checkout PR
    merged"), one's own or the reader's things ("my 1:1 with Jo", "your holiday requests")."""
    if _OTHER_THINGS.intersection(subject) or _ONE_ON_ONE.search(text, sent_start, s):
        return True
    chore = next((i for i, t in enumerate(subject) if t in NOT_THE_WORK["chores"]), None)
    if chore is not None and all(t in _DETERMINERS for t in subject[:chore]):
        return True
    return bool(subject[:1]) and subject[0] in _MY_YOUR


def _private_or_quoted(masked: str, text: str, start: int, end: int, s: int) -> bool:
    """The sentence speaks of private life ("everything is fine, just slow wifi", ":coffee:
    :white_check_mark:"), or the phrase is inside quotation marks ("Legal: \"we'll have it
    Monday\"")."""
    words = set(_words(masked, start, end))
    words.update(w for m in _EMOJI.finditer(text, start, end) for w in m.group(0)[1:-1].split("_"))
    if PRIVATE_LIFE.intersection(words):
        return True
    return bool(text.count('"', start, s) % 2) or text.count("\u201c", start, s) > text.count("\u201d", start, s)


def _time_for_people(subject: list[str], masked: str, sent_start: int, sent_end: int, e: int,
                     ce: int) -> bool:
    """A date said to or about people: "see you Monday", "please comment by Friday", "I'll be
    offline Dec 23 - Jan 2", "happy Friday", and a bare "FRIDAY!!!"."""
    if "my" in subject or "your" in subject or _PEOPLE_TIME.search(masked, sent_start, ce):
        return True
    return not subject and not _words(masked, e, ce) and masked[e:sent_end].lstrip().startswith("!")


def _personal_status(status: CanonicalStatus, phrase: str, subject: list[str], after: list[str],
                     masked: str, text: str, cs: int, s: int, cand_kind: str) -> bool:
    """A status said of a person or of something that is not the work: "Tom is stuck at the
    airport", "Raj is out", "Sam unblocked me", "I'm stuck on a weird TypeScript error",
    "running late", "behind on the fantasy league", "released the hiring plan"."""
    if status is S.BLOCKED and after[1:2] in (["nothing"], ["anything"], ["nobody"], ["noone"]):
        return True  # "she's blocked on nothing"
    personal_state = status in (S.AT_RISK, S.ON_TRACK) or phrase.startswith("stuck")
    person = _PERSON_SUBJECT.fullmatch(text, cs, s)
    if person is not None and (
            person.group(0).lstrip().startswith("<@") or phrase in ("is out", "'s out")
            or (phrase.startswith("stuck") and after[:1] in (["at"], ["in"]))):
        return True
    if after[:1] in (["me"], ["us"], ["him"], ["her"], ["them"]):
        return True
    pronouns = _PRONOUN.findall(masked, cs, s)
    if personal_state and pronouns and pronouns[-1].lower().replace("\u2019", "'") in _FIRST_PERSON_SINGULAR:
        return True  # the speaker, not the work
    if personal_state and "late" in phrase and not any(t not in _FILLER for t in subject) and (
            not after or after[0] in ("for", "to", "today", "again", "sorry", "this", "because")):
        return True  # people run late; work slips
    if after[:1] in (["on"], ["to"], ["for"], ["with"], ["of"]) or cand_kind == "emoji" or (
            status in (S.DONE, S.CANCELLED) and after[:1] in (["the"], ["a"], ["an"], ["our"])):
        # what the status is about comes after it
        about = NOT_THE_WORK["private"] if status is S.BLOCKED and not phrase.startswith("stuck") \
            else NOT_THE_WORK_WORDS
        what = after if cand_kind == "emoji" else after[1:]
        return bool(about.intersection(what)) or "my" in what[:2]
    return False


class ClaimParser:
    """Reusable parser. Build once (it compiles the vocabulary) and call `parse` or `read` per
    message. `languages` chooses the status vocabularies (`claim_vocab.LANGUAGES`); configured
    `extra_phrases` come on top in any language."""

    def __init__(
        self,
        extra_phrases: Mapping[str, CanonicalStatus] | None = None,
        timezone: str = "UTC",
        languages: tuple[str, ...] | list[str] = LANGUAGES,
    ) -> None:
        self.timezone = timezone
        self._tz = ZoneInfo(timezone)
        unknown = [lang for lang in languages if lang not in LANGUAGES]
        if unknown:
            raise ValueError(f"unknown status language(s) {', '.join(unknown)}; known: {', '.join(LANGUAGES)}")
        defaults = dict(DEFAULT_PHRASES) if "en" in languages else {}
        for lang in languages:
            defaults.update(PHRASES_BY_LANGUAGE.get(lang, {}))
        phrases = dict(defaults)
        extra = {k.lower().strip(): CanonicalStatus(v) for k, v in (extra_phrases or {}).items()}
        phrases.update(extra)
        specs: list[tuple[str, Any, str]] = []
        # extra (configured) phrases first, then rule phrases, then defaults; longer first
        for p in sorted(extra, key=len, reverse=True):
            specs.append((_phrase_regex(p), extra[p], ""))
        specs.extend(_RULE_PHRASES)
        for p in sorted(defaults, key=len, reverse=True):
            if p not in extra:
                specs.append((_phrase_regex(p), defaults[p], ""))
        self._specs = specs
        alts = _alternation(specs, first_default=len(extra) + len(_RULE_PHRASES))
        # the lookahead lets the engine skip positions that cannot start a phrase cheaply
        self._phrase_re = re.compile(
            r"(?=[\w:'\u2705\u2714\u2611\u26d4\U0001F534\U0001F6A6\U0001F6D1\U0001F7E0-\U0001F7E2])"
            rf"(?<![\w'-])(?:{alts})(?![\w']|-\w)", re.IGNORECASE)
        values = dict(_STRUCT_STATUS_VALUES)
        values.update({k: v for k, v in phrases.items() if k not in values})
        keys = sorted(values, key=len, reverse=True)
        self._struct_value_re = re.compile(
            r"(?:" + "|".join(_phrase_regex(k) if "_" not in k else re.escape(k) for k in keys)
            + r")(?![\w'])",
            re.IGNORECASE,
        )
        self._struct_lookup = {re.sub(r"[\s_-]+", " ", k): v for k, v in values.items()}

    # -- public ----------------------------------------------------------------------------

    def parse(self, text: str, *, stated_at: datetime) -> list[Claim]:
        """At most one status and one date claim for the message as a whole (no deliverables
        named: the strongest, then latest, of each)."""
        return [claim for _, claim in self.read(text, stated_at=stated_at)]

    def read(self, text: str, *, stated_at: datetime,
             mentions: Sequence[MentionLike] = ()) -> list[KeyedClaim]:
        """Claims per deliverable named: each status and date phrase is about the deliverables
        named in its clause (else in its sentence, else in the nearest sentence naming one), so
        "checkout is done, payments still blocked" gives one claim for each. Key None: a claim
        about no deliverable named: the message names none of `mentions`, or only what blocks
        it ("we're blocked on payments"); the connector gives it to the thread's or channel's."""
        if not text or not text.strip():
            return []
        if stated_at.tzinfo is None:
            stated_at = stated_at.replace(tzinfo=UTC)
        local = stated_at.astimezone(self._tz).date()
        masked = _mask(text)
        ctx = _context(masked, text)

        struct_status, struct_dates, tbd_at = self._structured(masked, local, ctx)
        free = self._status_candidates(masked, ctx)
        dates = [*struct_dates]
        if _DATEISH.search(masked):
            dates.extend(self._free_dates(masked, ctx, local, free))
        statuses = [*struct_status, *free]
        out: list[KeyedClaim] = []
        if not mentions:
            statuses = [c for c in statuses if self._about_the_work(c.status, c.start, c.end, masked, text, ctx, c.kind)]
            dates = [d for d in dates if self._about_the_work(None, d.start, d.end, masked, text, ctx)]
            status = self._best_status(statuses, masked, None)
            if status is not None:
                out.append((None, self._claim(Field.STATUS, status.status.value, status.start, status.end,
                                              text, ctx)))
            when = self._best_date(dates, suppressed=bool(tbd_at))
            if when is not None:
                out.append((None, self._claim(Field.TARGET_DATE, when.day.isoformat(), when.start, when.end,
                                              text, ctx)))
            return out

        ordered = sorted(mentions, key=lambda m: (m.start, m.end))
        by_key: dict[str, list[_Cand]] = {}
        dates_by_key: dict[str, list[_DateCand]] = {}
        tbd_keys: set[str] = set()
        unnamed: list[_Cand] = []
        headings, headed = self._section_items(statuses, ordered, masked, ctx)
        for key, cand in headed:
            by_key.setdefault(key, []).append(cand)
        for cand in statuses:
            if any(cand is h for h in headings):
                continue  # a heading's status is its items', not its neighbours'
            keys = self._subjects(cand.start, cand.end, ordered, masked, text, ctx,
                                  blocker=cand.status is S.BLOCKED)
            if not keys:
                unnamed.append(cand)  # "we're blocked on payments": the blocker is not the subject
            for key in keys:
                by_key.setdefault(key, []).append(cand)
        for d in dates:
            for key in self._subjects(d.start, d.end, ordered, masked, text, ctx):
                dates_by_key.setdefault(key, []).append(d)
        for pos in tbd_at:
            tbd_keys.update(self._subjects(pos, pos + 1, ordered, masked, text, ctx))
        for key, cand in self._ellipses(ordered, free, masked, ctx):
            if key not in by_key:
                by_key[key] = [cand]
        unnamed = [c for c in unnamed if self._about_the_work(c.status, c.start, c.end, masked, text, ctx, c.kind)]
        if unnamed:
            status = self._best_status(unnamed, masked, ctx)
            if status is not None:
                out.append((None, self._claim(Field.STATUS, status.status.value, status.start, status.end,
                                              text, ctx)))
        for key in dict.fromkeys(m.key for m in ordered):
            others = [m.start for m in ordered if m.key != key]
            status = self._best_status(by_key.get(key, []), masked, ctx, others)
            if status is not None:
                out.append((key, self._claim(Field.STATUS, status.status.value, status.start, status.end,
                                             text, ctx)))
            when = self._best_date(dates_by_key.get(key, []), suppressed=key in tbd_keys)
            if when is not None:
                out.append((key, self._claim(Field.TARGET_DATE, when.day.isoformat(), when.start, when.end,
                                             text, ctx)))
        return out

    # -- claims and evidence ------------------------------------------------------------------

    @staticmethod
    def _claim(field: Field, value: str, start: int, end: int, text: str, ctx: _Ctx) -> Claim:
        sent = ctx.sentence(start)
        a, b = sent.start, max(sent.end, end)
        while a < b and text[a] in " \t\n-*\u2022>":
            a += 1
        while b > a and text[b - 1] in " \t\n":
            b -= 1
        return Claim(field, value, (start, end), text[start:end], (a, b))

    def _best_status(self, cands: list[_Cand], masked: str, ctx: _Ctx | None,
                     others: Sequence[int] = ()) -> _Cand | None:
        """The winning candidate; `others`: where other deliverables are named (what is still
        open after one of them is theirs: "dark mode is done, sso is still waiting on IT")."""
        if ctx is None:
            best = self._pick(cands, masked)
        else:
            best = self._pick(cands, masked, ctx)
        if best is None:
            return None
        if best.status is CanonicalStatus.DONE and best.tier != _TIER_STRUCTURED:
            # part of it is done, the rest is not: no verdict on the whole
            limit = ctx.sentence(best.start).end if ctx is not None else len(masked)
            limit = min([limit, *(p for p in others if p > best.end)])
            if _STILL_OPEN.search(masked, best.end, limit):
                return None
        return best

    @staticmethod
    def _section_items(cands: list[_Cand], ordered: Sequence[MentionLike], masked: str,
                       ctx: _Ctx) -> tuple[list[_Cand], list[tuple[str, _Cand]]]:
        """A line that is only a status ("*Launched* :rocket:", "Slipping:") heads the lines
        listed under it: each deliverable they name without a status of its own has the
        heading's, up to a blank line or a line that names nothing (the next heading).
        Returns the headings (never about the lines above them) and the items they give."""
        headings: list[_Cand] = []
        out: list[tuple[str, _Cand]] = []
        for c in cands:
            if c.kind == "emoji":
                continue
            line_start = masked.rfind("\n", 0, c.start) + 1
            line_end = masked.find("\n", c.end)
            if line_end < 0:
                continue
            if (masked[line_start:c.start] + masked[c.end:line_end]).strip(" \t|:*_\u2022>-"):
                continue  # words besides the status: not a heading
            pos = line_end + 1
            while pos < len(masked):
                end = masked.find("\n", pos)
                end = len(masked) if end < 0 else end
                names = [m for m in ordered if pos <= m.start < end]
                if not masked[pos:end].strip() or not names:
                    break
                if pos == line_end + 1:
                    headings.append(c)
                if not any(pos <= o.start < end for o in cands):
                    out.extend((m.key, c) for m in names if (m.key, c) not in out)
                pos = end + 1
        return headings, out

    @staticmethod
    def _best_date(dates: list[_DateCand], *, suppressed: bool) -> _DateCand | None:
        fields = [d for d in dates if d.tier == _TIER_STRUCTURED]
        if fields:
            return fields[-1]
        if suppressed:
            return None  # "ETA: TBD": no date, whatever the text says
        free = [d for d in dates if d.tier != _TIER_STRUCTURED]
        return max(free, key=lambda d: d.start) if free else None  # the latest date wins

    # -- which deliverables a phrase is about ----------------------------------------------------

    def _subjects(self, s: int, e: int, mentions: Sequence[MentionLike], masked: str, text: str,
                  ctx: _Ctx, *, blocker: bool = False) -> list[str]:
        sent = ctx.sentence(s)
        in_sent = [m for m in mentions if sent.start <= m.start < sent.end]
        if in_sent:
            cs, ce = ctx.clause(s, e, masked)
            in_clause = [m for m in in_sent if cs <= m.start < ce]
            before = [m for m in in_clause if m.end <= s]
            if before:
                return _chain(before[-1], in_sent, text, back=True)
            after = [m for m in in_clause if m.start >= s]
            if after and blocker and _BLOCKED_BY.search(masked, s, after[0].start):
                # "blocked on payments (for checkout)": payments is what blocks, not the subject
                later = [m for m in in_sent if m.start >= after[0].end
                         and _FOR_BEFORE.search(masked, after[0].end, m.start)]
                return _chain(later[0], in_sent, text, back=False) if later else []
            if after:
                return _chain(after[0], in_sent, text, back=False)
            before = [m for m in in_sent if m.end <= s]
            if before:
                return _chain(before[-1], in_sent, text, back=True)
            return _chain(in_sent[0], in_sent, text, back=False)
        # no deliverable named in the sentence: the nearest one before it names the topic
        # ("Checkout is merged. It's live now"), else the first one after it
        prev = [m for m in mentions if m.end <= sent.start]
        if prev:
            psent = ctx.sentence(prev[-1].start)
            pool = [m for m in mentions if psent.start <= m.start < psent.end]
            return _chain(prev[-1], pool, text, back=True)
        nxt = [m for m in mentions if m.start >= sent.end]
        if nxt:
            nsent = ctx.sentence(nxt[0].start)
            pool = [m for m in mentions if nsent.start <= m.start < nsent.end]
            return _chain(nxt[0], pool, text, back=False)
        return list(dict.fromkeys(m.key for m in mentions))

    @staticmethod
    def _about_the_work(status: CanonicalStatus | None, s: int, e: int, masked: str, text: str,
                        ctx: _Ctx, cand_kind: str = "") -> bool:
        """Whether a status (None: a date) said about no deliverable the message names can be
        about the thread's or channel's deliverable, rather than about the speaker's day or some
        other thing ("I'm stuck on a weird TypeScript error", "timesheets due Friday", "we're so
        behind on the fantasy league"). Only asked of claims with no deliverable named: a terse
        "done!" or "blocked on legal" in a deliverable's channel stays its claim."""
        if cand_kind == "progress":
            return False  # a bare "in progress" says too little; "search: in progress" counts
        cs, ce = ctx.clause(s, e, masked)
        sent = ctx.sentence(s)
        subject = _words(masked, cs, s)[-6:]
        if _other_subject(subject, text, sent.start, s) or _private_or_quoted(masked, text, sent.start, sent.end, s):
            return False
        if status is None:
            return not _time_for_people(subject, masked, sent.start, sent.end, e, ce)
        return not _personal_status(status, masked[s:e].lower(), subject, _words(masked, e, ce)[:7],
                                    masked, text, cs, s, cand_kind)

    def _ellipses(self, mentions: Sequence[MentionLike], free: list[_Cand], masked: str,
                  ctx: _Ctx) -> list[tuple[str, _Cand]]:
        """"not blocked on X anymore, but Y is": Y takes the state of the clause before."""
        out: list[tuple[str, _Cand]] = []
        for m in mentions:
            sent = ctx.sentence(m.start)
            if sent.excluded(m.start):
                continue
            cs, ce = ctx.clause(m.start, m.end, masked)
            rest = masked[m.end:ce]
            # a clause may end on "though"/"too" after a comma: "Data export is, though"
            same = _ELLIPSIS_SAME.match(rest) or (
                not rest.strip(" .!)") and _SO_IS_BEFORE.search(masked, max(0, m.start - 24), m.start))
            negated = _ELLIPSIS_NOT.match(rest) or (
                not rest.strip(" .!)") and _NOT_BEFORE.search(masked, max(cs - 8, 0), m.start))
            if not (same or negated):
                continue
            if any(cs <= c.start < ce for c in free):
                continue
            lo = ctx.sentence(max(sent.start - 1, 0)).start if sent.start > 0 else 0
            source = [c for c in free if lo <= c.start and c.end <= m.start and c.kind != "emoji"]
            if not source:
                continue
            src = source[-1]
            base = src.base if src.base is not None else src.status
            if negated:
                derived = _negate(base)
            elif src.base is not None:
                derived = base if isinstance(base, CanonicalStatus) else None
            else:
                derived = src.status
            if derived is None:
                continue
            out.append((m.key, _Cand(derived, _TIER_EXPLICIT, m.start, ce, "ellipsis")))
        return out

    # -- structured fields -------------------------------------------------------------------

    def _structured(self, masked: str, local: date, ctx: _Ctx
                    ) -> tuple[list[_Cand], list[_DateCand], list[int]]:
        statuses: list[_Cand] = []
        dates: list[_DateCand] = []
        tbd_at: list[int] = []
        for m in _STRUCT_KEY.finditer(masked):
            key = (m.group("key") or m.group("dkey")).lower()
            kstart = m.start("key") if m.group("key") else m.start("dkey")
            if any(a <= kstart < b for a, b, _ in ctx.sentence(kstart).reported):
                continue  # a bot's or someone else's field ("the bot keeps posting status: done")
            vstart = m.end()
            if key in ("status", "state"):
                vm = self._struct_value_re.match(masked, vstart)
                if vm is None:
                    continue
                norm = re.sub(r"[\s_-]+", " ", vm.group(0).lower())
                norm = re.sub(r"e?d$", "ed", norm) if norm not in self._struct_lookup else norm
                status = self._struct_lookup.get(norm)
                if status is None:
                    continue
                statuses.append(_Cand(status, _TIER_STRUCTURED, kstart, vm.end(), "struct"))
            else:
                end_m = _STRUCT_VALUE_END.search(masked, vstart)
                # allow the value to run over "Dec. 8" / "21.12." by matching a date first
                dm = _DATE_RE.match(masked, vstart)
                if dm is not None:
                    kind = dm.lastgroup or ""
                    d = _resolve(kind, dm.group(0), local, self.timezone)
                    if d is not None:
                        dates.append(_DateCand(kstart, dm.end(), d, _TIER_STRUCTURED))
                        continue
                value = masked[vstart:end_m.start() if end_m else len(masked)]
                if _TBD.match(value):
                    tbd_at.append(kstart)
        return statuses, dates, tbd_at

    # -- status ------------------------------------------------------------------------------

    def _status_candidates(self, masked: str, ctx: _Ctx) -> list[_Cand]:
        out: list[_Cand] = []
        specs = self._specs
        for m in self._phrase_re.finditer(masked):
            idx = int(m.lastgroup[1:])  # type: ignore[index]
            _, cls, kind = specs[idx]
            if cls == _NEUTRAL:
                continue
            s, e = m.start(), m.end()
            if ctx.sentence(s).excluded(s):
                continue
            cs, ce = ctx.clause(s, e, masked)
            if kind == "slipto":
                dm = _DATE_RE.search(masked, e, min(ce if ce > e else len(masked), e + 40))
                if dm is None or _AFTER_TIME.match(masked, dm.end()) or re.match(
                        r"\s*\d{1,2}\s*(?:am|pm)\b", masked[dm.end():], re.IGNORECASE):
                    continue  # "moved to the new office", "moved to Thursday 4pm": no slip
                if _DATE_WORD.search(masked, cs, s):
                    continue  # "ETA moved to Dec 4": the date is updated, the date claim says it
            pre = _tokens(masked, cs, s)[-5:]
            post = _tokens(masked, e, ce)[:3]
            cand = self._judge(masked, cls, kind, s, e, cs, pre, post)
            if cand is not None:
                out.append(cand)
        return _without_menus(out, masked)

    def _judge(self, masked: str, cls: Any, kind: str, s: int, e: int, cs: int,
               pre: list[tuple[str, int]], post: list[tuple[str, int]]) -> _Cand | None:
        pre_words = [t for t, _ in pre]
        last4 = pre_words[-4:]
        post_words = [t for t, _ in post]
        # everyday things and one's own stuff are not deliverables: "the printer is stuck",
        # "game night is cancelled", "I shipped a package", "paused my notifications"
        if _EVERYDAY.intersection(pre_words) or "review" in pre_words[:3] or post_words[:1] in (["my"], ["your"]) or (
                pre_words[:1] == ["my"] and "my" == _tokens(masked, cs, s)[0][0]) or (
                _EVERYDAY.intersection(post_words[:3])):
            return None

        # negation
        neg_at: int | None = None
        change = kind == "change"
        if kind not in ("neg", "miss"):
            for t, pos in reversed(pre[-4:]):
                if t in _NEGATORS:
                    neg_at = pos
                    break
            if neg_at is not None and "longer" in last4:
                change = True  # "no longer blocked"
        anymore_end: int | None = None
        if post_words[:1] == ["anymore"]:
            anymore_end = post[0][1] + len("anymore")
        elif post_words[:2] in (["any", "more"], ["any", "longer"]):
            anymore_end = post[1][1] + len(post_words[1])
        if anymore_end is not None and neg_at is not None:
            change = True  # "not blocked anymore"

        # partial completion is not done: "80% done", "live for 50% of users"
        if cls == S.DONE and _PARTIAL.search(masked, cs, s):
            return None


        if kind == "emoji":
            return _Cand(CanonicalStatus(cls), _TIER_EMOJI, s, e, kind)
        if cls == S.DONE and masked[s:e].lower() == "live" and post_words \
                and post_words[0] not in _AFTER_LIVE:
            return None  # "the live site is down": an adjective, not a state
        if cls == S.BLOCKED and pre_words[-1:] in (["that"], ["which"], ["who"]):
            return None  # "the bug that blocked checkout": a verb in a relative clause

        # plans, modals, subordinate time clauses
        if cls in _MODAL_SENSITIVE and neg_at is None:
            for i, t in enumerate(last4):
                if t in _MODALS:
                    if t == "to" and i > 0 and last4[i - 1] in _TO_EXCEPTIONS:
                        continue
                    if t == "to" and i + 1 < len(last4) and last4[i + 1][:1].isdigit():
                        continue  # "upgrade to 5.1 done": a version, not a plan
                    if t == "d" and "been" in last4[i:]:
                        continue  # "we'd been stuck": past, handled below
                    return None
            if cls == S.DONE and (post_words[:1] in (["by"], ["before"]) or (
                    post_words[:1] in (["in"], ["within"]) and len(post_words) > 1
                    and (post_words[1] in _NUMWORDS or post_words[1].isdigit()))):
                return None  # "done by Friday", "live in 2 weeks": a deadline, not a fact
            if cls == S.DONE and len(post_words) > 1 and post_words[0] in ("to", "on", "in") \
                    and post_words[1] in _PREPROD:
                return None  # "deployed to staging" is not shipped
        # past transient states are history
        transient = cls in _TRANSIENT or (neg_at is not None and cls in (S.BLOCKED, S.AT_RISK))
        if transient and (
            any(t in _PAST for t in pre_words[-3:])
            or ("being" in pre_words[-2:] and "after" in pre_words)
            or ("used" in pre_words[-3:] and "to" in pre_words[-2:])
        ):
            return None

        start = s
        end = e
        if neg_at is not None:
            start = neg_at
            if anymore_end is not None:
                end = anymore_end
            if cls in (S.BLOCKED, S.AT_RISK):
                return _Cand(S.ON_TRACK, _TIER_EXPLICIT if change else _TIER_NEGATED,
                             start, end, "negated", cls)
            if cls == S.ON_TRACK:
                return _Cand(S.AT_RISK, _TIER_EXPLICIT, start, end, "miss", cls)
            if cls == _STARTED:
                return _Cand(S.NOT_STARTED, _TIER_EXPLICIT, start, end, "", cls)
            return None  # not done / not cancelled / not "not started": no claim
        if cls == _STARTED:
            return None
        # a traffic-light word gives way to a plain phrase ("finished overnight, all green")
        return _Cand(CanonicalStatus(cls), _TIER_NEGATED if kind in ("weak", "progress") else _TIER_EXPLICIT,
                     start, end, kind)

    @staticmethod
    def _pick(cands: list[_Cand], masked: str, ctx: _Ctx | None = None) -> _Cand | None:
        if not cands:
            return None
        emoji = [c for c in cands if c.kind == "emoji"]
        if ctx is None:
            crossed = _CROSS_EMOJI.search(masked) is not None
        else:  # a deliverable's own line: a cross elsewhere in the roundup is another's
            crossed = any(_CROSS_EMOJI.search(masked, ctx.sentence(c.start).start,
                                              ctx.sentence(c.start).end) for c in emoji)
        if emoji and (len(emoji) > 1 or crossed):
            cands = [c for c in cands if c.kind != "emoji"]  # a checklist, not a verdict
            if not cands:
                return None
        top = max(c.tier for c in cands)
        return max((c for c in cands if c.tier == top), key=lambda c: c.start)

    # -- dates -------------------------------------------------------------------------------

    def _free_dates(self, masked: str, ctx: _Ctx, local: date, cands: list[_Cand]) -> list[_DateCand]:
        """Every target date said in free text, in text order."""
        out: list[_DateCand] = []
        for m in _DATE_RE.finditer(masked):
            kind = m.lastgroup or ""
            s, e = m.start(), m.end()
            sent = ctx.sentence(s)
            if sent.excluded(s, for_date=True):
                continue
            cs, ce = ctx.clause(s, e, masked)
            before = masked[max(sent.start, s - 40):s]
            if _NOT_TARGET_BEFORE.search(before) or _NOT_TARGET_AFTER.match(masked, e) \
                    or _PAST_PLAN.search(masked, cs, s):
                continue
            if kind in ("weekday", "relday") and _AFTER_TIME.match(masked, e):
                continue  # "tomorrow at 10": an appointment
            if not _STRONG_CUE.search(masked, cs, s) and self._near_event(masked, cs, ce, s, e):
                continue
            pre_all = [t for t, _ in _tokens(masked, cs, s)]
            pre = pre_all[-3:]
            if _HEDGE.search(masked, e, ce):
                continue  # "in 2 weeks maybe": a guess, not a date
            clause_words = set(pre_all) | {t for t, _ in _tokens(masked, e, ce)}
            for c in _CUE_COMPOUND.finditer(masked, cs, ce):
                clause_words.discard(c.group(0).split()[0].lower())
            if _REQUEST.search(masked, cs, ce) and not _STRONG_CUE.search(masked, cs, ce):
                continue  # "need a decision on it by Wednesday please": when people should act
            cued = bool(clause_words & _RELDAY_CUES) or _STRONG_CUE.search(masked, cs, ce) is not None
            if kind == "relday" and ("dont" in pre_all or pre_all in (["out"], ["off"])):
                continue  # "please don't merge to main today", "out today": not a deliverable's date
            if kind == "relday" and not masked[s:e].lower().startswith(("eod", "cob")) and not cued:
                continue  # "I'll finish the load test today": when work happens, not a deadline
            if not cued and clause_words & _ACTIVITY:
                continue  # "pairing on it Tue", "testing Friday"
            if clause_words & _ANNOUNCEMENT and (kind == "relday" or not cued) \
                    and not _STRONG_CUE.search(masked, cs, ce):
                continue  # "the campaign email goes out tomorrow", "results Monday": an announcement's day
            if kind == "foreign" and not self._foreign_cue(masked, cs, s, pre_all):
                continue  # a weekday in another language counts after "bis", "para", "pour"...
            if kind == "induration" and any(t in _PERFECT or t.endswith("'ve") for t in pre_all):
                continue  # "hasn't replied in 5 days": a duration in the past
            if kind in _NEEDS_CUE:
                cues = _CUES if kind in ("md", "dm") else _PREP_CUES
                alone = not masked[sent.start:s].strip(" \t\n|:-") \
                    and not masked[e:sent.end].strip(" \t\n|.!")
                padded = kind == "md" and re.fullmatch(r"\d\d/\d\d(?:/\d+)?|\d{4}/.*", m.group(0))
                if masked[:cs].rstrip(" \t").endswith(":"):  # "Termin: 18.12.": the key is the cue
                    key_words = [t for t, _ in _tokens(masked, max(sent.start, cs - 30), cs)][-2:]
                    pre = key_words + pre
                if not alone and not padded and not any(t in cues for t in pre) and not any(
                        t in ("eta", "due", "target", "deadline", "date") for t in pre_all[-6:]):
                    continue
                if kind == "dotted" and any(t in _VERSIONISH for t in pre_all[-4:]):
                    continue  # "upgraded the SDK to 12.5."
            if self._date_blocked_by_status(cands, cs, ce, s, masked):
                continue
            d = _resolve(kind, m.group(0), local, self.timezone)
            if d is None:
                continue
            out.append(_DateCand(s, e, d, _TIER_EXPLICIT))
        return out

    @staticmethod
    def _foreign_cue(masked: str, cs: int, s: int, pre_all: list[str]) -> bool:
        near = set(pre_all[-2:]) | set(_words(masked, cs, s)[-2:])  # "für", "à": not ASCII tokens
        return bool(near & (_FOREIGN_CUES | _PREP_CUES | _RELDAY_CUES)) \
            or any(t in ("termin", "fecha", "date", "eta", "due") for t in pre_all)

    @staticmethod
    def _near_event(masked: str, cs: int, ce: int, s: int, e: int) -> bool:
        """An event word within five words before or two words after the date."""
        before = list(_TOKEN.finditer(masked, cs, s))[-5:]
        ws = before[0].start() if before else s
        after = list(_TOKEN.finditer(masked, e, ce))[:2]
        we = after[-1].end() if after else e
        return _EVENT.search(masked, ws, we) is not None

    @staticmethod
    def _date_blocked_by_status(cands: list[_Cand], cs: int, ce: int, s: int,
                                masked: str) -> bool:
        """A date in the same clause as a miss ("won't make Friday"), after "blocked until", or
        in a clause about something already done or cancelled is not a target date."""
        for c in cands:
            if not cs <= c.start < ce:
                continue
            if c.kind == "miss" and c.end <= s:
                return True
            if c.status == S.BLOCKED and c.end <= s and _BLOCKED_UNTIL.search(masked[c.end:s]):
                return True
            if c.status in (S.DONE, S.CANCELLED) and c.kind != "emoji":
                # "today we shipped", "launched this morning" — unless another verb comes
                # between them: "merged, deploying tomorrow"
                lo, hi = (c.end, s) if c.end <= s else (s, c.start)
                if not any(t.endswith("ing") for t, _ in _tokens(masked, lo, hi)):
                    return True
        return False


def _alternation(specs: list[tuple[str, Any, str]], first_default: int) -> str:
    """One alternative per phrase, named p<i> in `specs` order. The plain default phrases are
    grouped by their first letter behind a lookahead, so at each word the engine tries a few
    dozen alternatives instead of every phrase (the regex is most of the parse time)."""
    head = [f"(?P<p{i}>{rx})" for i, (rx, _, _) in enumerate(specs[:first_default])]
    by_letter: dict[str, list[str]] = {}
    for i, (rx, _, _) in enumerate(specs[first_default:], start=first_default):
        first = rx[:1].lower()
        key = first if first.isalpha() else ""
        by_letter.setdefault(key, []).append(f"(?P<p{i}>{rx})")
    groups = [f"(?={re.escape(k)})(?:{'|'.join(v)})" for k, v in by_letter.items() if k]
    groups += by_letter.get("", [])
    return "|".join(head + groups)


def _chain(head: MentionLike, pool: Sequence[MentionLike], text: str, *, back: bool) -> list[str]:
    """`head` and the deliverables listed with it ("checkout, payments and search")."""
    chain = [head]
    idx = list(pool).index(head) if head in pool else -1
    if idx >= 0:
        rng = range(idx - 1, -1, -1) if back else range(idx + 1, len(pool))
        for i in rng:
            m, last = pool[i], chain[-1]
            gap = text[m.end:last.start] if back else text[last.end:m.start]
            first = m if back else last
            if _AFTER_PREPOSITION.search(text[max(0, first.start - 24):first.start]):
                break  # "posted it in <#C1|audit-log>, search is fine": a place, not a list
            if (m.end > last.start if back else m.start < last.end) or _LIST_GAP.fullmatch(gap):
                chain.append(m)
            else:
                break
    ordered = sorted(chain, key=lambda m: m.start)
    return list(dict.fromkeys(m.key for m in ordered))


_MENU_GAP = re.compile(r"\s*(?:/|\bor\b)\s*", re.IGNORECASE)


def _without_menus(cands: list[_Cand], masked: str) -> list[_Cand]:
    """Statuses offered as choices claim nothing: "Status: (on track / at risk / blocked)",
    "done or blocked?"."""
    drop: set[int] = set()
    for i in range(len(cands) - 1):
        a, b = cands[i], cands[i + 1]
        if a.status != b.status and a.end <= b.start and _MENU_GAP.fullmatch(masked, a.end, b.start):
            drop.update((i, i + 1))
    return [c for i, c in enumerate(cands) if i not in drop]


def _negate(status: Any) -> CanonicalStatus | None:
    if status in (S.BLOCKED, S.AT_RISK):
        return S.ON_TRACK
    if status == S.ON_TRACK:
        return S.AT_RISK
    if status == _STARTED:
        return S.NOT_STARTED
    return None


_DEFAULT_PARSERS: dict[str, ClaimParser] = {}


def parse_claims(text: str, *, stated_at: datetime, timezone: str = "UTC") -> list[Claim]:
    """Parse with the default vocabulary (parsers are cached per timezone)."""
    parser = _DEFAULT_PARSERS.get(timezone)
    if parser is None:
        parser = _DEFAULT_PARSERS[timezone] = ClaimParser(timezone=timezone)
    return parser.parse(text, stated_at=stated_at)


def clear_caches() -> None:
    """Forget cached dateparser results (benchmarks measure a cold start with this)."""
    _dateparser.cache_clear()


# ---------------------------------------------------------------------------------------------
# Corpus scoring (shared by tests/unit/test_claims_corpus.py and bench/claims_corpus.py)
# ---------------------------------------------------------------------------------------------


def load_corpus(path: str | Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            row = json.loads(line)
            row["_line"] = n
            rows.append(row)
    return rows


def _tally() -> dict[str, int]:
    return {"st_pred": 0, "st_lab": 0, "st_ok": 0, "dt_pred": 0, "dt_lab": 0, "dt_ok": 0, "n": 0}


def _figures(t: dict[str, int]) -> dict[str, Any]:
    def ratio(a: int, b: int) -> float:
        return a / b if b else 1.0

    return {
        "messages": t["n"],
        "status": {
            "labelled": t["st_lab"], "predicted": t["st_pred"], "correct": t["st_ok"],
            "precision": ratio(t["st_ok"], t["st_pred"]), "recall": ratio(t["st_ok"], t["st_lab"]),
        },
        "target_date": {
            "labelled": t["dt_lab"], "predicted": t["dt_pred"], "correct": t["dt_ok"],
            "accuracy": ratio(t["dt_ok"], t["dt_lab"]),
            "precision": ratio(t["dt_ok"], t["dt_pred"]),
        },
    }


def score_corpus(path: str | Path, *, extra_phrases: Mapping[str, CanonicalStatus] | None = None
                 ) -> dict[str, Any]:
    """Parse every labelled message and compare with its labels.

    status: precision = correct / predicted, recall = correct / labelled (a predicted status
    is correct when it equals the label). target_date: accuracy = resolved to the right day /
    labelled dates, precision = right day / predicted dates. Figures are given for the whole
    corpus and per `split` ("dev": written before the parser, rules developed against it;
    "holdout": written after the rules were frozen and scored blind first).
    """
    rows = load_corpus(path)
    parsers: dict[str, ClaimParser] = {}
    total = _tally()
    splits: dict[str, dict[str, int]] = {}
    errors: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for row in rows:
        tz = row.get("timezone") or "UTC"
        parser = parsers.get(tz)
        if parser is None:
            parser = parsers[tz] = ClaimParser(extra_phrases, timezone=tz)
        claims = parser.parse(row["text"], stated_at=datetime.fromisoformat(row["stated_at"]))
        got_status = next((c.value for c in claims if c.field == Field.STATUS), None)
        got_date = next((c.value for c in claims if c.field == Field.TARGET_DATE), None)
        want_status, want_date = row.get("status"), row.get("target_date")
        split = row.get("split", "dev")
        for t in (total, splits.setdefault(split, _tally())):
            t["n"] += 1
            t["st_pred"] += got_status is not None
            t["st_lab"] += want_status is not None
            t["st_ok"] += got_status is not None and got_status == want_status
            t["dt_pred"] += got_date is not None
            t["dt_lab"] += want_date is not None
            t["dt_ok"] += got_date is not None and got_date == want_date
        if got_status != want_status or got_date != want_date:
            errors.append({
                "line": row["_line"], "split": split, "text": row["text"],
                "status": [want_status, got_status], "target_date": [want_date, got_date],
            })
    elapsed = time.perf_counter() - t0
    result = _figures(total)
    result["splits"] = {name: _figures(t) for name, t in sorted(splits.items())}
    result["errors"] = errors
    result["elapsed_s"] = elapsed
    return result
