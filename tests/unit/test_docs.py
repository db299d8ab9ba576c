"""The front door and the manual: README.md stays short and starts with the two commands;
every relative link in README.md and docs/*.md leads to a file; every docs/ page is linked
from README.md.

A link to a run's output (under results/) exists only after a run; it is allowed only when
its line says so with the marker `<!-- run output -->`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
MAX_README_LINES = 160
COMMANDS_WITHIN = 30
RUN_OUTPUT_MARKER = "<!-- run output -->"

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
# [text](target) and ![alt](target), with an optional "title" after the target
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def links(page: Path) -> list[tuple[int, str, str]]:
    """(line number, target, line) of every link outside code blocks and inline code."""
    found = []
    in_fence = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        text = INLINE_CODE.sub("", line)
        targets = INLINE_LINK.findall(text)
        reference = REFERENCE_LINK.match(text)
        if reference:
            targets.append(reference.group(1))
        found += [(number, target, line) for target in targets]
    return found


def local_target(page: Path, target: str) -> Path | None:
    """The file a relative link points to, or None for external links and in-page anchors."""
    if EXTERNAL.match(target) or target.startswith("#"):
        return None
    path = target.split("#", 1)[0].split("?", 1)[0]
    return (page.parent / path).resolve()


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines, more than {MAX_README_LINES}: it is the front "
        "door; move the manual into docs/"
    )


@pytest.mark.parametrize("command", ["make run", "make test"])
def test_readme_starts_with_the_two_commands(command):
    head = README.read_text(encoding="utf-8").splitlines()[:COMMANDS_WITHIN]
    assert any(command in line for line in head), (
        f"`{command}` is not in the first {COMMANDS_WITHIN} lines of README.md"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_leads_to_a_file(page):
    broken = []
    for number, target, line in links(page):
        path = local_target(page, target)
        if path is None:
            continue
        try:
            relative = path.relative_to(REPO)
        except ValueError:
            broken.append(f"line {number}: {target} (outside the repository)")
            continue
        if relative.parts[:1] == ("results",) and RUN_OUTPUT_MARKER in line:
            continue  # a run's output, marked as such
        if not path.exists():
            broken.append(f"line {number}: {target}")
    assert not broken, f"{page.relative_to(REPO)} links to missing files: " + "; ".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {local_target(README, target) for _, target, _ in links(README)}
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "docs/ holds no page"
    missing = [str(p.relative_to(REPO)) for p in pages if p.resolve() not in linked]
    assert not missing, "docs pages not linked from README.md: " + ", ".join(missing)


def test_the_link_finder_sees_links_and_skips_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        '[a](a.md) and ![b](img/b.png "title") and `[c](c.md)`\n'
        "```\n[d](d.md)\n```\n"
        "[e]: e.md\n"
        "[f](https://example.org) [g](#anchor) [h](h.md#part)\n",
        encoding="utf-8",
    )
    targets = [target for _, target, _ in links(page)]
    assert targets == ["a.md", "img/b.png", "e.md", "https://example.org", "#anchor", "h.md#part"]
    assert local_target(page, "h.md#part") == (tmp_path / "h.md").resolve()
    assert local_target(page, "https://example.org") is None
    assert local_target(page, "#anchor") is None
