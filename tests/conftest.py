"""Shared test fixtures.

Tests that need a part of the real stack call `require_postgres()`,
`require_redis()` or `require_chromium()`: on the embedded default they skip with
the reason; with HELPDESK_REAL_STACK=1 (set by .ci/run) a missing part fails."""

import os
import shutil

import pytest
from django.conf import settings
from django.db import connection

REAL_STACK = os.environ.get("HELPDESK_REAL_STACK") == "1"
CHROMIUM = os.environ.get("HELPDESK_CHROMIUM", "/usr/bin/chromium")


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if REAL_STACK:
        pytest.fail(f"HELPDESK_REAL_STACK=1 but {reason}")
    pytest.skip(reason)


def require_postgres() -> None:
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")


def require_redis() -> None:
    require(bool(settings.REDIS_URL), "needs Redis (set REDIS_URL)")


def require_chromium() -> None:
    require(
        os.path.exists(CHROMIUM) or shutil.which("chromium") is not None,
        f"needs Chromium at {CHROMIUM} (Debian package chromium)",
    )


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets channel layer instances of its own. A Redis layer keeps
    asyncio locks and connection pools bound to the event loop that first used
    them; a test that leaves a socket mid-receive would otherwise hand every
    later test a held lock of a dead loop ("bound to a different event loop")."""
    yield
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.fixture
def now():
    from django.utils import timezone

    return timezone.now()
