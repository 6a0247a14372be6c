"""Reply templates: their placeholders, how a template renders for a ticket, and
what an edit changes.

A template is data written by staff, so it is never given to a template engine:
`{{ customer.first_name }}` is replaced by a value, and nothing else happens (no
filters, no tags, no attribute lookups, no code)."""

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

# Long enough for any reply; short enough that diffing two versions stays instant
# (the token diff is quadratic in the worst case).
MAX_TEMPLATE_BODY = 10_000
MAX_TEMPLATE_TITLE = 120

# The variables every ticket can fill (tickets.selectors.template_variables_for_
# ticket); apps above tickets add their own, e.g. entitlement.* from authority.
TEMPLATE_VARIABLE_NAMES = (
    "customer.first_name",
    "customer.last_name",
    "customer.name",
    "agent.first_name",
    "ticket.number",
    "ticket.subject",
    "pod.name",
)

_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
PLACEHOLDER = re.compile(r"\{\{\s*(" + _NAME + r")\s*\}\}")
# What looks like template syntax: a brace pair or a Django tag. Anything of it
# that is not a placeholder would reach the customer as it is written.
_SYNTAX = re.compile(r"\{\{|\{%")
_SNIPPET = 40  # characters of a malformed placeholder shown back to its author


def template_variables(body: str) -> tuple[str, ...]:
    """The variable names the body uses, lower-cased, in order of first use."""
    return tuple(
        dict.fromkeys(match.group(1).lower() for match in PLACEHOLDER.finditer(body))
    )


def template_variables_missing(
    *, body: str, variables: Mapping[str, str]
) -> tuple[str, ...]:
    """The variables the body uses that have no value: unknown, or blank (a
    customer without a name must not be greeted "Hi ,")."""
    return tuple(
        name for name in template_variables(body) if not _value(variables, name)
    )


def template_render(*, body: str, variables: Mapping[str, str]) -> str:
    """The body with each placeholder replaced by its value; a variable without
    a value shows as a visible marker, `[customer.account]`, for the agent to
    fill in before sending. Values are inserted as they are, in one pass: a value
    that itself looks like a placeholder is not expanded."""

    def replace(match: re.Match) -> str:
        name = match.group(1).lower()
        return _value(variables, name) or template_marker(name)

    return PLACEHOLDER.sub(replace, body)


def template_marker(name: str) -> str:
    """What a variable without a value renders as."""
    return f"[{name}]"


def template_placeholders_malformed(body: str) -> tuple[str, ...]:
    """Every piece of template syntax in the body that is not a plain placeholder
    (filters, tags, unclosed braces), as written, so its author can fix it."""
    malformed = []
    position = 0
    while found := _SYNTAX.search(body, position):
        start = found.start()
        if placeholder := PLACEHOLDER.match(body, start):
            position = placeholder.end()
            continue
        closing = "}}" if found.group() == "{{" else "%}"
        closed_at = body.find(closing, start)
        end = len(body) if closed_at == -1 else closed_at + len(closing)
        if (after := _SYNTAX.search(body, found.end())) and after.start() < end:
            end = after.start()  # unclosed: it ends where the next one starts
        malformed.append(body[start : min(end, start + _SNIPPET)].rstrip())
        # Search on inside it: a placeholder after an unclosed brace is still one.
        position = found.end()
    return tuple(malformed)


def _value(variables: Mapping[str, str], name: str) -> str:
    value = variables.get(name)
    return "" if value is None or not str(value).strip() else str(value)


# --- What an edit changes -----------------------------------------------------------


@dataclass(frozen=True)
class DiffPart:
    """A run of text kept, removed or added by an edit."""

    kind: str  # "equal", "delete" or "insert"
    text: str


_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def template_diff(*, old: str, new: str) -> tuple[DiffPart, ...]:
    """What turns `old` into `new`, word by word: a template is a paragraph or
    two, where a line diff would mark every line of it as changed."""
    before, after = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    parts: list[DiffPart] = []
    for operation, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if operation in ("equal", "delete", "replace"):
            kind = "equal" if operation == "equal" else "delete"
            _append(parts, kind, "".join(before[a_start:a_end]))
        if operation in ("insert", "replace"):
            _append(parts, "insert", "".join(after[b_start:b_end]))
    return tuple(parts)


def _append(parts: list[DiffPart], kind: str, text: str) -> None:
    if not text:
        return
    if parts and parts[-1].kind == kind:
        parts[-1] = DiffPart(kind=kind, text=parts[-1].text + text)
    else:
        parts.append(DiffPart(kind=kind, text=text))
