"""Messages for people, on the pipeline's one SNS topic (KMS-encrypted). Takes an injected
``boto3.client("sns")``.

Only what needs a person is sent (an approval, a repair someone should know about, a failure the
pipeline cannot fix, a cutover done or rolled back); progress the pipeline makes by itself is in
the audit trail and ``mgn-migrate status``, not in anyone's inbox. Each message carries the SNS
message attribute ``kind`` so subscriptions can filter. Every field stays on its line: a hostname
or a tag with a line break or another control character (anyone who can tag a server can write one)
is shown escaped, so it cannot forge a line of the message.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

# SNS caps subjects at 100 characters.
SUBJECT_LIMIT = 100
_NO_WAVE = {"", "unassigned", "account-wide"}


def subject_line(text: str, wave: str | None = None) -> str:
    """``<what happened to which server> [<wave>]``: the wave when the server has one; the wave is
    kept when the text is cut to SNS's 100 characters."""
    text = one_line(text)
    suffix = f" [{one_line(wave)}]" if wave and wave not in _NO_WAVE else ""
    room = SUBJECT_LIMIT - len(suffix)
    cut = text if len(text) <= room else text[: room - 3].rstrip() + "..."
    return (cut + suffix)[:SUBJECT_LIMIT]


def message_body(
    *,
    about: str | None,
    happened: Sequence[str],
    why: Sequence[str] = (),
    what_to_do: Sequence[str] = (),
    footer: Sequence[str] = (),
) -> str:
    """The body every message has: which server (and wave), what happened, why, what to do next."""
    lines: list[str] = []
    if about:
        lines += [one_line(about), ""]
    lines += ["What happened:", *(f"  {one_line(line)}" for line in happened)]
    if why:
        lines += ["", "Why:", *(f"  {one_line(line)}" for line in why)]
    if what_to_do:
        lines += ["", "What to do:", *(f"  {one_line(line)}" for line in what_to_do)]
    if footer:
        lines += ["", *map(one_line, footer)]
    return "\n".join(lines)


def one_line(text: str) -> str:
    """``text`` with line breaks and other control or separator characters escaped (``\\n``,
    ``\\u2028``): what a person reads is one line per field."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in named:
        return named[ch]
    if ch == " " or unicodedata.category(ch) == "Zs":
        return ch  # a space is printable enough
    return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"


def server_line(server_id: str, hostname: str | None, wave: str | None) -> str:
    """``Server web-02 (s-0123...), wave wave-1``."""
    name = f"{hostname} ({server_id})" if hostname and hostname != server_id else server_id
    return f"Server {name}, wave {wave or 'unassigned'}"


class Notifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic = topic_arn

    def notify(self, subject: str, body: str, kind: str) -> None:
        # The body carries the details; the subject is cut to SNS's limit.
        self._client.publish(
            TopicArn=self._topic,
            Subject=subject[:SUBJECT_LIMIT],
            Message=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
        )

    def tell(
        self,
        kind: str,
        subject: str,
        *,
        wave: str | None = None,
        about: str | None = None,
        happened: Sequence[str],
        why: Sequence[str] = (),
        what_to_do: Sequence[str] = (),
        footer: Sequence[str] = (),
    ) -> None:
        """A structured message: ``subject [wave]``, then what happened, why, and what to do."""
        self.notify(
            subject_line(subject, wave),
            message_body(about=about, happened=happened, why=why, what_to_do=what_to_do, footer=footer),
            kind,
        )
