"""Text that came from Asana or Slack (messages, task names, display names, comments) is data.

Every place that shows it escapes it here, for the medium it is shown in: Rich markup on a
terminal, Slack mrkdwn in a DM or a write-back reply, HTML on the board. Nothing in it may style,
link, or ping anyone.
"""

from __future__ import annotations

import html
import re

# A word joiner after the `@` keeps `@here` readable while Slack no longer sees the keyword.
_WORD_JOINER = "\u2060"
_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)


def for_rich(text: object) -> str:
    """`text` shown literally by a Rich console or table (`[/]`, `[link=…]` are not markup)."""
    from rich.markup import escape

    return escape(str(text))


def for_slack(text: object) -> str:
    """`text` shown literally in Slack mrkdwn, in blocks and in a message's `text`: `<!channel>`,
    `<@U…>` and `<https://…|label>` become visible characters, `@here` pings nobody."""
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@" + _WORD_JOINER + m.group(1), escaped)


def slack_link(url: str | None, label: object) -> str:
    """A mrkdwn link to `url` (an http(s) permalink) labelled with the escaped `label`; anything
    that is not a plain http(s) URL is shown as the label alone."""
    if not url or not re.fullmatch(r"https?://[^\s<>|]+", url):
        return for_slack(label)
    return f"<{url.replace('&', '&amp;')}|{for_slack(label)}>"


def for_html(text: object) -> str:
    """`text` as HTML character data or a quoted attribute value."""
    return html.escape(str(text), quote=True)
