"""The public contact form: anyone may write to us, and what they send becomes a
ticket through the same durable pipeline as every other channel.

Each rendering of the form carries a fresh token, the contact's idempotency
key, so a double submit is one ticket. Once the contact is stored the customer
is thanked, even if it could not become a ticket yet: the envelope waits for
the sweep or for admin, and the message is never lost."""

import math
import secrets

from django import forms
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from tickets import services
from tickets.models import ContactReason, Ticket
from tickets.views._throttle import window_hit

# Per client address: enough for a person who got a field wrong a few times,
# too few for a script.
CONTACT_POSTS_PER_WINDOW = 10
CONTACT_WINDOW_SECONDS = 600
RECEIPT_SALT = "tickets.contact.receipt"
RECEIPT_MAX_AGE = 7 * 24 * 3600  # seconds
MAX_MESSAGE_LENGTH = 20_000
HONEYPOT = "website"
FORM_EXPIRED = _("This form has expired. Check your message and send it again.")


def form_token() -> str:
    return secrets.token_hex(16)


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        help_text=_("We reply to this address."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    reason = forms.ModelChoiceField(
        label=_("What is it about?"),
        queryset=ContactReason.objects.none(),
        required=False,
        empty_label=_("Choose one (optional)"),
    )
    subject = forms.CharField(label=_("Subject"), max_length=250)
    message = forms.CharField(
        label=_("Message"),
        max_length=MAX_MESSAGE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    # Hidden from people (CSS and aria-hidden), filled in by form-filling bots.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    token = forms.RegexField(
        regex=r"^[0-9a-f]{32}$",
        widget=forms.HiddenInput,
        error_messages={"required": FORM_EXPIRED, "invalid": FORM_EXPIRED},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].queryset = ContactReason.objects.filter(active=True)
        self.fields["name"].widget.attrs["autocomplete"] = "name"

    def renewed(self) -> "ContactForm":
        """The same answers under a new token, to be sent as a new contact."""
        data = self.data.copy()
        data["token"] = form_token()
        renewed = ContactForm(data=data)
        renewed.is_valid()
        return renewed


@never_cache
@require_http_methods(["GET", "POST"])
def contact_form(request: HttpRequest) -> HttpResponse:
    """GET/POST /contact/: write to us; POST redirects to a receipt."""
    if request.method == "GET":
        return _form_page(request, ContactForm(initial={"token": form_token()}))
    now = timezone.now()
    retry_after = window_hit(
        scope="contact-posts",
        request=request,
        limit=CONTACT_POSTS_PER_WINDOW,
        seconds=CONTACT_WINDOW_SECONDS,
        at=now.timestamp(),
    )
    if retry_after:
        response = render(
            request,
            "tickets/contact_limited.html",
            {"minutes": math.ceil(retry_after / 60)},
            status=429,
        )
        response["Retry-After"] = str(retry_after)
        return response
    if request.POST.get(HONEYPOT):
        return render(request, "tickets/contact_refused.html", status=400)
    form = ContactForm(data=request.POST)
    if not form.is_valid():
        if "token" in form.errors:
            form = form.renewed()
            form.add_error(None, FORM_EXPIRED)
        return _form_page(request, form)
    answers = form.cleaned_data
    try:
        submitted = services.contact_submit(
            channel=Ticket.Channel.WEB,
            contact=services.Contact(
                name=answers["name"],
                email=answers["email"],
                subject=answers["subject"],
                text=answers["message"],
                reason=answers["reason"].id if answers["reason"] else None,
                idempotency_key=answers["token"],
            ),
            now=now,
            meta={"request_id": getattr(request, "request_id", "")},
        )
    except services.ContactInvalid:
        form.add_error("email", _("Enter an email address we can reply to."))
        return _form_page(request, form)
    except services.IdempotencyKeyReused:
        form = form.renewed()
        form.add_error(
            None,
            _(
                "This form was already sent with other words. Check your message "
                "and send it again to write to us once more."
            ),
        )
        return _form_page(request, form)
    receipt = signing.dumps({"ticket": submitted.ticket_id}, salt=RECEIPT_SALT)
    return redirect("contact-thanks", receipt=receipt)


@never_cache
@require_GET
def contact_thanks(request: HttpRequest, receipt: str) -> HttpResponse:
    """GET /contact/thanks/<receipt>/: the reference of the ticket, if it has one
    yet. The receipt is signed, so it shows only what the form gave."""
    try:
        given = signing.loads(receipt, salt=RECEIPT_SALT, max_age=RECEIPT_MAX_AGE)
    except signing.BadSignature:
        raise Http404 from None
    return render(
        request, "tickets/contact_thanks.html", {"ticket_id": given.get("ticket")}
    )


def _form_page(request: HttpRequest, form: ContactForm) -> HttpResponse:
    return render(request, "tickets/contact.html", {"form": form})
