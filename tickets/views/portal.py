"""The customer portal's tickets: a signed-in customer's requests, each with its
conversation, files and reply form, and a new request.

The customer is request.portal_customer (pods.middleware), never a Django
user and never an id the browser sent. Pages of an anonymous visitor go to the
portal's sign-in; panels and downloads answer 404. Every read is scoped to the
customer's family of ids, so another customer's ticket or file answers 404
exactly like a missing one, and a reply to it stores nothing.

What the customer sends goes through the durable intake like the public
contact form (tickets.services.portal_message_submit): stored first, then
threaded into the ticket. Each rendering of a form carries a fresh token, the
message's idempotency key, so a double submit is one message."""

import math
import secrets

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from tickets import selectors, services
from tickets.models import ContactReason, Ticket
from tickets.views._throttle import window_hit
from tickets.views.workspace import attachment_response

# Per client address: a customer writing back and forth, attaching a file or
# two, stays well within it; a script posting in a loop does not.
PORTAL_POSTS_PER_WINDOW = 30
PORTAL_WINDOW_SECONDS = 600
FORM_EXPIRED = _("This form has expired. Check your message and send it again.")
KEY_REUSED = _(
    "This form was already sent with other words. Check your message and send "
    "it again to write to us once more."
)
# A ticket's status in the customer's words: what it means for them.
STATUS_WORDS = {
    Ticket.Status.NEW: _("Received"),
    Ticket.Status.OPEN: _("In progress"),
    Ticket.Status.PENDING: _("Waiting for your reply"),
    Ticket.Status.SOLVED: _("Solved"),
    Ticket.Status.CLOSED: _("Closed"),
}


