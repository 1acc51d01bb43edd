"""The README stays a short page, and bench/run.py's `--refresh-docs` has exactly one table to replace.

The README is read top-down by a new user: details belong in docs/ pages linked from it (issue 17 sets
the bound at 250 lines). `make bench BENCH_ARGS=--refresh-docs` copies the last whole run's table into
docs/performance.md between its bench markers, so that page holds the only pair of markers.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README_MOST_LINES = 250
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _bench_run():
    """bench/run.py as a module, without leaving bench/ on sys.path (it holds generic names like clips)."""
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    try:
        spec = importlib.util.spec_from_file_location("bench_run_under_test", REPO / "bench" / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            del sys.modules[name]
    return module


def test_readme_stays_short() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < README_MOST_LINES, (
        f"README.md has {lines} lines (at most {README_MOST_LINES - 1}): move details into a docs/ page and link it")


def test_the_bench_table_has_one_home() -> None:
    bench = _bench_run()
    holders = [page.relative_to(REPO).as_posix() for page in PAGES
               if bench.TABLE_START in page.read_text(encoding="utf-8")]
    assert holders == ["docs/performance.md"]
    assert bench.PERFORMANCE_DOC == REPO / "docs" / "performance.md"
    text = bench.PERFORMANCE_DOC.read_text(encoding="utf-8")
    assert text.count(bench.TABLE_START) == 1 and text.count(bench.TABLE_END) == 1
    assert text.index(bench.TABLE_START) < text.index(bench.TABLE_END)


def test_refresh_replaces_only_the_table(tmp_path: Path) -> None:
    bench = _bench_run()
    doc = tmp_path / "performance.md"
    original = bench.PERFORMANCE_DOC.read_text(encoding="utf-8")
    doc.write_text(original, encoding="utf-8")
    assert bench.write_performance_table("| new | table |", doc)
    head, rest = original.split(bench.TABLE_START, 1)
    tail = rest.split(bench.TABLE_END, 1)[1]
    assert doc.read_text(encoding="utf-8") == f"{head}{bench.TABLE_START}\n| new | table |\n{bench.TABLE_END}{tail}"
    doc.write_text("no markers here\n", encoding="utf-8")
    assert not bench.write_performance_table("| new | table |", doc)
    assert doc.read_text(encoding="utf-8") == "no markers here\n"
