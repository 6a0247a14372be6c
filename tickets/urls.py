from django.urls import path

from tickets.views import chat, contact, inbound

urlpatterns = [
    path("inbound/email/", inbound.inbound_email, name="inbound-email"),
    path("inbound/phone/", inbound.inbound_phone, name="inbound-phone"),
    path("inbound/sms/", inbound.inbound_sms, name="inbound-sms"),
    path(
        "inbound/social/<slug:provider>/",
        inbound.inbound_social,
        name="inbound-social",
    ),
    path("contact/", contact.contact_form, name="contact"),
    path(
        "contact/thanks/<str:receipt>/",
        contact.contact_thanks,
        name="contact-thanks",
    ),
    path("chat/session/", chat.chat_session_start, name="chat-session"),
    path("chat/demo/", chat.chat_demo, name="chat-demo"),
]
