"""Test settings: the example project plus handlers made for tests.

``DATABASE_URL`` picks the database, as in the example. Runner processes started by tests
connect to the test database, so SQLite tests use a file, never ``:memory:``.

A second alias, ``queue``, on the same engine, serves the tests of a dedicated queue
database (``TASKQUEUE["DATABASE"]``); ``QUEUE_DATABASE_URL`` and ``TASKQUEUE_TEST_DATABASE``
point runner processes at it.
"""

import copy
import os

import environ

from example_project.settings import *  # noqa: F403
from example_project.settings import BASE_DIR, DATABASES, INSTALLED_APPS, VAR_DIR

INSTALLED_APPS = [*INSTALLED_APPS, "tests.taskapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if os.environ.get("QUEUE_DATABASE_URL"):
    DATABASES["queue"] = {
        **DATABASES["default"],
        **environ.Env.db_url_config(os.environ["QUEUE_DATABASE_URL"]),
    }
else:
    DATABASES["queue"] = copy.deepcopy(DATABASES["default"])
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
    DATABASES["queue"]["TEST"] = {"NAME": str(VAR_DIR / f"test-queue-{os.getpid()}.sqlite3")}
else:
    # One test database per pytest process, so parallel runs never collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_django_taskqueue_{os.getpid()}"}
    DATABASES["queue"]["TEST"] = {"NAME": f"test_django_taskqueue_queue_{os.getpid()}"}
# Through PgBouncer (make test-pgbouncer), LISTEN goes straight to the server.
if os.environ.get("LISTEN_DATABASE_URL"):
    DATABASES["listen"] = {
        **environ.Env.db_url_config(os.environ["LISTEN_DATABASE_URL"]),
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["tests.routers.EverywhereInTestsRouter"]

TASKQUEUE = {
    "DEFAULT_RETRY_BACKOFF_SECONDS": 0.1,
    # Tests that must not be woken by a heartbeat raise it through the environment.
    "RUNNER_HEARTBEAT_SECONDS": float(os.environ.get("TASKQUEUE_TEST_HEARTBEAT_SECONDS", 0.5)),
    "HANDLERS": {
        "BrokenImport": "tests.taskapp.missing_module.handler",
    },
    "DATABASE": os.environ.get("TASKQUEUE_TEST_DATABASE", "default"),
    # Runner processes that deliver webhooks to a test's server on loopback get it from here.
    "WEBHOOK_ALLOWED_HOSTS": [
        host for host in os.environ.get("TASKQUEUE_TEST_WEBHOOK_HOSTS", "").split(",") if host
    ],
    "WEBHOOK_SECRET": "test-webhook-secret",
    "LISTEN_DATABASE": "listen" if os.environ.get("LISTEN_DATABASE_URL") else None,
    "USE_LISTEN_NOTIFY": os.environ.get("TASKQUEUE_TEST_LISTEN_NOTIFY", "1") == "1",
    "PRUNE_INTERVAL_SECONDS": 60 if os.environ.get("TASKQUEUE_TEST_PRUNE", "1") == "1" else 0,
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
del BASE_DIR
