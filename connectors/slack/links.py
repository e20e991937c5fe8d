"""Which deliverables a Slack message names: Asana task URLs, configured aliases and hashtags,
and channel links whose channel name is an alias (`<#C1|audit-log>`). Code (`inline`, ``` blocks)
names nothing, nor does a one-word alias used as a verb ("I'll search for a fix", "let me search
the logs": the word before or after decides).

Pure functions over a `DeliverableIndex`; the connector adds the fallbacks (thread parent,
channel default) that depend on where the message was posted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from connectors.base import DeliverableIndex

# Every task URL form Asana produces. Group `task` is the task gid.
#   https://app.asana.com/0/<project>/<task>            (also /f, /list-less full screen)
#   https://app.asana.com/0/0/<task>                    (a task outside any project view)
#   https://app.asana.com/1/<workspace>/project/<project>/task/<task>
#   https://app.asana.com/1/<workspace>/task/<task>
ASANA_TASK_URL = re.compile(
    r"https?://app\.asana\.com/"
    r"(?:0/\d+/(?P<task0>\d+)(?:/f)?"
    r"|1/\d+/(?:project/\d+/)?task/(?P<task1>\d+))"
    r"(?!\d)",
    re.IGNORECASE,
)
# Slack markup: <url|label>, <url>, <@U123>, <#C123|name>, <!here>.
_SLACK_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_BARE_URL = re.compile(r"https?://\S+", re.IGNORECASE)
# An alias must stand alone: not glued to letters, digits, underscores or hyphens
# ("checkout" does not match inside "checkout-web" or "rechecking").
_BEFORE = r"(?<![\w-])"
_AFTER = r"(?![\w-])"
# Code is not prose: `inline` spans and ``` blocks.
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_CHANNEL_LINK = re.compile(r"<#[A-Z0-9]+\|([^<>|]+)>")
# A one-word alias used as a verb names nothing: "I'll search for a fix", "let me search the
# logs", "checkout the branch". Looked at: the word before and the word after the alias.
_VERB_BEFORE = re.compile(
    r"(?:\b(?:i|we|you|they|to|will|'ll|should|can|could|would|must|let\s+me|let's|lets|please|pls|"
    r"gonna|wanna|might|may|did|didn't|don't|do)\s+)$",
    re.IGNORECASE,
)
_VERB_AFTER = re.compile(
    r"^\s+(?:for|through|the|a|an|our|my|your|his|her|their|it|them|this|that|these|those|"
    r"everywhere|around|again|out\s+the|up\s+the)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Mention:
    """A deliverable named in a message, where, and how (`asana_url` or `alias`)."""

    key: str
    start: int
    end: int
    how: str


class DeliverableLinker:
    """Finds deliverable mentions in Slack message text; build once per connector."""

    def __init__(self, index: DeliverableIndex):
        self.index = index
        self._aliases = AliasTable(a for a in index.by_alias if a.strip())

    def mentions(self, text: str) -> list[Mention]:
        """Every mention in text order; spans index the original text."""
        found: list[Mention] = []
        for match in ASANA_TASK_URL.finditer(text):
            gid = match.group("task0") or match.group("task1")
            key = self.index.linked("asana").get(gid)
            if key is not None:
                found.append(Mention(key, match.start(), match.end(), "asana_url"))
        if self._aliases:
            prose = _blank_markup(text)
            for start, end, alias in self._aliases.find(prose):
                key = self.index.by_alias.get(alias)
                if key is not None and not _used_as_verb(prose, start, end):
                    found.append(Mention(key, start, end, "alias"))
        for match in _CHANNEL_LINK.finditer(text):
            # a channel named like a deliverable names it: "<#C0AUDIT|audit-log> is blocked"
            name = match.group(1).strip().lower()
            key = self.index.by_alias.get(name) or self.index.by_alias.get(re.sub(r"[-_]+", " ", name))
            if key is not None:
                found.append(Mention(key, match.start(1), match.end(1), "channel"))
        found.sort(key=lambda m: (m.start, m.end))
        return found

    def keys(self, text: str) -> list[str]:
        """The distinct deliverable keys the text names, in order of first mention."""
        return unique_keys(self.mentions(text))


def _used_as_verb(prose: str, start: int, end: int) -> bool:
    alias = prose[start:end]
    if not alias.isalpha() or alias.isupper():
        return False  # several words, "#search", "SSO": a name
    before = prose[max(0, start - 24) : start]
    return bool(_VERB_BEFORE.search(before) or _VERB_AFTER.match(prose, end))


# Tokens: runs of word characters, and every other character on its own.
_TOKEN = re.compile(r"\w+|\W", re.DOTALL)
_END = ""  # the trie key under which a node keeps the alias that ends there (no token is empty)


def _is_word_char(char: str) -> bool:
    """What `\\w` matches in a str pattern."""
    return char.isalnum() or char == "_"


def _free_before(text: str, start: int) -> bool:
    return start == 0 or not (text[start - 1] == "-" or _is_word_char(text[start - 1]))


def _free_after(text: str, end: int) -> bool:
    return end >= len(text) or not (text[end] == "-" or _is_word_char(text[end]))


def _lowered(text: str) -> str:
    """`text` in lower case, character for character (so spans still index the original)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


