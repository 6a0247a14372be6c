"""ASGI entry point: HTTP through Django, websockets through Channels.

Staff websockets are authenticated from the session cookie and refused before accept
when their Origin is not one of ALLOWED_HOSTS (cross-site websocket hijacking). The
chat visitor's socket is opened from customers' sites: it skips both and checks its
own signed token and HELPDESK_CHAT_ALLOWED_ORIGINS (tickets.consumers)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: routing modules import consumers and models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from pods.routing import websocket_urlpatterns as pod_routes  # noqa: E402
from tickets import routing as tickets_routing  # noqa: E402

# Staff sockets: signed in, from the helpdesk's own hosts.
websocket_urlpatterns = [*pod_routes, *tickets_routing.websocket_urlpatterns]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                *tickets_routing.visitor_websocket_urlpatterns,
                # Any other path: the staff stack.
                re_path(
                    r"",
                    AllowedHostsOriginValidator(
                        AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
                    ),
                ),
            ]
        ),
    }
)
