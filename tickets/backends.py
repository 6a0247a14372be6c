"""Object permissions for colleagues invited onto a ticket (the seed 003
practice): alongside pods.backends.PodScopeBackend, which decides pod scope,
this backend lets an invited agent see and write on that one ticket, its
messages and attachments, whatever their pod, until they leave it."""

from django.contrib.auth.backends import BaseBackend, ModelBackend

from tickets import selectors

INVITED_MAY = frozenset({"tickets.view_ticket", "tickets.change_ticket"})


def ticket_scope_of(obj) -> int | None:
    """The ticket an object belongs to (a ticket is its own), or None."""
    label = obj._meta.label
    if label == "tickets.Ticket":
        return obj.pk
    if label == "tickets.Attachment":
        return obj.message.ticket_id
    return getattr(obj, "ticket_id", None)


class InvitedColleagueBackend(BaseBackend):
    def has_perm(self, user_obj, perm, obj=None) -> bool:
        if obj is None or perm not in INVITED_MAY or not user_obj.is_active:
            return False
        ticket_id = ticket_scope_of(obj)
        if ticket_id is None:
            return False
        # The role must allow the action at all; the invitation only widens
        # where.
        if not ModelBackend().has_perm(user_obj, perm):
            return False
        return ticket_id in self.invited_ticket_ids(user_obj)

    @staticmethod
    def invited_ticket_ids(user_obj) -> frozenset[int]:
        """Read once per user object (one request or one websocket)."""
        if not hasattr(user_obj, "_invited_ticket_ids"):
            user_obj._invited_ticket_ids = selectors.invited_ticket_ids(
                user_id=user_obj.pk
            )
        return user_obj._invited_ticket_ids
