"""Wiring only: settings, URLs, ASGI/WSGI entry points and the Celery app."""

from helpdesk.celery import app as celery_app

__all__ = ["celery_app"]