def form_token() -> str:
    return secrets.token_hex(16)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class FilesField(forms.FileField):
    """Up to MAX_PORTAL_FILES files, together no larger than an email's
    attachment may be."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list:
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        cleaned = [super(FilesField, self).clean(f, initial) for f in files]
        if len(cleaned) > services.MAX_PORTAL_FILES:
            raise forms.ValidationError(
                ngettext(
                    "Attach at most %(count)d file.",
                    "Attach at most %(count)d files.",
                    services.MAX_PORTAL_FILES,
                )
                % {"count": services.MAX_PORTAL_FILES}
            )
        if any(f.size == 0 for f in cleaned):
            raise forms.ValidationError(gettext("A file is empty."))
        limit = services.max_portal_file_bytes()
        if sum(f.size for f in cleaned) > limit:
            raise forms.ValidationError(
                gettext("Your files can add up to %(size)d MB at most.")
                % {"size": math.floor(limit / 2**20) or 1}
            )
        return cleaned


def _files_help() -> str:
    return gettext("Up to %(count)d files, %(size)d MB in all.") % {
        "count": services.MAX_PORTAL_FILES,
        "size": math.floor(services.max_portal_file_bytes() / 2**20) or 1,
    }


class _PortalForm(forms.Form):
    message = forms.CharField(
        label=_("Message"),
        max_length=services.MAX_PORTAL_TEXT,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    files = FilesField(label=_("Attach files (optional)"))
    token = forms.RegexField(
        regex=r"^[0-9a-f]{32}$",
        widget=forms.HiddenInput,
        error_messages={"required": FORM_EXPIRED, "invalid": FORM_EXPIRED},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = _files_help()

    def renewed(self) -> "_PortalForm":
        """The same words under a new token, to be sent as a new message (the
        browser never sends files back: they are chosen again)."""
        data = self.data.copy()
        data["token"] = form_token()
        renewed = type(self)(data=data)
        renewed.is_valid()
        renewed.errors.pop("files", None)
        return renewed


class ReplyForm(_PortalForm):
    message = forms.CharField(
        label=_("Your reply"),
        max_length=services.MAX_PORTAL_TEXT,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


class RequestForm(_PortalForm):
    reason = forms.ModelChoiceField(
        label=_("What is it about?"),
        queryset=ContactReason.objects.none(),
        required=False,
        empty_label=_("Choose one (optional)"),
    )
    subject = forms.CharField(label=_("Subject"), max_length=250)
    field_order = ["reason", "subject", "message", "files", "token"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].queryset = selectors.contact_reasons_active()


# --- Who is asking ----------------------------------------------------------------


def _customer(request: HttpRequest):
    """The signed-in customer (pods.selectors.CustomerFacts), or None."""
    return getattr(request, "portal_customer", None)


def _to_sign_in() -> HttpResponse:
    try:
        return redirect(reverse("portal-sign-in"))
    except NoReverseMatch:  # the portal's sign-in is not installed
        raise Http404 from None


def _url_or(name: str, fallback: str, **kwargs) -> str:
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return fallback


def _too_many_posts(request: HttpRequest, *, at: float) -> HttpResponse | None:
    retry_after = window_hit(
        scope="portal-posts",
        request=request,
        limit=PORTAL_POSTS_PER_WINDOW,
        seconds=PORTAL_WINDOW_SECONDS,
        at=at,
    )
    if not retry_after:
        return None
    response = render(
        request,
        "tickets/portal/limited.html",
        {"minutes": math.ceil(retry_after / 60)},
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


# --- The tickets panel ------------------------------------------------------------


@never_cache
@require_GET
def portal_tickets_panel(request: HttpRequest) -> HttpResponse:
    """GET /portal/tickets/panel/[?after=<cursor>]: the customer's tickets,
    newest activity first, as an htmx fragment; `after` gives the rows after a
    "more" button. 404 without a signed-in customer."""
    customer = _customer(request)
    if customer is None:
        raise Http404
    after = request.GET.get("after", "")
    cursor = selectors.PortalCursor.decode(after) if after else None
    if after and cursor is None:
        return HttpResponse(gettext("That list has moved on."), status=400)
    page = selectors.portal_tickets(customer_ids=customer.family_ids, after=cursor)
    return render(
        request,
        "tickets/portal/_tickets_rows.html"
        if cursor
        else "tickets/portal/_tickets_panel.html",
        {
            "rows": [(row, STATUS_WORDS[row.status]) for row in page.rows],
            "more": page.more,
        },
    )


# --- One ticket -------------------------------------------------------------------


@never_cache
@require_GET
def portal_ticket(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """GET /portal/tickets/<id>/: the customer's ticket with its whole
    conversation, files, reply form and waiting survey; a ticket merged into
    another of theirs redirects there. 404 for anyone else's."""
    customer = _customer(request)
    if customer is None:
        return _to_sign_in()
    ticket = selectors.portal_ticket(
        customer_ids=customer.family_ids, ticket_id=ticket_id
    )
    if ticket is None:
        raise Http404
    if ticket.id != ticket_id:
        return redirect("portal-ticket", ticket_id=ticket.id)
    return _ticket_page(request, ticket, ReplyForm(initial={"token": form_token()}))


