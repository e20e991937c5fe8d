"""Free text (Slack messages) -> status and target-date claims.

`parse_claims(text, stated_at=...)` returns at most one `Field.STATUS` claim and at most one
`Field.TARGET_DATE` claim per message (per message, not per deliverable mentioned: "checkout is
blocked, payments on track" yields the latest state only). Every claim carries the span of the
words it came from in the ORIGINAL text, so a reviewer can see exactly what was read.

How a message is read
=====================
1. **Masking.** Slack mrkdwn is blanked out character for character (same length), so offsets in
   the masked text are offsets in the original: `<url|label>` and `<#C1|channel>` keep only the
   label, mentions and bare URLs become spaces, `*bold*`/`_it_`/backticks lose their markers,
   `~struck~` text, quoted lines (`> ...`), code blocks and one-to-three words in double quotes
   disappear (they are not the author's current claim), `&gt;`-style entities are decoded in
   place. Emoji shortcodes become a clause break, except the check marks, which can mean done.
2. **Structured fields win.** `status: blocked`, `*Status:* _At risk_`, `eta: 2026-12-05`,
   `due: Dec 5`, `target date: ...`, `deadline: ...`, `go-live: ...` override anything said in
   free text. A status key counts at the start of a line or after a separator; date keys also
   anywhere when followed by a colon. `ETA: TBD` suppresses free-text dates.
3. **Status phrases** (`DEFAULT_PHRASES`, plus configured extras, plus a few rule phrases) are
   found with one compiled regex, then each match is judged in its clause:
   - questions (a sentence ending in `?`, `Q:`, "are we ...") and hypotheticals (`if`, `unless`,
     `whether`, `in case`, `worst case`, "would be great to") claim nothing; in "X is blocked,
     can someone look?" only the tail is the question;
   - plans and modals (`will`, `'ll`, `should`, `going to`, `hoping to`, `once`, `after`, ...)
     cancel done/on-track/blocked/cancelled phrases but not at-risk ones ("might slip" is a risk
     now); "done by Friday" is a deadline; "deployed to staging" is not shipped;
   - past transient states (`was blocked`, `had been stuck`, `after being`) are history;
   - negation flips: not blocked / not at risk -> on_track, not on track -> at_risk, not done /
     not live -> no claim, not started / nobody has picked up -> not_started;
   - partial completion (`80% done`, `2 of 5 done`, `3/4 done`, `mostly done`) is not done;
   - everyday uses are consumed as neutral: "goes live" (a plan), "out sick", "killed it",
     "standup cancelled", "blocked off my calendar", "the live site", "behind a flag", ...
   Of the surviving candidates the strongest kind wins (structured > explicit phrase or change
   such as "no longer blocked"/"unblocked" > plain negation such as "not blocked" > one lone
   check-mark emoji; several check marks or a cross are a checklist, no claim), and among
   equals the LATEST in the text wins ("was blocked, now unblocked" -> on_track).
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
   dates of something already done ("shipped today"). The latest remaining date wins.

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
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dateparser

from connectors.base import CanonicalStatus, Field

__all__ = [
    "DEFAULT_PHRASES",
    "Claim",
    "ClaimParser",
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

_NEG_WORDS = r"(?:won'?t|will\s+not|not\s+going\s+to|unlikely\s+to|might\s+not|may\s+not)"
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
    ((r"(?:(?:is|are|'s|'re|now|as)|(?:rollout|roll-out|launch|release|migration|deploy|"
     r"deployment|upgrade|handover|build|qa|testing|work))\s+complete"), S.DONE, ""),
    (r"(?:is|are|'s|'re|it's|now|be)\s+(?:now\s+)?out", S.DONE, ""),
    # explicit negation inside the phrase
    (_NEG_WORDS + r"\s+(?:make|hit|meet|finish|happen|land|be\s+ready|be\s+done|get\s+there)",
     S.AT_RISK, "miss"),
    (r"(?:can'?t|cannot)\s+make", S.AT_RISK, "miss"),
    (r"miss(?:ed)?\s+(?:the|our|this|that|it|friday|monday|tuesday|wednesday|thursday|eow|eom)",
     S.AT_RISK, "miss"),
    (r"miss", S.AT_RISK, "miss"),
    (_CANT + r"\s+(?:proceed|ship|merge|launch|release|deploy|continue|move\s+forward|progress)",
     S.BLOCKED, "neg"),
    (r"(?:is|it's|we're|we\s+are)\s+a\s+go(?![\w-])", S.ON_TRACK, ""),
    (r"un-?blocked", S.ON_TRACK, "change"),
    # started family
    (r"started|begun|kicked\s+off|picked\s+up", _STARTED, ""),
    # check marks
    ((r":(?:white_check_mark|heavy_check_mark|ballot_box_with_check):|\u2705|\u2714\ufe0f?|"
     r"\u2611\ufe0f?"), S.DONE, "emoji"),
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
}
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
    return r"[\s-]+".join(parts)


# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------

_SLACK_ENTITY = re.compile(r"<([^<>|\n]*)(?:\|([^<>\n]*))?>")
_HTML_ENTITY = re.compile(r"&(amp|lt|gt);")
_QUOTE_LINE = re.compile(r"(?m)^[ \t]*>.*$")
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_STRIKE = re.compile(r"(?<![\w~])~[^~\n]+~(?![\w~])")
# a word or three in quotes is a mention of the words ("the ticket still says "blocked""),
# not the author's claim
_QUOTED_WORDS = re.compile(r"[\"\u201c](?:\s*[\w'-]+){1,3}\s*[\"\u201d]")
_EMOJI = re.compile(r":[a-z0-9_+'\-]*[a-z][a-z0-9_+'\-]*:", re.IGNORECASE)
_DONE_EMOJI = {"white_check_mark", "heavy_check_mark", "ballot_box_with_check"}
_CROSS_EMOJI = re.compile(r":(?:x|heavy_multiplication_x|no_entry_sign):|\u274c|\u2716",
                          re.IGNORECASE)
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
    t = _QUOTE_LINE.sub(lambda m: _blank(m.group(0)), t)
    t = _CODE_BLOCK.sub(lambda m: _blank(m.group(0)), t)
    t = _STRIKE.sub(lambda m: _blank(m.group(0)), t)
    t = _QUOTED_WORDS.sub(lambda m: _blank(m.group(0)), t)
    # other emoji are blanked but keep a "|" so they separate clauses like punctuation
    t = _EMOJI.sub(lambda m: m.group(0) if m.group(0)[1:-1].lower() in _DONE_EMOJI
                   else "|" + " " * (len(m.group(0)) - 1), t)
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
    r"would\s+be\s+(?:great|nice|good|ideal|awesome|cool)|wish|ideally|in\s+the\s+event)\b",
    re.IGNORECASE,
)
_CLAUSE_DELIM = re.compile(
    r"[,;:()\[\]\u2192\u2022|]|->|(?<=\s)[-\u2013\u2014](?=\s)|\u2014|\n|[.!?](?=\s|$)|"
    r"\b(?:but|and|so|then|now|while|though|although|because|bc|since|whereas|except)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|%", re.IGNORECASE)


@dataclass(slots=True)
class _Sentence:
    start: int
    end: int
    question_from: int | None  # positions >= this are part of a question
    hyp_from: int | None  # positions >= this are hypothetical

    def excluded(self, pos: int) -> bool:
        return (self.question_from is not None and pos >= self.question_from) or (
            self.hyp_from is not None and pos >= self.hyp_from)


def _sentences(masked: str) -> list[_Sentence]:
    out: list[_Sentence] = []
    start = 0
    n = len(masked)
    for m in _SENT_END.finditer(masked):
        if m.group(0) == "." and _ABBREV_BEFORE_DOT.search(masked[max(0, m.start() - 6):m.start()]):
            continue  # "Dec. 8th", "21.12." are not sentence ends
        out.append(_make_sentence(masked, start, m.end()))
        start = m.end()
    if start < n:
        out.append(_make_sentence(masked, start, n))
    return out


def _make_sentence(masked: str, start: int, end: int) -> _Sentence:
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
    return _Sentence(start, end, q_from, start + hyp.start() if hyp else None)


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


def _context(masked: str) -> _Ctx:
    sents = _sentences(masked)
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
_WEEKDAY = (r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|thu(?:rs?)?|"
            r"fri)")
_NUMWORD = r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d{1,2})"
_DAYQUAL = r"(?:\s+(?:eod|cob|end\s+of\s+(?:the\s+)?day|morning|afternoon|evening|night))?"

_DATE_RE = re.compile(
    r"(?P<iso>\b\d{4}-\d{2}-\d{2}\b)"
    r"|(?P<md>\b\d{4}/\d{1,2}/\d{1,2}\b|\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])"
    r"(?:/(?:\d{4}|\d{2}))?\b(?!/|\.\d))"
    r"|(?P<dotted>\b(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:\d{4}|\d{2})?(?![\d.]))"
    r"|(?P<monthday>\b" + _MONTH + r"\.?\s+\d{1,2}" + _ORD + r"\b(?:,?\s+\d{4}\b)?(?!:|\.\d))"
    r"|(?P<daymonth>\b\d{1,2}" + _ORD + r"\s+(?:of\s+)?" + _MONTH + r"\b\.?(?:,?\s+\d{4}\b)?)"
    r"|(?P<nth>\bthe\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?" + _MONTH + r"))"
    r"|(?P<eonw>\bend\s+of\s+(?:the\s+)?next\s+week\b)"
    r"|(?P<eow>\beow\b|\bend\s+of\s+(?:the\s+|this\s+)?week\b)"
    r"|(?P<eom>\beom\b|\bend\s+of\s+(?:the\s+|this\s+)?month\b)"
    r"|(?P<eoy>\beoy\b|\bend\s+of\s+(?:the\s+|this\s+)?year\b)"
    r"|(?P<weekday>\b(?:(?:next|this|coming)\s+)?" + _WEEKDAY + r"(?:day)?\b\.?" + _DAYQUAL + ")"
    r"|(?P<relday>\b(?:today|tonight|tomorrow|tmrw|tmr|tomorow|eod|cob)\b" + _DAYQUAL + ")"
    r"|(?P<induration>\b(?:in|within)\s+" + _NUMWORD + r"\s+(?:days?|weeks?)\b)"
    r"|(?P<etaduration>\beta:?\s+" + _NUMWORD + r"\s+(?:days?|weeks?)\b)",
    re.IGNORECASE,
)
_DATEISH = re.compile(
    r"\d|\b(?:" + _MONTH[3:-1] + r"|mon|tue|wed|thu|fri|sat|sun|today|tonight|tomorrow|tmrw|tmr|"
    r"tomorow|eod|cob|eow|eom|eoy|end\s+of|week|weeks|days?)",
    re.IGNORECASE,
)
_NEEDS_CUE = {"md", "dotted", "nth"}
_CUES = {
    "by", "on", "to", "for", "until", "till", "before", "eta", "due", "date", "deadline",
    "target", "targeting", "targeted", "launch", "launches", "launching", "ship", "ships",
    "shipping", "release", "releasing", "live", "go-live", "moved", "moving", "pushed",
    "pushing", "postponed", "delayed", "out",
}
_PREP_CUES = {"by", "on", "to", "for", "until", "till", "before", "eta", "due", "date",
              "deadline"}
_VERSIONISH = {"v", "version", "ios", "android", "sdk", "build", "app", "hotfix", "release",
               "released", "node", "python", "api"}
# Words that make a nearby date the date of something else: a meeting, an absence, a freeze,
# the start of work, the end of another event.
_EVENT = re.compile(
    r"\b(?:sync|meeting|meet|standup|stand-up|call|retro|demo|review|freeze|ooo|pto|vacation|"
    r"out\s+of\s+office|off\s+sick|kickoff|kick-off|kicks?\s+off|kicking\s+off|kicked\s+off|"
    r"starts?|starting|started|begins?|beginning|began|ends|ending|chat|discuss|talk|workshop|"
    r"offsite|interview|out\s+sick|(?:she|he|i)(?:'s|'m|\s+is|\s+am|\s+was)\s+out)\b",
    re.IGNORECASE,
)
_STRONG_CUE = re.compile(r"\b(?:eta|due|target|targeting|deadline|launch\s+date|ship\s+date|"
                         r"release\s+date|new\s+date|go-live)\b", re.IGNORECASE)
_AFTER_TIME = re.compile(r"\s*(?:at|@)\s*\d{1,2}(?::\d{2})?\s*(?:am|pm)?\b|\s*\d{1,2}:\d{2}",
                         re.IGNORECASE)
_NOT_TARGET_BEFORE = re.compile(
    r"(?:\bfrom|\binstead\s+of|\boriginally|\bwas|\bold|\bas\s+early\s+as|\bblack|\bcyber|"
    r"\bgood|\bsince|\blast|\bthis\s+past)\s*$",
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


@lru_cache(maxsize=8192)
def _dateparser(expr: str, local: date, tz: str) -> date | None:
    base = datetime.combine(local, dtime(12, 0))
    got = dateparser.parse(expr, languages=["en"], settings=_dp_settings(base, tz))
    return got.date() if got is not None else None


def _friday_of_week(d: date, weeks_ahead: int = 0) -> date:
    monday = d - timedelta(days=d.weekday())
    fri = monday + timedelta(days=4 + 7 * weeks_ahead)
    if weeks_ahead == 0 and fri < d:  # said on the weekend: next Friday
        fri += timedelta(days=7)
    return fri


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
        words = e.split()
        if words[0] == "next":
            # "next Friday": that weekday in the following Monday-Sunday week
            wd = _WEEKDAY_NUM[words[1][:3]]
            monday_next = local - timedelta(days=local.weekday()) + timedelta(days=7)
            return monday_next + timedelta(days=wd)
        if words[0] == "coming":
            e = words[1]
        return _dateparser(e, local, tz)
    if kind == "nth":
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
        parts = [p for p in e.split(".") if p]
        day, month = int(parts[0]), int(parts[1])
        year = int(parts[2]) if len(parts) > 2 else None
        if year is not None:
            year = year + 2000 if year < 100 else year
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


class ClaimParser:
    """Reusable parser. Build once (it compiles the vocabulary) and call `parse` per message."""

    def __init__(
        self,
        extra_phrases: Mapping[str, CanonicalStatus] | None = None,
        timezone: str = "UTC",
    ) -> None:
        self.timezone = timezone
        self._tz = ZoneInfo(timezone)
        phrases = dict(DEFAULT_PHRASES)
        extra = {k.lower().strip(): CanonicalStatus(v) for k, v in (extra_phrases or {}).items()}
        phrases.update(extra)
        specs: list[tuple[str, str, str]] = []
        # extra (configured) phrases first, then rule phrases, then defaults; longer first
        for p in sorted(extra, key=len, reverse=True):
            specs.append((_phrase_regex(p), extra[p], ""))
        specs.extend(_RULE_PHRASES)
        for p in sorted(DEFAULT_PHRASES, key=len, reverse=True):
            if p not in extra:
                specs.append((_phrase_regex(p), DEFAULT_PHRASES[p], ""))
        self._specs = specs
        alts = "|".join(f"(?P<p{i}>{rx})" for i, (rx, _, _) in enumerate(specs))
        # the lookahead lets the engine skip positions that cannot start a phrase cheaply
        self._phrase_re = re.compile(
            rf"(?=[\w:'\u2705\u2714\u2611])(?<![\w'-])(?:{alts})(?![\w']|-\w)", re.IGNORECASE)
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
        if not text or not text.strip():
            return []
        if stated_at.tzinfo is None:
            stated_at = stated_at.replace(tzinfo=UTC)
        local = stated_at.astimezone(self._tz).date()
        masked = _mask(text)
        ctx = _context(masked)

        struct_status, struct_date, date_suppressed = self._structured(masked, text, local)
        cands = [] if struct_status else self._status_candidates(masked, ctx)
        claims: list[Claim] = []
        if struct_status:
            claims.append(struct_status)
        else:
            best = self._pick(cands, masked)
            if best is not None and best.status is CanonicalStatus.DONE and _STILL_OPEN.search(masked, best.end):
                best = None  # part of it is done, the rest is not: no verdict on the whole
            if best is not None:
                claims.append(Claim(Field.STATUS, best.status.value, (best.start, best.end),
                                    text[best.start:best.end]))
        if struct_date:
            claims.append(struct_date)
        elif not date_suppressed and _DATEISH.search(masked):
            d = self._free_date(masked, text, ctx, local, cands)
            if d:
                claims.append(d)
        return claims

    # -- structured fields -------------------------------------------------------------------

    def _structured(self, masked: str, text: str, local: date
                    ) -> tuple[Claim | None, Claim | None, bool]:
        status_claim: Claim | None = None
        date_claim: Claim | None = None
        suppressed = False
        for m in _STRUCT_KEY.finditer(masked):
            key = (m.group("key") or m.group("dkey")).lower()
            kstart = m.start("key") if m.group("key") else m.start("dkey")
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
                status_claim = Claim(Field.STATUS, status.value, (kstart, vm.end()),
                                     text[kstart:vm.end()])
            else:
                end_m = _STRUCT_VALUE_END.search(masked, vstart)
                # allow the value to run over "Dec. 8" / "21.12." by matching a date first
                dm = _DATE_RE.match(masked, vstart)
                if dm is not None:
                    kind = dm.lastgroup or ""
                    d = _resolve(kind, dm.group(0), local, self.timezone)
                    if d is not None:
                        date_claim = Claim(Field.TARGET_DATE, d.isoformat(), (kstart, dm.end()),
                                           text[kstart:dm.end()])
                        continue
                value = masked[vstart:end_m.start() if end_m else len(masked)]
                if _TBD.match(value):
                    suppressed = True
        return status_claim, date_claim, suppressed

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
            pre = _tokens(masked, cs, s)[-5:]
            post = _tokens(masked, e, ce)[:3]
            cand = self._judge(masked, cls, kind, s, e, cs, pre, post)
            if cand is not None:
                out.append(cand)
        return out

    def _judge(self, masked: str, cls: Any, kind: str, s: int, e: int, cs: int,
               pre: list[tuple[str, int]], post: list[tuple[str, int]]) -> _Cand | None:
        pre_words = [t for t, _ in pre]
        last4 = pre_words[-4:]
        post_words = [t for t, _ in post]

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

        # partial completion is not done
        if cls == S.DONE and _PARTIAL.search(masked, cs, s):
            return None

        if kind == "emoji":
            return _Cand(S.DONE, _TIER_EMOJI, s, e, kind)
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
                             start, end, "negated")
            if cls == S.ON_TRACK:
                return _Cand(S.AT_RISK, _TIER_EXPLICIT, start, end, "miss")
            if cls == _STARTED:
                return _Cand(S.NOT_STARTED, _TIER_EXPLICIT, start, end, "")
            return None  # not done / not cancelled / not "not started": no claim
        if cls == _STARTED:
            return None
        return _Cand(CanonicalStatus(cls), _TIER_EXPLICIT, start, end, kind)

    @staticmethod
    def _pick(cands: list[_Cand], masked: str) -> _Cand | None:
        if not cands:
            return None
        emoji = [c for c in cands if c.kind == "emoji"]
        if emoji and (len(emoji) > 1 or _CROSS_EMOJI.search(masked)):
            cands = [c for c in cands if c.kind != "emoji"]  # a checklist, not a verdict
            if not cands:
                return None
        top = max(c.tier for c in cands)
        return max((c for c in cands if c.tier == top), key=lambda c: c.start)

    # -- dates -------------------------------------------------------------------------------

    def _free_date(self, masked: str, text: str, ctx: _Ctx, local: date,
                   cands: list[_Cand]) -> Claim | None:
        best: tuple[int, int, date] | None = None
        for m in _DATE_RE.finditer(masked):
            kind = m.lastgroup or ""
            s, e = m.start(), m.end()
            sent = ctx.sentence(s)
            if sent.excluded(s):
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
            if kind == "induration" and any(t in _PERFECT or t.endswith("'ve") for t in pre_all):
                continue  # "hasn't replied in 5 days": a duration in the past
            if kind in _NEEDS_CUE:
                cues = _CUES if kind == "md" else _PREP_CUES
                alone = not masked[sent.start:s].strip(" \t\n|:-") \
                    and not masked[e:sent.end].strip(" \t\n|.!")
                padded = kind == "md" and re.fullmatch(r"\d\d/\d\d(?:/\d+)?|\d{4}/.*", m.group(0))
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
            best = (s, e, d)  # the latest date in the message wins
        if best is None:
            return None
        s, e, d = best
        return Claim(Field.TARGET_DATE, d.isoformat(), (s, e), text[s:e])

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
