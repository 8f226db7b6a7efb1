# The example shop as a production-shaped image: one image, three roles chosen by the command.
#   web (the default):  gunicorn, serving the shop, the admin, the HTTP API and /tasks/health
#   runner:             python manage.py runqueue emails reports webhooks maintenance ...
#   migrate (one-off):  python manage.py migrate
# compose.yaml wires them together; docs/deployment.md explains each choice.

# ---- build: the package and its extras into a virtualenv, built from this checkout --------
FROM python:3.12-slim-bookworm AS build

WORKDIR /src
COPY pyproject.toml README.md LICENSE MANIFEST.in ./
COPY django_taskqueue ./django_taskqueue
# A regular (non-editable) install: the image runs the wheel, as users of the package do.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        ".[postgres,api,schedules,deploy]"

# ---- runtime: the virtualenv and the example project, nothing to build with ----------------
FROM python:3.12-slim-bookworm

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=example_project.settings \
    DEBUG=false \
    SERVE_STATIC=true \
    STATIC_ROOT=/app/static \
    ENABLE_CRONTAB=false \
    WEB_CONCURRENCY=2

# A numeric user, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --gid 10001 shop \
    && useradd --uid 10001 --gid shop --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin shop

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY manage.py ./
COPY example_project ./example_project
# Static files are collected as root into a directory the app cannot write; var/ (the shop's
# reports and file-based emails) is the one place the app writes.
RUN python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var \
    && chown shop:shop /app/var

USER 10001:10001
EXPOSE 8000

# Both gunicorn and runqueue shut down gracefully on SIGTERM. The exec form below makes the
# process itself receive it (no shell in between); compose adds an init (`init: true`) that
# forwards it and reaps orphans.
STOPSIGNAL SIGTERM
# No HEALTHCHECK here: the image also runs runners and the migration, which serve no HTTP.
# compose.yaml gives the web service its check on /tasks/health.
# --graceful-timeout stays below the web service's stop_grace_period (30 s) in compose.yaml.
CMD ["gunicorn", "example_project.wsgi", "--bind", "0.0.0.0:8000", "--graceful-timeout", "25", "--access-logfile", "-"]
