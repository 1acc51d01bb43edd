"""docs/design.md stays current: its table of the glue's folders names every module in them, and the run's
story is told there once (the README and the glue's package docstring link to it instead of retelling it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DESIGN = (REPO / "docs" / "design.md").read_text()
GLUE = REPO / "nodes" / "comfy"
FOLDERS = sorted(p.name for p in GLUE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())


def _row(folder: str) -> str:
    match = re.search(rf"^\| `{folder}/` \|.*$", DESIGN, re.MULTILINE)
    assert match, f"docs/design.md has no table row for nodes/comfy/{folder}/"
    return match.group(0)


def _unnamed(folder: str, row: str) -> list[str]:
    """The modules of nodes/comfy/<folder>/ that ``row`` does not name."""
    return [p.stem for p in sorted((GLUE / folder).glob("*.py")) if p.stem != "__init__" and f"`{p.stem}`" not in row]


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_design_table_names_every_module_of_each_glue_folder(folder: str) -> None:
    missing = _unnamed(folder, _row(folder))
    assert not missing, f"docs/design.md's row for {folder}/ does not name: {', '.join(missing)}"


def test_the_run_story_is_told_once_and_linked() -> None:
    assert DESIGN.count("## One paid run") == 1
    readme = (REPO / "README.md").read_text()
    assert "docs/design.md#one-paid-run" in readme
    # The story's own words appear nowhere else: the README and the docstring link instead.
    for path in [REPO / "README.md", GLUE / "__init__.py"]:
        text = path.read_text()
        told = [step for step in ("run/decide", "decide.run_once", "fal_bridge") if step in text]
        assert not told, f"{path.relative_to(REPO)} retells the run ({told}); link to docs/design.md instead"
        assert "design.md" in text


def test_a_module_missing_from_the_table_is_reported() -> None:
    row = _row("run").replace("`spec`", "spec")
    assert _unnamed("run", row) == ["spec"]
