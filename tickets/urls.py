from django.urls import path

from tickets.views import inbound

urlpatterns = [
    path("inbound/email/", inbound.inbound_email, name="inbound-email"),
]
