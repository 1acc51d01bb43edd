"""Every relative link and #anchor in README.md and docs/*.md resolves.

A link to a file must name a file or folder of the repository; a `#anchor` must name a heading (or an
explicit `<a id=...>`/`<a name=...>`) of the page it points to, with GitHub's rules for turning a heading
into an anchor. Links inside code (fenced blocks, `inline code`) and HTML comments are not links.
External links (https:, mailto:, ...) are not fetched.

Also runnable as a script: `python tests/test_docs_links.py` prints every broken link.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target), with an optional "title"; <target> form too.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)", re.M)
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _strip_code(text: str) -> list[str]:
    """The page's lines with fenced blocks blanked (line numbers kept) and HTML comments removed."""
    text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    lines, fence = [], None
    for line in text.split("\n"):
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(2)[0] * 3
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every #anchor a page offers: its headings (repeats get -1, -2, ... as on GitHub) and <a id/name>."""
    found: set[str] = set()
    seen: Counter[str] = Counter()
    for line in _strip_code(path.read_text(encoding="utf-8")):
        heading = HEADING.match(line)
        if heading:
            slug = github_slug(heading.group(2))
            found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link on a page, outside code and comments."""
    out = []
    for number, line in enumerate(_strip_code(path.read_text(encoding="utf-8")), start=1):
        line = INLINE_CODE.sub("", line)
        targets = [t.strip("<>") for t in INLINE_LINK.findall(line)]
        targets += REFERENCE_DEF.findall(line) + HTML_LINK.findall(line)
        out += [(number, target) for target in targets]
    return out


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    """What is wrong with each link of one page, as `file:line: target: why` (files named from root)."""
    root, path = root.resolve(), path.resolve()
    problems = []
    for number, target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not destination.exists():
            problems.append(f"{where}: no such file {file_part}")
        elif root not in destination.parents and destination != root:
            problems.append(f"{where}: points outside the repository")
        elif anchor and destination.suffix == ".md" and unquote(anchor).lower() not in anchors(destination):
            problems.append(f"{where}: {destination.relative_to(root)} has no heading #{anchor}")
    return problems


@pytest.mark.parametrize("page", doc_files(), ids=lambda page: str(page.relative_to(REPO)))
def test_every_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_checker_catches_broken_links(tmp_path: Path) -> None:
    """The checker itself: a missing file, a missing anchor and a missing heading in another page fail;
    code, comments, external links and GitHub's slugs (punctuation, repeats) pass."""
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n## Money: prices, spend limits\n## Money: prices, spend limits\n")
    page.write_text(
        "# Fal's `key` & you\n"
        "[ok](other.md#money-prices-spend-limits-1) [ok](#fals-key--you) [ok](https://example.com/x#y)\n"
        "[gone](missing.md) [bad](other.md#nowhere) [bad](#nothing-here)\n"
        "`[code](missing-in-code.md)`\n<!-- [slot](not-yet.md) -->\n```\n[fenced](fenced.md)\n```\n"
    )
    problems = broken_links(page, root=tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "missing.md: no such file missing.md",
        "other.md#nowhere: other.md has no heading #nowhere",
        "#nothing-here: page.md has no heading #nothing-here",
    ]


if __name__ == "__main__":
    found = [problem for page in doc_files() for problem in broken_links(page)]
    print("\n".join(found) or f"all links resolve in {len(doc_files())} pages")
    sys.exit(1 if found else 0)
