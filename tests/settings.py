"""Test settings: the project's settings with faster hashing and inline tasks.

The database, Redis and channel layer come from the environment exactly as in
production, so `.ci/run` tests the real stack."""

import tempfile

from helpdesk.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tasks run inline in tests; the Celery round-trip test turns this off and talks
# to a real worker through the real broker.
CELERY_TASK_ALWAYS_EAGER = True
# Attachments land in a throwaway folder, never in the demo's var/media.
STORAGES = {
    **STORAGES,  # noqa: F405
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tempfile.mkdtemp(prefix="helpdesk-test-media-")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - quiets WhiteNoise
