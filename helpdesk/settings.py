"""One settings module, read from the environment only.

With nothing set, the embedded default runs: SQLite, Channels' in-memory layer,
Celery tasks inline, console email. Setting DATABASE_URL, REDIS_URL and EMAIL_HOST
switches each part to the real stack (PostgreSQL, Redis, SMTP).
"""

import os
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HELPDESK_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, *, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(
        f"{name} must be a boolean (1/0, true/false), not {raw!r}"
    )


def env_list(name: str, *, default: str) -> list[str]:
    return [
        item.strip()
        for item in os.environ.get(name, default).split(",")
        if item.strip()
    ]


def env_int(name: str, *, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from exc


def env_money(name: str, *, default: str) -> Decimal:
    raw = os.environ.get(name, "") or default
    try:
        amount = Decimal(raw)
    except InvalidOperation as exc:
        raise ImproperlyConfigured(f"{name} must be an amount, not {raw!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise ImproperlyConfigured(f"{name} must be an amount of zero or more")
    return amount


def embedded_secret_key() -> str:
    """A per-checkout key kept in var/: the zero-setup demo never ships a fixed key."""
    key_file = VAR_DIR / "secret-key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = os.environ.get("SECRET_KEY") or embedded_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default="127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default="")
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not REDIS_URL

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "pods",
    "tickets",
    "authority",
]

