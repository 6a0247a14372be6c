"""Websocket routes of tickets.

`websocket_urlpatterns` go behind the staff stack (session sign-in, ALLOWED_HOSTS
origins); `visitor_websocket_urlpatterns` are reached from customers' sites and
check their own origin and token (see tickets.consumers)."""

from django.urls import path

from tickets.consumers import (
    ChatAgentConsumer,
    ChatVisitorConsumer,
    TicketPresenceConsumer,
)

websocket_urlpatterns = [
    path("ws/chat/agent/", ChatAgentConsumer.as_asgi()),
    path("ws/tickets/<int:ticket_id>/", TicketPresenceConsumer.as_asgi()),
]

visitor_websocket_urlpatterns = [
    path("ws/chat/", ChatVisitorConsumer.as_asgi()),
]
