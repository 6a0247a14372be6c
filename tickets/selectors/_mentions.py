"""Reads for @mentions: which active agents a note's names are, and the agents
the composer suggests while a name is typed."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

MENTION_SUGGESTIONS = 10


@dataclass(frozen=True)
class Mentionable:
    agent_id: int
    user_id: int
    pod_id: int | None
    username: str
    name: str
    pod_name: str


_FIELDS = (
    "agent__id",
    "id",
    "agent__pod_id",
    "username",
    "first_name",
    "last_name",
    "agent__pod__name",
)


def _active_agents() -> QuerySet:
    # Read from the user side, as colleagues_to_invite does: a mention names a
    # username.
    return get_user_model().objects.filter(
        is_active=True, agent__isnull=False, agent__left_on__isnull=True
    )


def _mentionable(row: tuple) -> Mentionable:
    agent_id, user_id, pod_id, username, first, last, pod_name = row
    return Mentionable(
        agent_id=agent_id,
        user_id=user_id,
        pod_id=pod_id,
        username=username,
        name=f"{first} {last}".strip() or username,
        pod_name=pod_name or "",
    )


def agents_mentioned(*, handles: Sequence[str]) -> list[Mentionable]:
    """The active agents the handles name, in the handles' order, in one query.
    A handle matches a username in any case; where two usernames differ only
    in case, the one written exactly wins, and a handle matching several
    otherwise names nobody."""
    if not handles:
        return []
    named = Q()
    for handle in handles:
        named |= Q(username__iexact=handle)
    by_name: dict[str, list[Mentionable]] = {}
    for row in _active_agents().filter(named).values_list(*_FIELDS):
        agent = _mentionable(row)
        by_name.setdefault(agent.username.lower(), []).append(agent)
    found = []
    for handle in handles:
        candidates = by_name.get(handle.lower(), [])
        exact = [agent for agent in candidates if agent.username == handle]
        if exact or len(candidates) == 1:
            found.append((exact or candidates)[0])
    return list({agent.agent_id: agent for agent in found}.values())


def agents_to_mention(
    *,
    prefix: str,
    pod_id: int,
    excluding_user_id: int,
    limit: int = MENTION_SUGGESTIONS,
) -> list[Mentionable]:
    """Active agents of any pod whose username, first or last name starts with
    the prefix (any agent for an empty one), the pod's own first, then by
    username: what the composer offers after an @. One query."""
    agents = _active_agents().exclude(id=excluding_user_id)
    prefix = prefix.strip()
    if prefix:
        agents = agents.filter(
            Q(username__istartswith=prefix)
            | Q(first_name__istartswith=prefix)
            | Q(last_name__istartswith=prefix)
        )
    outside = Case(
        When(agent__pod_id=pod_id, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    rows = agents.order_by(outside, "username", "id").values_list(*_FIELDS)[:limit]
    return [_mentionable(row) for row in rows]
