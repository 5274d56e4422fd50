"""Every relative link in README.md and docs/*.md leads somewhere: to a file or folder that
exists and, when it has an #anchor, to a heading of that page.

Anchors follow GitHub's rule for headings: lowercased, every character but letters,
digits, spaces, hyphens and underscores dropped, spaces turned into hyphens, and a
repeated heading numbered (`-1`, `-2`, ...). Links inside code (fenced blocks and inline
spans) are text, not links; links with a scheme (https:, mailto:) leave the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.paths import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCED = re.compile(r"^([ \t]*)```.*?^\1```", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_HEADING = re.compile(r"^#{1,6} +(.+?) *#* *$", re.MULTILINE)
# [text](target) or ![alt](target); the text may run over lines, an optional "title" follows.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose(text: str) -> str:
    """The page without its code, where a link is only text."""
    return _INLINE_CODE.sub("", _FENCED.sub("", text))


def slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCED.sub("", text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    return _LINK.findall(prose(text))


def broken(page: Path) -> list[str]:
    """Each relative link of `page` that leads nowhere, with the reason."""
    problems = []
    for target in links(page.read_text()):
        if _SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            problems.append(f"{target}: no such file")
        elif (
            anchor
            and destination.suffix == ".md"
            and anchor not in anchors(destination.read_text())
        ):
            problems.append(f"{target}: no such heading in {destination.name}")
    return problems


def test_github_anchors() -> None:
    assert slug("Open Inference Protocol V2: /v2/...") == "open-inference-protocol-v2-v2"
    assert slug("SnapStart, or provisioned concurrency") == "snapstart-or-provisioned-concurrency"
    assert slug("Example: the bundled churn model") == "example-the-bundled-churn-model"
    text = "# A\n\n## Memory size\n\n```sh\n# not a heading\n```\n\n### Memory size\n"
    assert anchors(text) == {"a", "memory-size", "memory-size-1"}


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# There\n\n## Right here\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[fine](there.md#right-here), [over\ntwo lines](there.md), [web](https://example.com)\n"
        "[gone](missing.md), [wrong](there.md#elsewhere), [self](#nowhere)\n"
        "`[in code](missing.md)`\n\n```md\n[in a block](missing.md)\n```\n"
    )
    assert broken(page) == [
        "missing.md: no such file",
        "there.md#elsewhere: no such heading in there.md",
        "#nowhere: no such heading in page.md",
    ]


def test_the_pages_link_to_each_other() -> None:
    # Every page of docs/ is linked from the README.
    readme = links((ROOT / "README.md").read_text())
    for page in PAGES[1:]:
        assert any(target.split("#")[0] == f"docs/{page.name}" for target in readme), page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    assert broken(page) == []
