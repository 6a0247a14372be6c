"""Settings of the processes the intake benchmark starts (web and worker): the
project's settings, read from the environment as in production, plus the two
ceilings of tests/performance/bench_urls.py: the view's URL, and the task the
worker registers.

BENCH_RESULT_BACKEND_THREAD_SAFE=1 (bench_intake --try-result-backend-thread-safe)
tries a setting the project does not have: one Celery result backend per process
instead of one per thread (under ASGI, one per request)."""

import os

from helpdesk.settings import *  # noqa: F403

ROOT_URLCONF = "tests.performance.bench_urls"
CELERY_IMPORTS = ["tests.performance.bench_urls"]
if os.environ.get("BENCH_RESULT_BACKEND_THREAD_SAFE") == "1":
    CELERY_RESULT_BACKEND_THREAD_SAFE = True
# BENCH_PANEL_CACHE=off (bench_dashboard --panel-cache off): no cache, so every
# panel is rendered afresh, as for the first viewer after a rollup refresh.
if os.environ.get("BENCH_PANEL_CACHE") == "off":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
