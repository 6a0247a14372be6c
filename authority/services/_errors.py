class AuthorityError(Exception):
    """Base of the errors raised by authority services."""


class AuthorityRefused(AuthorityError):
    """The ask cannot even be considered (unknown action, customer or ticket;
    a ticket of another customer)."""


class IdempotencyConflict(AuthorityError):
    """The idempotency key was used by this actor for a different request."""


class ApprovalRefused(AuthorityError):
    """The approval or denial cannot be recorded (not pending, changed since it
    was read, own request, not an approver of this request)."""


class ApprovalCannotExecute(AuthorityError):
    """Approved, but the rule no longer allows it (the pod's budget was spent
    meanwhile): nothing changed; deny it or wait for the next period."""

    def __init__(self, message: str, reasons: list[dict]):
        super().__init__(message)
        self.reasons = reasons


class ReversalRefused(AuthorityError):
    """The grant cannot be reversed (already reversed, or a reversal)."""


class RuleInvalid(AuthorityError):
    """A rule's terms are inconsistent or overlap another rule's scope."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems
