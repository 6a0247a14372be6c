"""The satisfaction survey: asked in the customer's channel when a ticket is
solved, answered with one click from the links it carries.

A survey is one row per solve (a unique constraint on ticket and solve time), so
a solve retried or told twice asks once. Its link is a random token, never
derived from ids: knowing one ticket's link says nothing about another's."""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from tickets import outbound, selectors
from tickets.models import Message, SatisfactionSurvey, Ticket
from tickets.services._conversation import outbound_message_send
from tickets.services._errors import TicketsError
from tickets.services._templates import template_ratings_count

SURVEY_RATINGS = range(1, 6)
MAX_SURVEY_COMMENT_LENGTH = 5_000
DEFAULT_SURVEY_DAYS = 14
TOKEN_BYTES = 32  # 43 URL-safe characters: unguessable, and fits the column


class SurveyRefused(TicketsError):
    """The answer cannot be recorded."""


class SurveyUnknown(SurveyRefused):
    """No survey has this token."""


class SurveyExpired(SurveyRefused):
    """The survey's link has expired; its answer is locked."""


class RatingInvalid(SurveyRefused):
    """A rating is a whole number from 1 to 5."""


def satisfaction_survey_send(
    *, ticket: Ticket, now: datetime
) -> SatisfactionSurvey | None:
    """Ask the customer of a just-solved ticket to rate the help, in their
    channel: an automatic message on the ticket with one link per rating,
    delivered after commit. Return the survey, or None when none is asked: the
    ticket is no longer solved or was merged, the customer cannot be reached, or
    this solve was already asked (the unique constraint on ticket and solve)."""
    ticket = Ticket.objects.select_related("customer", "pod", "assignee__user").get(
        id=ticket.id
    )
    if ticket.status != Ticket.Status.SOLVED or ticket.merged_into_id is not None:
        return None
    channel = _survey_channel(ticket=ticket)
    if channel is None:
        return None
    with transaction.atomic():
        survey = _survey_create(ticket=ticket, channel=channel, now=now)
        if survey is None:
            return None
        message = Message.objects.create(
            ticket=ticket,
            direction=Message.Direction.OUTBOUND,
            channel=channel,
            author_agent=None,
            text=_survey_text(ticket=ticket, survey=survey),
            headers={"survey_id": survey.id},
            is_automatic=True,
            delivery=Message.Delivery.QUEUED,
            created_at=now,
        )
        outbound_message_send(ticket=ticket, message=message)
    return survey


def _survey_channel(*, ticket: Ticket) -> str | None:
    """Where the customer reads us: SMS and social in kind, a chat whose widget
    is still there in the chat, everything else by email when we have an
    address; None when there is nowhere to ask."""
    if ticket.channel in (Ticket.Channel.SMS, Ticket.Channel.SOCIAL):
        return ticket.channel
    if (
        ticket.channel == Ticket.Channel.CHAT
        and not selectors.chat_continues_by_email(ticket_id=ticket.id)
        and selectors.chat_session_ids_of_ticket(ticket_id=ticket.id)
    ):
        return ticket.channel
    if selectors.customer_reachable_by_email(customer_id=ticket.customer_id):
        return Ticket.Channel.EMAIL
    return None


def _survey_create(
    *, ticket: Ticket, channel: str, now: datetime
) -> SatisfactionSurvey | None:
    days = settings.HELPDESK.get("SURVEY_DAYS", DEFAULT_SURVEY_DAYS)
    try:
        # A savepoint: a second call for the same solve (a retried job, a
        # concurrent caller) loses on the unique constraint, and the caller's
        # transaction carries on.
        with transaction.atomic():
            return SatisfactionSurvey.objects.create(
                ticket=ticket,
                pod_id=ticket.pod_id,
                agent_id=ticket.assignee_id,
                solved_at=ticket.solved_at,
                token=secrets.token_urlsafe(TOKEN_BYTES),
                channel=channel,
                sent_at=now,
                expires_at=now + timedelta(days=days),
            )
    except IntegrityError:
        return None


def _survey_text(*, ticket: Ticket, survey: SatisfactionSurvey) -> str:
    # In the site's language, not the language of whoever solved the ticket:
    # the customer reads it, and a nightly auto-solve has no language at all.
    with translation.override(settings.LANGUAGE_CODE):
        labels = rating_labels()
        first_name = next(iter(ticket.customer.display_name.split()), "")
        agent = ticket.assignee.user.first_name if ticket.assignee else ""
        until = formats.date_format(
            timezone.localtime(survey.expires_at, timezone.get_default_timezone()),
            "DATE_FORMAT",
        )
        lines = [
            _("Hi %(name)s,") % {"name": first_name} if first_name else _("Hi,"),
            "",
            (
                _("We have marked your request as solved. How did %(agent)s do?")
                % {"agent": agent}
                if agent
                else _("We have marked your request as solved. How did we do?")
            ),
            _("One click on a link below is all it takes:"),
            "",
            *(
                f"{rating} - {labels[rating]}: "
                + outbound.SURVEY_LINK_MARK.format(rating=rating)
                for rating in reversed(SURVEY_RATINGS)
            ),
            "",
            _(
                "You can add a comment on the page, and change your answer "
                "until %(date)s."
            )
            % {"date": until},
            _(
                "If something is still not right, just reply to this message "
                "and we will pick it up again."
            ),
            "",
            _("Thank you, the %(pod)s team") % {"pod": ticket.pod.name},
        ]
    return "\n".join(lines)


def rating_labels() -> dict[int, str]:
    """What each rating means, in words (the survey page shows the same)."""
    return {
        5: _("Excellent"),
        4: _("Good"),
        3: _("Okay"),
        2: _("Poor"),
        1: _("Very poor"),
    }


def satisfaction_survey_answer(
    *, token: str, rating: int, comment: str, now: datetime
) -> SatisfactionSurvey:
    """Record the customer's rating (1 to 5) and comment for the survey the
    token opens. Until the link expires a new answer replaces the earlier one;
    after that the answer is locked. The same answer again changes nothing.
    Raises RatingInvalid, SurveyUnknown and SurveyExpired."""
    if type(rating) is not int or rating not in SURVEY_RATINGS:  # True is no rating
        raise RatingInvalid("a rating is a whole number from 1 to 5")
    comment = comment.strip()[:MAX_SURVEY_COMMENT_LENGTH]
    with transaction.atomic():
        # Locked: two answers racing from one customer (a double click) apply
        # one after the other, the last one wins.
        survey = (
            SatisfactionSurvey.objects.select_for_update().filter(token=token).first()
        )
        if survey is None:
            raise SurveyUnknown("no survey has this link")
        if now >= survey.expires_at:
            raise SurveyExpired("the survey's link has expired")
        if (survey.rating, survey.comment) == (rating, comment):
            return survey
        previous = survey.rating
        survey.rating = rating
        survey.comment = comment
        # The latest answer's time: the answer counts in the period it was last
        # given, like the figures read from it.
        survey.answered_at = now
        survey.save(update_fields=["rating", "comment", "answered_at"])
        if rating != previous:
            template_ratings_count(
                ticket_id=survey.ticket_id,
                solved_at=survey.solved_at,
                rated=1 if previous is None else 0,
                rating_change=rating - (previous or 0),
            )
    return survey
