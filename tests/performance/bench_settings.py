"""Settings of the processes the intake benchmark starts (web and worker): the
project's settings, read from the environment as in production, plus the two
ceilings of tests/performance/bench_urls.py: the view's URL, and the task the
worker registers."""

from helpdesk.settings import *  # noqa: F403

ROOT_URLCONF = "tests.performance.bench_urls"
CELERY_IMPORTS = ["tests.performance.bench_urls"]
