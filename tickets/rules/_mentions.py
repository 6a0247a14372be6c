"""@mentions in internal notes: which names a note mentions, and the note cut
into plain text and mentions for the page to highlight.

A name is written as Django usernames are made (letters, digits and . + - _, in
any script), after an @ that does not continue a word: `ann@example.com` is an
address, not a mention of `example.com`."""

import re
from collections.abc import Collection
from dataclasses import dataclass

# One note tells at most this many colleagues: a pasted list of addresses must
# not page a whole floor.
MAX_MENTIONS = 20
MAX_HANDLE = 150  # the username column's width

_MENTION = re.compile(rf"(?<![\w.+@-])@([\w.+-]{{1,{MAX_HANDLE}}})")


@dataclass(frozen=True)
class NotePart:
    """A run of a note's text; `mention` when it is "@name" of someone told."""

    text: str
    mention: bool = False


def _mentions(text: str):
    """(start, end, handle) of each @name; a final dot ends the sentence, not
    the name ("ask @ana.")."""
    for match in _MENTION.finditer(text):
        handle = match.group(1).rstrip(".")
        if handle:
            yield match.start(), match.start(1) + len(handle), handle


def mention_handles(text: str, *, limit: int = MAX_MENTIONS) -> tuple[str, ...]:
    """The names the text mentions, each once (case does not make another
    name), in order of first mention, at most `limit`."""
    seen: dict[str, str] = {}
    for _, _, handle in _mentions(text):
        seen.setdefault(handle.casefold(), handle)
        if len(seen) == limit:
            break
    return tuple(seen.values())


def mention_parts(text: str, *, handles: Collection[str]) -> tuple[NotePart, ...]:
    """The text cut into plain runs and the mentions of `handles` (in any case);
    an @name not among them stays plain text. Joined, the parts are the text."""
    known = {handle.casefold() for handle in handles}
    parts: list[NotePart] = []
    position = 0
    for start, end, handle in _mentions(text):
        if handle.casefold() not in known:
            continue
        if start > position:
            parts.append(NotePart(text[position:start]))
        parts.append(NotePart(text[start:end], mention=True))
        position = end
    if position < len(text):
        parts.append(NotePart(text[position:]))
    return tuple(parts)
