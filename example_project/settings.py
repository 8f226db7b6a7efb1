"""Settings of the example shop, read from the environment with django-environ.

``DATABASE_URL`` defaults to a SQLite file under ``var/``; set
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/test`` to use PostgreSQL.
"""

from pathlib import Path

import django
import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None

SECRET_KEY = env("SECRET_KEY", default="example-project-insecure-key-change-me-0123456789")
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_taskqueue",
    "example_project.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "example_project.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a runner writes; IMMEDIATE transactions and a busy
    # timeout make concurrent writers wait their turn instead of failing with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"
# The container image (Dockerfile) collects the admin's static files into STATIC_ROOT at build
# time and lets WhiteNoise serve them from the WSGI process (the `deploy` extra installs it),
# so no second web server is needed in front of gunicorn (docs/deployment.md).
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))
if env.bool("SERVE_STATIC", default=False):
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
# Origins allowed to POST forms (the admin) when a TLS proxy stands in front: https://shop.example
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Emails land as files under var/sent-emails, so the demo needs no mail server.
if django.VERSION >= (6, 1):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(VAR_DIR / "sent-emails")},
        }
    }
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "sent-emails"
DEFAULT_FROM_EMAIL = "shop@example.com"

TASKQUEUE = {
    "DEFAULT_QUEUE": "default",
    "RETENTION_DAYS": 30,
    # Probes and load balancers cannot send a token: compose.yaml turns this on for /health.
    "API_HEALTH_PUBLIC": env.bool("TASKQUEUE_API_HEALTH_PUBLIC", default=False),
    # Fired by the runners themselves, once per fire time however many run; operators see
    # and edit them in the admin (docs/schedules.md).
    "SCHEDULES": {
        "weekly-cleanup": {
            "alias": "CleanupOldData",
            "cron": "0 4 * * 0",
            "timezone": "Europe/Berlin",
            "parameters": {"days": 90},
        },
    },
}

# Periodic work: `python manage.py crontab add` installs these into the system crontab.
CRONJOBS = [
    ("0 2 * * *", "example_project.shop.jobs.enqueue_nightly_report"),
    ("*/5 * * * *", "django_taskqueue.maintenance.recover_stuck_items"),
    ("30 3 * * *", "django_taskqueue.maintenance.prune_finished_items"),
]
if env.bool("ENABLE_CRONTAB", default=True):
    try:
        import django_crontab  # noqa: F401

        INSTALLED_APPS.append("django_crontab")
    except ImportError:
        pass

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"django_taskqueue": {"handlers": ["console"], "level": "INFO"}},
}