MIDDLEWARE = [
    "helpdesk.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The customer signed in to the portal (request.portal_customer), apart from staff.
    "pods.middleware.PortalCustomerMiddleware",
    # Times in the signed-in agent's zone on every page (after the user is known).
    "pods.middleware.AgentTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"
ASGI_APPLICATION = "helpdesk.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'helpdesk.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", default=60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of
    # failing with "database is locked" half-way through a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, channel layer -------------------------------
REDIS_SOCKET_TIMEOUT = 5  # seconds; a hung Redis must not hang a request
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 60},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = "tickets"
CELERY_TASK_ROUTES = {"*.outbound.*": {"queue": "outbound"}}
# At-least-once delivery: a task is acknowledged after it ran, and redelivered if
# its worker died; every task is idempotent by a state guard or a unique key.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
}
# Queueing happens after commit, with the write already durable; when Redis is
# away the request gives up on the task after about a second (a sweep queues it
# later) instead of hanging the customer's or the provider's request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.25,
    "interval_max": 0.5,
}
CELERY_RESULT_EXPIRES = 3600
# Tasks here report through the database, not the result backend; without this,
# every apply_async subscribes to its result in Redis and, when Redis is away,
# blocks the request for 20 reconnection attempts.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "recompute-proficiency": {
        "task": "tickets.recompute_proficiency",
        "schedule": crontab(hour=2, minute=30),
    },
    "drain-backlogs": {"task": "tickets.drain_backlogs", "schedule": 60.0},
    "requeue-idle-tickets": {"task": "tickets.requeue_idle_tickets", "schedule": 60.0},
    "requeue-stalled-splits": {
        "task": "pods.requeue_stalled_splits",
        "schedule": 300.0,
    },
    "reconcile-customer-counts": {
        "task": "pods.reconcile_customer_counts",
        "schedule": 3600.0,
    },
    # Portal sign-in links and link requests older than a month.
    "prune-portal-links": {
        "task": "pods.prune_portal_links",
        "schedule": crontab(hour=4, minute=20),
    },
    "reconcile-agent-loads": {
        "task": "tickets.reconcile_agent_loads",
        "schedule": 3600.0,
    },
    # Envelopes whose processing task never ran (broker down at commit, worker
    # lost) and replies whose delivery task never ran.
    "sweep-inbound": {"task": "tickets.sweep_inbound", "schedule": 30.0},
    "sweep-outbound": {"task": "tickets.sweep_outbound", "schedule": 60.0},
    "detect-sla-breaches": {"task": "tickets.detect_sla_breaches", "schedule": 60.0},
    "advance-lifecycle": {"task": "tickets.advance_lifecycle", "schedule": 3600.0},
    # Billing webhooks whose retry is due (or whose task never left).
    "sweep-webhooks": {"task": "authority.sweep_webhooks", "schedule": 60.0},
    # Authority figures of the dashboards: today and yesterday every minute,
    # the last 90 local days nightly (late reversals, grants, decisions).
    "refresh-authority-figures": {
        "task": "authority.refresh_authority_figures",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "refresh-authority-figures-nightly": {
        "task": "authority.refresh_authority_figures",
        "schedule": crontab(hour=3, minute=10),
        "kwargs": {"days": 90},
    },
    "refresh-delegation-snapshot": {
        "task": "authority.refresh_delegation_snapshot",
        "schedule": 900.0,
    },
    # Ticket figures of the dashboards: today and yesterday every minute (a
    # run left waiting past the next one is dropped), the last 90 local days
    # nightly (late reopens, answers, assignments).
    "refresh-figures": {
        "task": "tickets.refresh_figures",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "refresh-figures-nightly": {
        "task": "tickets.refresh_figures",
        "schedule": crontab(hour=3, minute=40),
        "kwargs": {"days": 90},
    },
    # Customers told that an entitlement ends soon, once per entitlement
    # period; hourly, so a new or extended entitlement is never a day late and
    # an email that failed is tried again.
    "send-entitlement-reminders": {
        "task": "authority.send_entitlement_reminders",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}

# --- Auth and permissions -----------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "pods.backends.PodScopeBackend",
    "tickets.backends.InvitedColleagueBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# --- HTTPS and cookies (production sets HTTPS=1 behind a TLS-terminating proxy) --
HTTPS = env_bool("HTTPS", default=False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The __Host- prefix pins the cookie to this exact host over HTTPS.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
# Only a proxy we run may tell us the scheme; set TRUSTED_PROXY_HEADERS=1 behind one.
if env_bool("TRUSTED_PROXY_HEADERS", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Email --------------------------------------------------------------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", default=20)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "support@helpdesk.localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Uploaded files are never under STATIC_ROOT nor served from a public path:
        # downloads go through views that check permissions.
        "OPTIONS": {"location": Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "helpdesk.api.IdCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "helpdesk.api.error_response",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_ANON_RATE", "60/minute"),
        "user": os.environ.get("API_USER_RATE", "1200/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pod helpdesk API",
    "DESCRIPTION": "Pods, customers, tickets and the authority funnel, scoped by pod.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several serializers have a "status" with different choices; name each.
    "ENUM_NAME_OVERRIDES": {
        "TicketStatusEnum": "tickets.models.Ticket.Status",
        "TicketStatusMoveEnum": [
            ("OPEN", "Open"),
            ("PENDING", "Pending"),
            ("SOLVED", "Solved"),
        ],
    },
}

# --- Logging: readable lines in development, one JSON object per line in production
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(
        f"LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}"
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "helpdesk.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)-7s [%(request_id)s] "
            "%(name)s: %(message)s"
        },
        "json": {"()": "helpdesk.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "uvicorn.access": {"level": "WARNING"},
    },
}

# --- Product settings -----------------------------------------------------------
HELPDESK = {
    # Signs the authority funnel's webhooks to the billing system (HMAC-SHA256).
    "BILLING_WEBHOOK_SECRET": os.environ.get("HELPDESK_BILLING_WEBHOOK_SECRET", ""),
    "DEMO_PASSWORD": os.environ.get("HELPDESK_DEMO_PASSWORD", "demo-pass-2026"),
    "IDLE_ASSIGNMENT_MINUTES": env_int("HELPDESK_IDLE_ASSIGNMENT_MINUTES", default=30),
    # Replies go out from the pod's address: REPLY_ADDRESS with the pod as a
    # plus tag (support+mercury@...). Message-IDs use the same domain.
    "REPLY_ADDRESS": os.environ.get("HELPDESK_REPLY_ADDRESS", DEFAULT_FROM_EMAIL),
    "MAX_INBOUND_BYTES": env_int("HELPDESK_MAX_INBOUND_BYTES", default=40 * 2**20),
    "MAX_ATTACHMENT_BYTES": env_int(
        "HELPDESK_MAX_ATTACHMENT_BYTES", default=25 * 2**20
    ),
    # A waiting envelope older than this is queued again by the sweep.
    "INBOUND_RETRY_SECONDS": env_int("HELPDESK_INBOUND_RETRY_SECONDS", default=60),
    "INBOUND_MAX_ATTEMPTS": env_int("HELPDESK_INBOUND_MAX_ATTEMPTS", default=5),
    "PENDING_AUTO_SOLVE_DAYS": env_int("HELPDESK_PENDING_AUTO_SOLVE_DAYS", default=7),
    "SOLVED_AUTO_CLOSE_DAYS": env_int("HELPDESK_SOLVED_AUTO_CLOSE_DAYS", default=4),
    # Satisfaction survey links can be answered (and changed) this many days.
    "SURVEY_DAYS": env_int("HELPDESK_SURVEY_DAYS", default=14),
    # Where customers reach this site: links in outgoing messages are absolute.
    "PUBLIC_URL": os.environ.get("HELPDESK_PUBLIC_URL", "http://127.0.0.1:8000"),
    # Webhook signing secrets per channel; admin can add more (WebhookSecret).
    "WEBHOOK_SECRETS": {
        channel: os.environ.get(f"HELPDESK_WEBHOOK_SECRET_{channel}", "")
        for channel in ("EMAIL", "SMS", "SOCIAL", "PHONE")
    },
    # IMAP over TLS for `manage.py fetch_mail`.
    "IMAP": {
        "HOST": os.environ.get("HELPDESK_IMAP_HOST", ""),
        "PORT": env_int("HELPDESK_IMAP_PORT", default=993),
        "USER": os.environ.get("HELPDESK_IMAP_USER", ""),
        "PASSWORD": os.environ.get("HELPDESK_IMAP_PASSWORD", ""),
        "FOLDER": os.environ.get("HELPDESK_IMAP_FOLDER", "INBOX"),
        # After a message's envelope commits: "keep", "seen" or "delete".
        "AFTER_STORE": os.environ.get("HELPDESK_IMAP_AFTER_STORE", "seen"),
        "TLS": env_bool("HELPDESK_IMAP_TLS", default=True),
        "CA_FILE": os.environ.get("HELPDESK_IMAP_CA_FILE", ""),
    },
    # Where SMS and social replies go: a dotted path per channel (a class with
    # send(*, message) -> str). The logging provider records and sends nothing.
    "REPLY_PROVIDERS": {
        "SMS": os.environ.get(
            "HELPDESK_SMS_PROVIDER", "tickets.outbound.LoggingReplyProvider"
        ),
        "SOCIAL": os.environ.get(
            "HELPDESK_SOCIAL_PROVIDER", "tickets.outbound.LoggingReplyProvider"
        ),
    },
    # What one agent costs a month (salary and overheads), for the cost per
    # customer on the pod dashboard and the organisation view.
    "AGENT_MONTHLY_COST": env_money("HELPDESK_AGENT_MONTHLY_COST", default="4000"),
    "AGENT_COST_CURRENCY": os.environ.get("HELPDESK_AGENT_COST_CURRENCY", "GBP"),
    # Customers are reminded this many days before an entitlement ends.
    "ENTITLEMENT_REMINDER_DAYS": env_int(
        "HELPDESK_ENTITLEMENT_REMINDER_DAYS", default=7
    ),
    # A pause may be set to start this many days ahead at most.
    "PAUSE_START_MAX_DAYS": env_int("HELPDESK_PAUSE_START_MAX_DAYS", default=30),
}
HELPDESK_PHONE_REGION = os.environ.get("HELPDESK_PHONE_REGION", "GB")
# Sites that may embed the chat widget: exact origins (https://shop.example) or
# "*"; the helpdesk's own host is always allowed.
HELPDESK_CHAT_ALLOWED_ORIGINS = env_list("HELPDESK_CHAT_ALLOWED_ORIGINS", default="")
# The customer portal: one-time sign-in links by email, and how long a portal
# sign-in lasts. Links per address and per client address are counted in the
# database, so every web process and a restart see the same counts.
HELPDESK_PORTAL = {
    "LINK_MINUTES": env_int("HELPDESK_PORTAL_LINK_MINUTES", default=15),
    "LINKS_PER_ADDRESS": env_int("HELPDESK_PORTAL_LINKS_PER_ADDRESS", default=3),
    "ADDRESS_WINDOW_MINUTES": env_int(
        "HELPDESK_PORTAL_ADDRESS_WINDOW_MINUTES", default=60
    ),
    "LINKS_PER_IP": env_int("HELPDESK_PORTAL_LINKS_PER_IP", default=10),
    "IP_WINDOW_MINUTES": env_int("HELPDESK_PORTAL_IP_WINDOW_MINUTES", default=15),
    "SESSION_DAYS": env_int("HELPDESK_PORTAL_SESSION_DAYS", default=14),
}
