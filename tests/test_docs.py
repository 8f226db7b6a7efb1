"""The docs are plain Markdown, so these tests are their build: links resolve, references are
complete. A renamed heading, a moved file, a new setting or a new ``runqueue`` option that the
docs do not follow fails here instead of on GitHub.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management.base import BaseCommand

from django_taskqueue.conf import DEFAULTS
from django_taskqueue.management.commands.runqueue import Command as RunqueueCommand

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(path for path in [ROOT / "README.md", *DOCS.glob("*.md")] if path.exists())

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HTML_TARGET = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"<a\b[^>]*?\b(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def without_code(markdown: str) -> str:
    """Markdown with fenced blocks and inline code removed: links in examples are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: rendered text, lowercased, punctuation dropped.

    Rendering removes code backticks, emphasis markers and link targets; what is left keeps
    letters, digits, spaces, ``-`` and ``_``, and spaces become hyphens.
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every ``#fragment`` a page offers: heading slugs (numbered when repeated), HTML ids."""
    markdown = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    result: set[str] = set()
    for match in ATX_HEADING.finditer(markdown):
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    result.update(HTML_ANCHOR.findall(markdown))
    return result


def link_targets(markdown: str) -> list[str]:
    text = without_code(markdown)
    return [
        *INLINE_LINK.findall(text),
        *REFERENCE_DEFINITION.findall(text),
        *HTML_TARGET.findall(text),
    ]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Relative targets of ``path`` that name a missing file or a missing heading."""
    problems = []
    for target in link_targets(path.read_text(encoding="utf-8")):
        if EXTERNAL.match(target):
            continue
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{target}: no file {linked.relative_to(root)}")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            problems.append(f"{target}: no heading #{fragment} in {linked.relative_to(root)}")
    return problems


# --------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Quickstart", "quickstart"),
        ("`runqueue` options", "runqueue-options"),
        ("`USE_LISTEN_NOTIFY`", "use_listen_notify"),
        ("Timeouts: how they are enforced", "timeouts-how-they-are-enforced"),
        ("SQLite (WAL, IMMEDIATE)", "sqlite-wal-immediate"),
        ("systemd & supervisord", "systemd--supervisord"),
        ("See [the runner](runners.md)", "see-the-runner"),
    ],
)
def test_github_slug_matches_githubs_rules(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_links_are_found_outside_code_only(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Title\n\n[ok](#title-1) ![img](missing.png) `[no](in-code.md)`\n"
        '```\n[no](in-fence.md)\n```\n[ref]: other.md#x\n<img src="pic.png">\n',
        encoding="utf-8",
    )
    assert anchors(page) == {"title", "title-1"}
    assert sorted(link_targets(page.read_text())) == [
        "#title-1",
        "missing.png",
        "other.md#x",
        "pic.png",
    ]


def test_broken_links_reports_missing_files_and_headings(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Real heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Here\n[a](other.md#real-heading) [b](other.md#gone) [c](nowhere.md) [d](#here) "
        "[e](https://example.com/x.md)\n",
        encoding="utf-8",
    )
    assert broken_links(page, root=tmp_path) == [
        "other.md#gone: no heading #gone in other.md",
        "nowhere.md: no file nowhere.md",
    ]


# --------------------------------------------------------------------------- the docs


def test_the_docs_exist() -> None:
    assert DOCS / "index.md" in PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page: Path) -> None:
    assert broken_links(page) == []


def test_index_links_every_page() -> None:
    linked = {
        (DOCS / target.partition("#")[0]).resolve()
        for target in link_targets((DOCS / "index.md").read_text(encoding="utf-8"))
        if not EXTERNAL.match(target) and target.partition("#")[0]
    }
    unlisted = sorted(
        path.name for path in DOCS.glob("*.md") if path.name != "index.md" and path not in linked
    )
    assert unlisted == []


def documented_settings() -> set[str]:
    """Setting names used as headings in docs/settings.md (one heading per setting)."""
    markdown = (DOCS / "settings.md").read_text(encoding="utf-8")
    return {
        match.group(2).strip("` ")
        for match in ATX_HEADING.finditer(FENCE.sub("", markdown))
        if re.fullmatch(r"`?[A-Z][A-Z0-9_]+`?", match.group(2).strip())
    }


def test_every_setting_is_documented() -> None:
    assert sorted(set(DEFAULTS) - documented_settings()) == []


def test_no_setting_is_documented_that_does_not_exist() -> None:
    assert sorted(documented_settings() - set(DEFAULTS)) == []


def own_options(command: BaseCommand, name: str) -> set[str]:
    """Long options a command adds beyond the ones every Django command has."""
    base = {
        option
        for action in BaseCommand().create_parser("manage.py", name)._actions
        for option in action.option_strings
    }
    return {
        option
        for action in command.create_parser("manage.py", name)._actions
        for option in action.option_strings
        if option.startswith("--") and option not in base
    }


def test_every_runqueue_option_is_documented() -> None:
    options = own_options(RunqueueCommand(), "runqueue")
    assert "--concurrency" in options
    text = (DOCS / "runners.md").read_text(encoding="utf-8")
    missing = sorted(o for o in options if not re.search(rf"{re.escape(o)}(?![\w-])", text))
    assert missing == []


PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_block_defining(text: str) -> str:
    """The one Python block in the docs that contains ``text``, to be run by a test."""
    blocks = [
        block
        for page in PAGES
        for block in PYTHON_BLOCK.findall(page.read_text(encoding="utf-8"))
        if text in block
    ]
    assert len(blocks) == 1, f"{len(blocks)} Python blocks in the docs contain {text!r}"
    return blocks[0]