@never_cache
@require_http_methods(["POST"])
def portal_ticket_reply(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /portal/tickets/<id>/reply/ message, files, token: the customer's
    reply, threaded into the ticket (a closed one gets a follow-up), then back
    to the ticket. 404 for anyone else's ticket, nothing stored."""
    customer = _customer(request)
    if customer is None:
        return _to_sign_in()
    ticket = selectors.portal_ticket(
        customer_ids=customer.family_ids, ticket_id=ticket_id
    )
    if ticket is None:
        raise Http404
    now = timezone.now()
    limited = _too_many_posts(request, at=now.timestamp())
    if limited:
        return limited
    form = ReplyForm(data=request.POST, files=request.FILES)
    if not form.is_valid():
        return _ticket_page(request, ticket, _expired_renewed(form), status=400)
    submitted, form = _submit(
        request,
        form,
        now=now,
        ticket_id=ticket.id,
    )
    if submitted is None:
        return _ticket_page(request, ticket, form, status=400)
    landed = submitted.ticket_id or ticket.id
    if landed != ticket.id:
        messages.success(
            request,
            gettext(
                "That request was closed, so your message started a new one, "
                "linked to it."
            ),
        )
    elif submitted.envelope.message_id is None:
        messages.success(
            request,
            gettext("We have your message. It will show here in a moment."),
        )
    else:
        messages.success(request, gettext("Your reply was sent."))
    return redirect("portal-ticket", ticket_id=landed)


def _ticket_page(
    request: HttpRequest, ticket: Ticket, form: ReplyForm, *, status: int = 200
) -> HttpResponse:
    now = timezone.now()
    return render(
        request,
        "tickets/portal/ticket.html",
        {
            "ticket": ticket,
            "status_word": STATUS_WORDS[ticket.status],
            "thread": selectors.portal_thread(ticket_id=ticket.id),
            "survey_token": selectors.portal_survey_waiting(
                ticket_id=ticket.id, now=now
            ),
            "form": form,
            "closed": ticket.status == Ticket.Status.CLOSED,
            "now": now,
        },
        status=status,
    )


# --- A new request ----------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def portal_contact(request: HttpRequest) -> HttpResponse:
    """GET/POST /portal/contact/: a new request from the signed-in customer (who
    they are is known: no name or email to give); POST goes on to the new
    ticket."""
    customer = _customer(request)
    if customer is None:
        return _to_sign_in()
    if request.method == "GET":
        return _contact_page(request, RequestForm(initial={"token": form_token()}))
    now = timezone.now()
    limited = _too_many_posts(request, at=now.timestamp())
    if limited:
        return limited
    form = RequestForm(data=request.POST, files=request.FILES)
    if not form.is_valid():
        return _contact_page(request, _expired_renewed(form), status=400)
    reason = form.cleaned_data["reason"]
    submitted, form = _submit(
        request,
        form,
        now=now,
        subject=form.cleaned_data["subject"],
        reason=reason.id if reason else None,
    )
    if submitted is None:
        return _contact_page(request, form, status=400)
    messages.success(request, gettext("Thank you: your request reached your team."))
    if submitted.ticket_id is None:
        return redirect(_url_or("portal-home", reverse("portal-contact")))
    return redirect("portal-ticket", ticket_id=submitted.ticket_id)


def _contact_page(
    request: HttpRequest, form: RequestForm, *, status: int = 200
) -> HttpResponse:
    return render(request, "tickets/portal/contact.html", {"form": form}, status=status)


def _expired_renewed(form: _PortalForm) -> _PortalForm:
    if "token" not in form.errors:
        return form
    renewed = form.renewed()
    renewed.add_error(None, FORM_EXPIRED)
    return renewed


def _submit(request: HttpRequest, form: _PortalForm, *, now, **fields) -> tuple:
    """Send the form's message for the signed-in customer: (what was
    submitted, None), or (None, the form with the reason it was not)."""
    answers = form.cleaned_data
    try:
        submitted = services.portal_message_submit(
            message=services.PortalMessage(
                customer_id=_customer(request).customer_id,
                text=answers["message"],
                idempotency_key=answers["token"],
                files=[
                    services.PortalFile(
                        name=upload.name or "",
                        content_type=upload.content_type or "",
                        data=upload.read(),
                    )
                    for upload in answers["files"]
                ],
                **fields,
            ),
            now=now,
            meta={"request_id": getattr(request, "request_id", "")},
        )
    except services.IdempotencyKeyReused:
        form = form.renewed()
        form.add_error(None, KEY_REUSED)
        return None, form
    except services.PortalMessageInvalid as exc:
        form.add_error(
            exc.field if exc.field in form.fields else None,
            gettext("This message cannot be sent as it is: %(reason)s.")
            % {"reason": exc},
        )
        return None, form
    return submitted, form


# --- Files ------------------------------------------------------------------------


@never_cache
@require_GET
def portal_attachment(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """GET /portal/attachments/<id>/: a file of the customer's conversation,
    always as a download with the staff downloads' safe headers. 404 for
    anyone else, and without a signed-in customer."""
    customer = _customer(request)
    if customer is None:
        raise Http404
    attachment = selectors.portal_attachment(
        customer_ids=customer.family_ids, attachment_id=attachment_id
    )
    if attachment is None:
        raise Http404
    return attachment_response(attachment)
