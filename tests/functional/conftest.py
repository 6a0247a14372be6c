"""Fixtures for journeys through a real server and a real browser.

`asgi_server` serves the project's ASGI application (HTTP and websockets) with
uvicorn in a background thread; `browser` and `page` drive headless Chromium
through Playwright's sync API."""

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from tests.conftest import CHROMIUM, require_chromium

SERVER_START_TIMEOUT = 10  # seconds
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class AsgiServer:
    url: str
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Coroutine, *, timeout: float = 5):
        """Run a coroutine on the server's event loop (for example a channel layer
        group_send, whose in-memory queues belong to that loop) and return its
        result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[AsgiServer]:
    """The project's ASGI application served by uvicorn on 127.0.0.1.

    transactional_db, not db: the server thread has its own database connection
    and only sees committed rows. On SQLite the test database is in memory with a
    shared cache, so every thread of this process opens the same database."""
    from helpdesk.asgi import application

    port = free_port()
    config = uvicorn.Config(
        # Static files come from the finders, as in Django's
        # StaticLiveServerTestCase: tests never run collectstatic.
        ASGIStaticFilesHandler(application),
        host="127.0.0.1",
        port=port,
        # Channels' router has no lifespan handler.
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    yield AsgiServer(url=f"http://127.0.0.1:{port}", loop=server.servers[0].get_loop())
    server.should_exit = True
    thread.join(timeout=SERVER_START_TIMEOUT)


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium, launched for one test.

    Playwright's sync API keeps an asyncio event loop running in this thread from
    start() to stop(), so Django sees "an async context" and refuses the test's own
    ORM calls (SynchronousOnlyOperation) though they are plain blocking calls here.
    Allowed only while a browser is up: a session-wide browser would lift that
    guard for every later test in the run."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(asgi_server, browser):
    """A fresh browser context (no cookies) with its base URL on the live server.

    The server is started before the browser, so it is stopped (and the database
    flushed) after the browser is gone."""
    context = browser.new_context(base_url=asgi_server.url)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()
