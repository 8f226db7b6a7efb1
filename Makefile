# Two entry points for a fresh machine: `make demo` and `make test`. Each builds its own
# virtualenv with a Python that really runs (see scripts/find-python).

VENV        ?= .venv
VENV_DJ52   ?= .venv-django52
PG_URL      ?= postgres://postgres@127.0.0.1:5432/test
PGBOUNCER_URL ?= postgres://postgres@127.0.0.1:6543/test
PGBOUNCER_ADMIN_URL ?= postgres://postgres@127.0.0.1:6543/pgbouncer
SQLITE_URL  ?= sqlite:///$(CURDIR)/var/test.sqlite3
DEMO_URL    ?= sqlite:///$(CURDIR)/var/demo.sqlite3
PYTEST_ARGS ?=

.PHONY: demo test test-sqlite test-postgres test-pgbouncer test-django52 lint venv clean

$(VENV)/.installed: pyproject.toml
	@python="$$(scripts/find-python 3.12)" && "$$python" -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[postgres,crontab,api,schedules,otel,dev,typecheck]"
	touch $@

venv: $(VENV)/.installed

## The example shop's main job on SQLite: migrate, enqueue, drain, print stats.
demo: venv
	mkdir -p var
	DATABASE_URL=$(DEMO_URL) $(VENV)/bin/python manage.py shopdemo

## The whole suite: lint, migrations check, then every test on SQLite and on PostgreSQL.
test: venv lint
	scripts/ensure-services
	$(MAKE) -k test-sqlite test-postgres test-pgbouncer

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile
	DATABASE_URL=$(DEMO_URL) $(VENV)/bin/python manage.py makemigrations --check --dry-run

test-sqlite: venv
	DATABASE_URL=$(SQLITE_URL) $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-postgres: venv
	DATABASE_URL=$(PG_URL) TASKQUEUE_REQUIRE_POSTGRES=1 $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

## The runner-process, fault and pooler tests again, through PgBouncer in transaction mode
## (scripts/start-pgbouncer), LISTEN straight to the server.
test-pgbouncer: venv
	scripts/start-pgbouncer
	DATABASE_URL=$(PGBOUNCER_URL) LISTEN_DATABASE_URL=$(PG_URL) TASKQUEUE_REQUIRE_POSTGRES=1 \
	TASKQUEUE_TEST_PGBOUNCER_ADMIN=$(PGBOUNCER_ADMIN_URL) \
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS) tests/integration tests/faults tests/test_pgbouncer.py

## Django 5.2 LTS on Python 3.11, SQLite.
$(VENV_DJ52)/.installed: pyproject.toml
	@python="$$(scripts/find-python 3.11)" && "$$python" -m venv $(VENV_DJ52)
	$(VENV_DJ52)/bin/pip install -q --upgrade pip
	$(VENV_DJ52)/bin/pip install -q "Django>=5.2,<5.3" -e ".[postgres,crontab,api,schedules,otel,dev]"
	touch $@

test-django52: $(VENV_DJ52)/.installed
	DATABASE_URL=$(SQLITE_URL) $(VENV_DJ52)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(VENV_DJ52) var .pytest_cache
