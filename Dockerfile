# The production image. One image runs every process of docker-compose.yml: the ASGI
# web server (HTTP and websockets, the default command), the Celery worker and beat.
# Runtime dependencies only, installed from the hash-pinned lock; the app runs as an
# unprivileged user that can write nothing but /app/var (uploads, beat schedule).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    HELPDESK_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

# The lock is copied on its own so the dependency layer is rebuilt only when it changes.
COPY requirements/base.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && pip install --require-hashes -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

RUN groupadd --system --gid 10001 helpdesk \
    && useradd --system --uid 10001 --gid helpdesk --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin helpdesk

WORKDIR /app
# Code stays owned by root: the running app cannot rewrite itself.
COPY . .
RUN install -d -o helpdesk -g helpdesk -m 750 /app/var /app/staticfiles

USER helpdesk
# Static files are collected at build time; the key only satisfies settings import
# and is never used to sign anything.
RUN SECRET_KEY=collectstatic-at-build-time-only-never-signs-anything \
    python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000
# Liveness: the process answers. docker-compose.yml asks /readyz for web and
# replaces this check for the worker and beat, which serve no HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; host = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.'); r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={'Host': host}), timeout=4)"]

# WEB_CONCURRENCY sets uvicorn's worker processes; websockets are served by each.
CMD ["uvicorn", "helpdesk.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
