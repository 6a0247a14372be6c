"""The chat widget on the customer portal starts chats as the signed-in
customer: the portal layout's widget tag carries a short-lived signed identity
token (tickets.views.chat.portal_chat_token), renewed on every page render.

    {% load portal_chat %}
    <script src="..." {% portal_chat_attributes %} async></script>

Attributes, never an inline script: the portal's CSP allows none."""

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext

from tickets.views.chat import portal_chat_owner, portal_chat_token

register = template.Library()


@register.simple_tag(takes_context=True)
def portal_chat_attributes(context) -> str:
    """data-identity, data-owner and data-intro for the widget's script tag on
    a signed-in customer's page; nothing for anyone else."""
    request = context.get("request")
    customer = getattr(request, "portal_customer", None)
    identity_id = getattr(request, "portal_identity_id", None)
    if customer is None or identity_id is None:
        return ""
    return format_html(
        'data-identity="{}" data-owner="{}" data-intro="{}"',
        portal_chat_token(
            customer_id=customer.customer_id, identity_id=int(identity_id)
        ),
        portal_chat_owner(customer_id=customer.customer_id),
        gettext("Ask us anything: your pod knows who you are."),
    )