class AliasTable:
    """Finds aliases standing alone in text in time linear in the text, whatever their number.

    Aliases are kept in a trie of tokens (runs of word characters, any other character alone:
    "checkout-v2" is checkout, -, v2). A match of an alias starts and ends at token boundaries
    of the text, since it may not be glued to a word character on either side, so the text is
    tokenized once and the trie walked from each token: the cost grows with the text and the
    length of the longest alias, not with how many aliases there are. What it finds is what one
    regular expression of every alias, longest first, case-insensitive and between `(?<![\\w-])`
    and `(?![\\w-])`, finds: the leftmost match, the longest alias there, none overlapping.
    """

    def __init__(self, aliases: Iterable[str]):
        self._trie: dict[str, Any] = {}
        # the alias as given (its key in `DeliverableIndex.by_alias`) by the form it is matched in
        self._given = {_lowered(a): a for a in aliases}
        for alias in self._given:
            node = self._trie
            for token in _TOKEN.findall(alias):
                node = node.setdefault(token, {})
            node[_END] = alias

    def __bool__(self) -> bool:
        return bool(self._trie)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, alias as given) of every alias standing alone in `text`, in text order."""
        lowered = _lowered(text)
        tokens = [(m.start(), m.group(0)) for m in _TOKEN.finditer(lowered)]
        found: list[tuple[int, int, str]] = []
        taken_until = 0
        for i, (start, token) in enumerate(tokens):
            node = self._trie.get(token)
            if node is None or start < taken_until or not _free_before(lowered, start):
                continue
            longest: str | None = None
            j = i
            while node is not None:
                alias = node.get(_END)
                if alias is not None and _free_after(lowered, start + len(alias)):
                    longest = alias
                j += 1
                node = node.get(tokens[j][1]) if j < len(tokens) else None
            if longest is not None:
                found.append((start, start + len(longest), self._given[longest]))
                taken_until = start + len(longest)
        return found


def unique_keys(mentions: list[Mention]) -> list[str]:
    seen: dict[str, None] = {}
    for m in mentions:
        seen.setdefault(m.key, None)
    return list(seen)


def _blank_markup(text: str) -> str:
    """The text with URLs, user and channel mentions replaced by spaces of the same length, so
    aliases are matched in prose (and link labels) only and spans stay valid."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if label is not None and not target.startswith(("@", "#", "!")):
            # keep the label where it stands: "<https://…|Checkout>" -> "        …Checkout "
            return " " * (match.start(2) - match.start()) + label + " "
        return " " * len(match.group(0))

    blanked = _SLACK_LINK.sub(link, text)
    blanked = _CODE.sub(lambda m: "".join("\n" if c == "\n" else " " for c in m.group(0)), blanked)
    return _BARE_URL.sub(lambda m: " " * len(m.group(0)), blanked)



# What may stand between deliverables named as one list: "checkout, payments and search",
# "checkout & the payments API", or a link and its label ("<url|Checkout>").
_LIST_GAP = re.compile(r"(?:[\s,&+/|<>()]|\band\b|\bor\b|\bthe\b|\bboth\b|\bplus\b)*", re.IGNORECASE)


def subject_keys(text: str, mentions: list[Mention], claim_start: int) -> list[str]:
    """The deliverables a claim at `claim_start` is about, when the message names several.

    The claim is about the deliverable named nearest before it, together with those listed
    alongside that one ("checkout and payments are blocked"), not about those named after it
    ("checkout is blocked waiting on payments", "campaign on track, assuming checkout ships").
    A claim before any name ("blocked: checkout and payments") is about every one named after
    it. A message naming one deliverable is about that one wherever it stands.
    """
    keys = unique_keys(mentions)
    if len(keys) <= 1:
        return keys
    before = [m for m in mentions if m.end <= claim_start]
    if not before:
        return unique_keys([m for m in mentions if m.start >= claim_start]) or keys
    chain = [before[-1]]
    for mention in reversed(before[:-1]):
        head = chain[-1]
        if mention.end > head.start or _LIST_GAP.fullmatch(text[mention.end : head.start]):
            chain.append(mention)
        else:
            break
    return unique_keys(list(reversed(chain)))


def message_permalink(workspace_url: str | None, channel: str, ts: str, thread: str | None = None) -> str | None:
    """A message's permalink built the way chat.getPermalink builds it, without asking Slack:
    `{workspace url}archives/{channel}/p{ts without the dot}`, and for a reply in a thread
    `?thread_ts={parent ts}&cid={channel}` after it. `workspace_url` is auth.test's `url`
    ("https://acme.slack.com/"); None (or not an http(s) URL) gives None, so the caller asks
    chat.getPermalink instead. A thread's parent (`thread` None or its own ts) has no query."""
    if not workspace_url or not workspace_url.startswith(("https://", "http://")) or not ts:
        return None
    link = f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
    if thread and thread != ts:
        link += f"?thread_ts={thread}&cid={channel}"
    return link


_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def plain_text(markup: str, person_name: Callable[[str], str | None] | None = None) -> str:
    """A Slack message's markup as its reader sees it, for excerpts: `<@U1>` -> "@Name" (the
    name `person_name` knows, else "@U1"), `<#C1|audit-log>` -> "#audit-log", `<url|label>` ->
    "label", `<url>` -> "url", `<!here>` -> "@here", `<!subteam^S1|@web>` -> "@web", and
    `&amp;` `&lt;` `&gt;` decoded (after the links, so an escaped "&lt;@U1&gt;" stays text).
    The result is plain text: whoever displays it escapes it for where it is shown. A link cut
    in half (an excerpt's edge) is left as it is."""

    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            name = label or (person_name(target[1:]) if person_name is not None else None)
            return "@" + (name or target[1:]).lstrip("@")
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return label or "@" + target[1:].split("^", 1)[0]
        return label or target.removeprefix("mailto:")

    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], _SLACK_LINK.sub(link, markup))
