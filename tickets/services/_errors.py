"""The base of every error raised by tickets services."""


class TicketsError(Exception):
    """Base of the errors raised by tickets services."""
