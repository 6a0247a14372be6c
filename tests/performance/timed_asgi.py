"""The project's ASGI application, timed: every HTTP answer carries
`Server-Timing: app;dur=<ms>`, the milliseconds from the request reaching the
application to its answer starting (Django's middleware, the view, the
database, the template; not uvicorn's parsing nor the network).

Only the workspace benchmark serves this (`uvicorn
tests.performance.timed_asgi:application`), so the server time it reports is
measured per request in the server, not guessed from the client's side."""

import time

from helpdesk.asgi import application as project_application

SERVER_TIMING = b"server-timing"


def timed(app):
    async def application(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        started = time.perf_counter()

        async def send_timed(message):
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                headers = [
                    *message.get("headers", ()),
                    (SERVER_TIMING, f"app;dur={took:.3f}".encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        return await app(scope, receive, send_timed)

    return application


application = timed(project_application)
