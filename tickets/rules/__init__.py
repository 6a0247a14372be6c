"""Pure rules of tickets: status transitions, email parsing, threading, SLA maths.

No Django, no ORM, no clock: every function takes what it needs and returns a value,
so each is unit-tested without a database.
"""

from tickets.rules._transitions import (
    OPEN_STATUSES,
    TRANSITIONS,
    can_transition,
    is_open,
)

__all__ = ["OPEN_STATUSES", "TRANSITIONS", "can_transition", "is_open"]
