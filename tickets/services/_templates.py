"""Reply templates (the seed 002 practice): written from skilled agents' cases,
used in replies, refined from practice. Every change of a template's text is a
new version; any agent may suggest an edit from a real case, and the lead of the
template's pod (an admin for a global template) accepts or rejects it."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.utils.translation import gettext as _

import pods.selectors
import pods.services
from tickets import rules, selectors
from tickets.models import (
    Message,
    ReplyTemplate,
    ReplyTemplateVersion,
    TemplateSuggestion,
    TemplateUse,
    Ticket,
)
from tickets.services._conversation import message_reply
from tickets.services._errors import TicketsError


class TemplatesError(TicketsError):
    """Base of the errors raised by the reply template services."""


class TemplateInvalid(TemplatesError):
    """The title, body or language cannot be saved; the message says why."""


class TemplateEditRefused(TemplatesError):
    """The user may not create or change this template."""


class TemplateEditConflict(TemplatesError):
    """The template changed since the editor opened it."""


class TemplateUnavailable(TemplatesError):
    """The template cannot be used on this ticket (inactive, another pod's)."""


class TemplateReplyIncomplete(TemplatesError):
    """The reply is empty, or still shows variables nobody filled in (`missing`
    names them)."""

    def __init__(self, missing: tuple[str, ...] = ()) -> None:
        markers = ", ".join(rules.template_marker(name) for name in missing)
        super().__init__(
            _("Fill in %(markers)s before sending.") % {"markers": markers}
            if missing
            else _("Write the reply before sending it.")
        )
        self.missing = missing


class SuggestionRefused(TemplatesError):
    """The suggested edit cannot be made (changes nothing, template not the
    agent's to use)."""


class SuggestionDecisionRefused(TemplatesError):
    """The user may not decide on this suggestion, or it was decided already."""


def _languages() -> set[str]:
    return {code for code, _ in settings.LANGUAGES}


def _text_check(*, title: str, body: str) -> None:
    if not title.strip():
        raise TemplateInvalid(_("Give the template a title."))
    if len(title) > rules.MAX_TEMPLATE_TITLE:
        raise TemplateInvalid(
            _("Keep the title under %(count)d characters.")
            % {"count": rules.MAX_TEMPLATE_TITLE}
        )
    if not body.strip():
        raise TemplateInvalid(_("Write the text of the reply."))
    if len(body) > rules.MAX_TEMPLATE_BODY:
        raise TemplateInvalid(
            _("Keep the text under %(count)d characters.")
            % {"count": rules.MAX_TEMPLATE_BODY}
        )
    if malformed := rules.template_placeholders_malformed(body):
        raise TemplateInvalid(
            _(
                "Only plain variables such as {{ customer.first_name }} are "
                "filled in. Fix or remove: %(malformed)s"
            )
            % {"malformed": ", ".join(malformed)}
        )


def reply_template_check(*, title: str, body: str, language: str) -> None:
    """Check a template's text and language as create and update will (for
    forms that show errors before saving). Raises TemplateInvalid."""
    _text_check(title=title, body=body)
    _language_check(language)


def _language_check(language: str) -> None:
    if language not in _languages():
        choices = ", ".join(sorted(_languages()))
        raise TemplateInvalid(
            _("Choose one of the languages: %(choices)s.") % {"choices": choices}
        )


# --- Templates and their versions ---------------------------------------------------


def reply_template_create(
    *,
    title: str,
    body: str,
    pod_id: int | None,
    language: str,
    user,
    now: datetime,
    active: bool = True,
) -> ReplyTemplate:
    """Create a template at version 1, for one pod or (pod_id None) for every
    pod. Raises TemplateInvalid and TemplateEditRefused (leads create for their
    pod, admins anywhere)."""
    if not user.has_perm("tickets.add_replytemplate", ReplyTemplate(pod_id=pod_id)):
        raise TemplateEditRefused(
            _("Only the pod's lead or an admin adds its templates.")
        )
    _text_check(title=title, body=body)
    _language_check(language)
    with transaction.atomic():
        return _template_create(
            title=title,
            body=body,
            pod_id=pod_id,
            language=language,
            active=active,
            author_id=user.pk,
            now=now,
        )


def _template_create(
    *,
    title: str,
    body: str,
    pod_id: int | None,
    language: str,
    active: bool,
    author_id: int | None,
    now: datetime,
) -> ReplyTemplate:
    template = ReplyTemplate.objects.create(
        title=title.strip(),
        body=body,
        pod_id=pod_id,
        language=language,
        active=active,
        version=1,
        created_at=now,
        updated_at=now,
    )
    ReplyTemplateVersion.objects.create(
        template=template,
        version=1,
        title=template.title,
        body=body,
        created_by_id=author_id,
        created_at=now,
    )
    return template


def reply_template_update(
    *,
    template: ReplyTemplate,
    title: str,
    body: str,
    language: str,
    active: bool,
    user,
    now: datetime,
    based_on_version: int | None = None,
) -> ReplyTemplate:
    """Change the template; a new title or text is a new version, written by
    `user`. With based_on_version (the version the editor showed), refuse to
    overwrite a version saved meanwhile. Raises TemplateInvalid,
    TemplateEditRefused and TemplateEditConflict."""
    if not user.has_perm("tickets.change_replytemplate", template):
        raise TemplateEditRefused(
            _("Only the pod's lead or an admin edits its templates.")
        )
    _text_check(title=title, body=body)
    _language_check(language)
    with transaction.atomic():
        # Locked so that two saves cannot both become the next version.
        template = ReplyTemplate.objects.select_for_update().get(id=template.id)
        if based_on_version is not None and based_on_version != template.version:
            raise TemplateEditConflict(
                _("version %(saved)d was saved while you edited version %(yours)d")
                % {"saved": template.version, "yours": based_on_version}
            )
        fields = _settings_apply(template=template, language=language, active=active)
        if (title.strip(), body) != (template.title, template.body):
            fields += _version_add(
                template=template, title=title, body=body, author_id=user.pk, now=now
            )
        if fields:
            template.updated_at = now
            template.save(update_fields=[*fields, "updated_at"])
    return template


def _settings_apply(*, template: ReplyTemplate, language: str, active: bool) -> list:
    fields = []
    if template.language != language:
        template.language = language
        fields.append("language")
    if template.active != active:
        template.active = active
        fields.append("active")
    return fields


def _version_add(
    *,
    template: ReplyTemplate,
    title: str,
    body: str,
    author_id: int | None,
    now: datetime,
) -> list[str]:
    """Make the text the template's next version; call holding the template's
    row lock. Return the fields to save."""
    template.version += 1
    template.title = title.strip()
    template.body = body
    ReplyTemplateVersion.objects.create(
        template=template,
        version=template.version,
        title=template.title,
        body=body,
        created_by_id=author_id,
        created_at=now,
    )
    return ["version", "title", "body"]


# --- Replying with a template -----------------------------------------------------


def reply_from_template_send(
    *, ticket: Ticket, agent_id: int, template_id: int, text: str, now: datetime
) -> Message:
    """Reply to the customer with `text`, the template as rendered for the ticket
    and perhaps edited by the agent (what is sent is what is kept), and count the
    use: the reply, its TemplateUse and the template's use count commit together.
    Raises TemplateUnavailable, TemplateReplyIncomplete and ReplyRefused."""
    if not text.strip():
        raise TemplateReplyIncomplete()
    with transaction.atomic():
        template = selectors.template_for_pod(
            template_id=template_id, pod_id=ticket.pod_id
        )
        if template is None:
            raise TemplateUnavailable(_("This template cannot be used on this ticket."))
        unfilled = tuple(
            name
            for name in rules.template_variables(template.body)
            if rules.template_marker(name) in text
        )
        if unfilled:
            raise TemplateReplyIncomplete(missing=unfilled)
        message = message_reply(ticket=ticket, agent_id=agent_id, text=text, now=now)
        TemplateUse.objects.create(
            template_id=template.id,
            version=template.version,
            ticket_id=ticket.id,
            message=message,
            agent_id=agent_id,
            used_at=now,
        )
        # An UPDATE by expression: two agents sending at once both count.
        ReplyTemplate.objects.filter(id=template.id).update(
            use_count=F("use_count") + 1,
            last_used_at=Case(
                When(last_used_at__gt=now, then=F("last_used_at")),
                default=Value(now),
                output_field=DateTimeField(),
            ),
        )
    return message


def template_ratings_count(
    *, ticket_id: int, solved_at: datetime, rated: int, rating_change: int
) -> None:
    """Count a survey's answer for every template used on its ticket before the
    solve it rates: `rated` more answers (1 for a first answer, 0 for a changed
    one) whose ratings' sum moves by `rating_change`. Call inside the answer's
    transaction, holding the survey's row."""
    used = TemplateUse.objects.filter(
        ticket_id=ticket_id, used_at__lte=solved_at
    ).values("template_id")
    # Locked in id order: two answers on tickets that share templates take
    # their rows in the same order, so they queue instead of deadlocking.
    template_ids = list(
        ReplyTemplate.objects.select_for_update()
        .filter(id__in=used)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if template_ids:
        ReplyTemplate.objects.filter(id__in=template_ids).update(
            rated_count=F("rated_count") + rated,
            rating_sum=F("rating_sum") + rating_change,
        )


# --- Suggested edits ----------------------------------------------------------------


def template_suggestion_create(
    *,
    template: ReplyTemplate,
    agent,
    ticket: Ticket | None,
    title: str,
    body: str,
    reason: str,
    now: datetime,
) -> TemplateSuggestion:
    """Suggest an edit of the template from a real case (the ticket, when
    given), for the lead of its pod to decide; the lead is told live. Raises
    SuggestionRefused and TemplateInvalid."""
    _text_check(title=title, body=body)
    usable_in = ticket.pod_id if ticket is not None else agent.pod_id
    current = selectors.template_for_pod(template_id=template.id, pod_id=usable_in)
    if current is None:
        raise SuggestionRefused(_("This template is not one this case can use."))
    if (title.strip(), body) == (current.title, current.body):
        raise SuggestionRefused(
            _("Your version is the same as the current one: change something first.")
        )
    suggestion = TemplateSuggestion.objects.create(
        template=current,
        based_on_version=current.version,
        title=title.strip(),
        body=body,
        reason=reason.strip(),
        ticket=ticket,
        suggested_by=agent,
        created_at=now,
    )
    if current.pod_id is not None:
        _lead_tell(suggestion=suggestion, pod_id=current.pod_id)
    return suggestion


def _lead_tell(*, suggestion: TemplateSuggestion, pod_id: int) -> None:
    lead_user_id = pods.selectors.pod_lead_user_id(pod_id=pod_id)
    if lead_user_id is None:
        return
    pods.services.user_event_publish(
        user_id=lead_user_id,
        event={
            "type": "notify",
            "kind": "template.suggested",
            "suggestion_id": suggestion.id,
            "text": _("An edit of “%(title)s” was suggested")
            % {"title": suggestion.template.title[:80]},
        },
    )


@dataclass(frozen=True)
class SuggestionDecision:
    suggestion: TemplateSuggestion
    # The version the accepted suggestion became; None when rejected.
    version: int | None
    # The suggestion was written against an older text than the one it replaced.
    was_outdated: bool


def template_suggestion_decide(
    *,
    suggestion: TemplateSuggestion,
    user,
    accept: bool,
    note: str,
    now: datetime,
) -> SuggestionDecision:
    """Accept the suggestion (its text becomes the template's next version,
    credited to the agent who wrote it) or reject it, with a note for them.
    Only the lead of the template's pod, or an admin, decides; a suggestion
    written against an older version may still be accepted. Raises
    SuggestionDecisionRefused."""
    with transaction.atomic():
        # The template first, then the suggestion: the order every writer of
        # a template takes, so two decisions on one template queue up.
        template = ReplyTemplate.objects.select_for_update().get(
            id=suggestion.template_id
        )
        suggestion = TemplateSuggestion.objects.select_for_update().get(
            id=suggestion.id
        )
        if not user.has_perm("tickets.change_templatesuggestion", template):
            raise SuggestionDecisionRefused(
                _(
                    "Only the lead of the template's pod (an admin for a global "
                    "template) decides on its suggested edits."
                )
            )
        if suggestion.state != TemplateSuggestion.State.PROPOSED:
            raise SuggestionDecisionRefused(_("This suggestion was decided already."))
        decider = pods.selectors.agent_for_user(user_id=user.pk)
        was_outdated = suggestion.based_on_version != template.version
        version = None
        if accept:
            fields = _version_add(
                template=template,
                title=suggestion.title,
                body=suggestion.body,
                author_id=suggestion.suggested_by.user_id,
                now=now,
            )
            template.updated_at = now
            template.save(update_fields=[*fields, "updated_at"])
            version = template.version
        suggestion.state = (
            TemplateSuggestion.State.ACCEPTED
            if accept
            else TemplateSuggestion.State.REJECTED
        )
        suggestion.decided_by = decider
        suggestion.decided_at = now
        suggestion.decision_note = note.strip()
        suggestion.save(
            update_fields=["state", "decided_by", "decided_at", "decision_note"]
        )
        _author_tell(suggestion=suggestion, template=template)
    return SuggestionDecision(
        suggestion=suggestion, version=version, was_outdated=was_outdated
    )


def _author_tell(*, suggestion: TemplateSuggestion, template: ReplyTemplate) -> None:
    accepted = suggestion.state == TemplateSuggestion.State.ACCEPTED
    verdict = (
        _("Your edit of “%(title)s” was accepted")
        if accepted
        else _("Your edit of “%(title)s” was not taken")
    )
    pods.services.user_event_publish(
        user_id=suggestion.suggested_by.user_id,
        event={
            "type": "notify",
            "kind": "template.decided",
            "suggestion_id": suggestion.id,
            "text": verdict % {"title": template.title[:80]},
        },
    )


# --- Demo -------------------------------------------------------------------------

DEMO_TEMPLATES = [
    # (language, title, body): global templates in the friendly voice of seed
    # 000, "write to customers as to a friend".
    (
        "en",
        "Moving home",
        "Hi {{ customer.first_name }},\n\n"
        "Congratulations on the move, exciting times! I've put a note on your "
        "account so nothing gets lost on the way.\n\n"
        "When you have a minute, could you send me your moving-out date and a "
        "meter reading from the day? A photo of the meter is perfect. I'll close "
        "things off at the old place and make sure your final bill is spot on.\n\n"
        "If anything comes up between the boxes, just reply here: it comes "
        "straight back to me and the rest of {{ pod.name }}.\n\n"
        "Speak soon,\n{{ agent.first_name }}",
    ),
    (
        "en",
        "Bill higher than expected",
        "Hi {{ customer.first_name }},\n\n"
        "Thanks for telling me. A bill that jumps like that would worry me too, "
        "so I've gone through your account properly.\n\n"
        "Here's what I found:\n\n\n\n"
        "If it still doesn't look right to you, reply with a meter reading and "
        "I'll redo the bill from it myself. No need to call or start over, this "
        "conversation (#{{ ticket.number }}) stays with me.\n\n"
        "{{ agent.first_name }}",
    ),
    (
        "en",
        "Refund on its way",
        "Hi {{ customer.first_name }},\n\n"
        "Good news: I've sent your refund today. Banks usually take three to five "
        "working days to show it, so keep an eye out early next week.\n\n"
        "Sorry you had to chase this. If it hasn't arrived by then, reply here "
        "and I'll look into it straight away.\n\n"
        "All the best,\n{{ agent.first_name }}",
    ),
    (
        "en",
        "Meter reading received",
        "Hi {{ customer.first_name }},\n\n"
        "Got it, thank you! Your reading is on your account and your next bill "
        "will use it instead of an estimate.\n\n"
        "Have a lovely rest of your day,\n{{ agent.first_name }}",
    ),
    (
        "en",
        "Sorry for the wait",
        "Hi {{ customer.first_name }},\n\n"
        "I'm really sorry it took us this long to get back to you; that's not "
        "the service we want you to have. I'm {{ agent.first_name }}, and I'll "
        "look after this until it's sorted.\n\n\n\n"
        "Thanks for bearing with us,\n{{ agent.first_name }}",
    ),
    (
        "ko",
        "이사 안내",
        "{{ customer.name }}님, 안녕하세요! {{ pod.name }} 팀 "
        "{{ agent.first_name }}입니다.\n\n"
        "이사 준비로 바쁘시죠? 새 집에서도 편하게 지내실 수 있도록 끝까지 "
        "챙겨 드릴게요.\n\n"
        "이사 날짜와 이사 당일 계량기 숫자(사진도 좋아요)만 보내 주시면 지금 "
        "주소의 요금을 깔끔하게 정산해 드릴게요.\n\n"
        "궁금한 점이 생기면 언제든 이 메일에 답장만 주세요. 제게 바로 와요.\n"
        "{{ agent.first_name }} 드림",
    ),
    (
        "ko",
        "중복 결제 환불",
        "{{ customer.name }}님, 안녕하세요. {{ agent.first_name }}입니다.\n\n"
        "두 번 결제된 것을 확인했어요. 번거롭게 해 드려서 정말 죄송해요. "
        "중복으로 결제된 금액은 오늘 환불 처리했고, 카드사에 따라 3~5 영업일 "
        "안에 들어올 거예요.\n\n"
        "그 뒤에도 보이지 않으면 이 메일에 답장만 주세요. 바로 다시 확인할게요.\n"
        "{{ agent.first_name }} 드림",
    ),
    (
        "ko",
        "기다리게 해서 죄송해요",
        "{{ customer.name }}님, 안녕하세요.\n\n"
        "답변이 늦어져서 정말 죄송해요. 이 문의(#{{ ticket.number }})는 "
        "제가 끝까지 맡아서 해결해 드릴게요.\n\n\n\n"
        "기다려 주셔서 고마워요.\n{{ agent.first_name }} 드림",
    ),
]


def demo_templates_seed(*, now: datetime) -> int:
    """Create the demo's global reply templates, English and Korean, once;
    return how many were created (a second run creates none)."""
    created = 0
    with transaction.atomic():
        existing = set(
            ReplyTemplate.objects.filter(pod__isnull=True).values_list(
                "language", "title"
            )
        )
        for language, title, body in DEMO_TEMPLATES:
            if (language, title) in existing:
                continue
            _template_create(
                title=title,
                body=body,
                pod_id=None,
                language=language,
                active=True,
                author_id=None,
                now=now,
            )
            created += 1
    return created
