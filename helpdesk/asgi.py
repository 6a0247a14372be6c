"""ASGI entry point: HTTP through Django, websockets through Channels.

Websockets are authenticated from the session cookie and refused before accept when
their Origin is not one of ALLOWED_HOSTS (cross-site websocket hijacking)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: routing modules import consumers and models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from pods.routing import websocket_urlpatterns as pod_routes  # noqa: E402

websocket_urlpatterns = [*pod_routes]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
