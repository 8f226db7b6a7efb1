"""One settings module for every peer; BENCH_PEER picks the adapter."""

import os
from pathlib import Path

from bench.peers import PEERS

PEER = PEERS[os.environ["BENCH_PEER"]](Path(os.environ["BENCH_WORKDIR"]))

SECRET_KEY = "bench-not-secret"
DEBUG = False
ALLOWED_HOSTS: list[str] = []
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", *PEER.apps]
DATABASES = {"default": PEER.database()}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

globals().update(PEER.django_settings())
