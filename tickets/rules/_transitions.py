"""Status transitions of a ticket."""

OPEN_STATUSES = frozenset({"NEW", "OPEN", "PENDING"})
TRANSITIONS = {
    "NEW": {"OPEN", "PENDING", "SOLVED"},
    "OPEN": {"PENDING", "SOLVED"},
    "PENDING": {"OPEN", "SOLVED"},
    "SOLVED": {"OPEN", "CLOSED"},
    "CLOSED": set(),
}


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, set())


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES
