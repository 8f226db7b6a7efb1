"""The package as users get it: ``python -m build`` from this checkout, then the wheel installed
into a fresh virtualenv and used by a Django project of its own, far from the checkout.

It runs in every SQLite pass (Django 6.1 on Python 3.12 in ``make test``, Django 5.2 on Python
3.11 in ``make test-django52``), with the Django and Python of the pass. The PostgreSQL pass skips
it, saying so: nothing here touches the test database, and the SQLite pass has run it. A build or
an install that cannot happen fails the test, never skips it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

import django
import pytest
from django.conf import settings

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="ran in the SQLite pass (make test-sqlite): packaging uses no database, so the "
    "PostgreSQL pass skips it",
)

PACKAGE = ROOT / "django_taskqueue"
# What a fresh shell would pass on: the user's pip configuration and proxies, nothing of ours.
KEPT_ENVIRONMENT = {"HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "NO_PROXY", "no_proxy"}
QUIET_PIP = ["--no-input", "--disable-pip-version-check", "--quiet"]


def run(command: list[str | Path], **kwargs: object) -> str:
    """Run ``command``; any failure fails the test with the command's own words."""
    child = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=300, **kwargs
    )
    assert child.returncode == 0, (
        f"{' '.join(map(str, command))} exited {child.returncode}\n{child.stdout}{child.stderr}"
    )
    return child.stdout


@dataclass(frozen=True)
class Distributions:
    sdist: Path
    wheel: Path

    def wheel_files(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as wheel:
            return set(wheel.namelist())

    def sdist_files(self) -> set[str]:
        """Paths inside the sdist, without its ``django_taskqueue-VERSION/`` top folder."""
        with tarfile.open(self.sdist) as sdist:
            return {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}

    def metadata(self) -> list[tuple[str, str]]:
        with zipfile.ZipFile(self.wheel) as wheel:
            (name,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
            return HeaderParser().parsestr(wheel.read(name).decode()).items()


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> Distributions:
    """What the README's ``python -m build`` makes: an sdist, then a wheel built from it."""
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", dist, ROOT])
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return Distributions(sdist, wheel)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, distributions: Distributions) -> Path:
    """A new virtualenv holding the wheel and this pass's Django (from pip's cache when it can)."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    django_of_this_pass = f"Django=={django.__version__}"
    run([python, "-m", "pip", "install", *QUIET_PIP, distributions.wheel, django_of_this_pass])
    return venv


def package_files(under: str = "") -> set[str]:
    """Every file of ``django_taskqueue/`` in the checkout, as paths relative to the checkout."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (PACKAGE / under).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.parametrize("folder", ["templates", "static", "migrations"])
def test_the_checkout_has_files_in(folder):
    """Guards the next test from passing on an empty folder."""
    assert package_files(folder)


def test_the_wheel_and_the_sdist_hold_every_file_of_the_package(distributions):
    expected = package_files()
    assert expected - distributions.wheel_files() == set()
    assert expected - distributions.sdist_files() == set()


def test_the_sdist_holds_no_half_of_the_test_suite(distributions):
    assert {name for name in distributions.sdist_files() if name.startswith("tests/")} == set()


def test_the_metadata_names_the_supported_django_and_python_versions(distributions):
    classifiers = [value for key, value in distributions.metadata() if key == "Classifier"]

    def versions(prefix: str) -> set[str]:
        pattern = re.escape(prefix) + r"(\d+\.\d+)"
        return {m[1] for m in map(re.compile(pattern).fullmatch, classifiers) if m}

    assert versions("Framework :: Django :: ") == {"5.2", "6.0", "6.1"}
    assert versions("Programming Language :: Python :: ") == {"3.11", "3.12"}


SETTINGS = """\
from pathlib import Path

SECRET_KEY = "packaging-test"
INSTALLED_APPS = ["django_taskqueue", "greetings"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": Path(__file__).resolve().parent.parent / "db.sqlite3",
    }
}
USE_TZ = True
"""
TASKS = """\
from django_taskqueue import handler


@handler("Greet", queue="default")
def greet(name: str) -> dict[str, str]:
    return {"greeting": f"Hello, {name}"}
"""
MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "greetsite.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""
ENQUEUE = """\
import json
import django_taskqueue
from django_taskqueue import enqueue_by_alias
item = enqueue_by_alias("Greet", {"name": "Ada"})
print(json.dumps({"package": django_taskqueue.__file__, "item": item.pk}))
"""
REPORT = """\
import json
from django_taskqueue.models import QueueItem
item = QueueItem.objects.get(pk={pk})
print(json.dumps({{"status": item.status, "output": item.output}}))
"""


def write_project(root: Path) -> None:
    for path, text in {
        "manage.py": MANAGE,
        "greetsite/__init__.py": "",
        "greetsite/settings.py": SETTINGS,
        "greetings/__init__.py": "",
        "greetings/tasks.py": TASKS,
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_the_installed_wheel_runs_a_handler_in_a_project_of_its_own(fresh_venv, tmp_path):
    site = tmp_path / "site"
    write_project(site)
    kept = {k: v for k, v in os.environ.items() if k in KEPT_ENVIRONMENT or k.startswith("PIP_")}
    env = {**kept, "PATH": f"{fresh_venv / 'bin'}{os.pathsep}/usr/bin:/bin"}

    def manage(*args: str) -> str:
        return run([fresh_venv / "bin" / "python", "manage.py", *args], cwd=site, env=env)

    def shell(code: str) -> dict[str, object]:
        last_line = manage("shell", "--no-imports", "-c", code).strip().splitlines()[-1]
        return json.loads(last_line)

    manage("migrate", "--verbosity", "0")
    enqueued = shell(ENQUEUE)
    package = Path(str(enqueued["package"]))
    assert package.is_relative_to(fresh_venv), package
    assert not package.is_relative_to(ROOT), package
    manage("runqueue", "--burst")
    assert shell(REPORT.format(pk=enqueued["item"])) == {
        "status": "success",
        "output": {"greeting": "Hello, Ada"},
    }


def section(path: Path, heading: str) -> str:
    """The lines under the Markdown ``heading`` of ``path``, up to the next heading as high
    (``#`` lines inside code fences are comments, not headings)."""
    lines = path.read_text().splitlines()
    start = lines.index(heading)
    level = heading.index(" ")
    in_fence = False
    for number, line in enumerate(lines[start + 1 :], start + 1):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(rf"#{{1,{level}}} ", line):
            return "\n".join(lines[start:number])
    return "\n".join(lines[start:])


INSTALL_SECTIONS = [
    (ROOT / "README.md", "## Use it in your project"),
    (ROOT / "docs" / "quickstart.md", "## 1. Install"),
]


@pytest.mark.parametrize(("path", "heading"), INSTALL_SECTIONS, ids=["README", "quickstart"])
def test_the_install_instructions_work_before_the_package_is_on_pypi(path, heading, distributions):
    """Every ``pip install`` of the package says where from (a checkout, a wheel, a git URL),
    and the files named are the ones ``python -m build`` makes."""
    text = section(path, heading)
    assert "not on PyPI yet" in text
    assert "python -m build" in text
    installs = [t for t in re.findall(r"pip install ([^`\n#]+)", text) if "taskqueue" in t]
    assert installs, "no pip install of the package"
    for target in installs:
        assert re.match(r'"?(/|\./|dist/)|"?\S+ @ git\+https://', target), target
    built = {f"dist/{distributions.wheel.name}", f"dist/{distributions.sdist.name}"}
    assert set(re.findall(r"dist/django_taskqueue-\S*?(?:\.whl|\.tar\.gz)", text)) <= built
