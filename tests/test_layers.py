"""The layers' import rules, checked on the source: imports point one way, downward.

fal (transport), media and journal know nothing of ComfyUI; journal knows nothing of HTTP either; luma (catalogue) knows nothing of HTTP or ComfyUI;
nothing the pack loads imports the sandbox; everything under nodes/ imports its siblings relatively,
because inside ComfyUI the top-level name ``nodes`` is ComfyUI's own module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMFY_MODULES = {"comfy", "comfy_api", "comfy_execution", "server", "folder_paths", "execution", "nodes"}
HTTP_MODULES = {"httpx", "httpx_sse", "aiohttp", "requests", "urllib3"}

# layer -> (top-level modules it must not import, sibling layers it must not import)
RULES = {
    "fal": (COMFY_MODULES | {"torch", "numpy", "PIL", "av", "sandbox"}, {"comfy", "luma", "media"}),
    "media": (COMFY_MODULES | HTTP_MODULES | {"sandbox"}, {"comfy", "fal", "luma"}),
    "luma": (COMFY_MODULES | HTTP_MODULES | {"torch", "av", "sandbox"}, {"comfy", "fal", "media"}),
    "journal": (COMFY_MODULES | HTTP_MODULES | {"torch", "numpy", "PIL", "av", "sandbox"},
                {"comfy", "fal", "luma", "media"}),
    "comfy": ({"sandbox"}, set()),
}


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """(level, module, line) for every import in a file; level > 0 for relative imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or "", node.lineno))
    return found


def _layer_files(layer: str) -> list[Path]:
    return sorted((REPO / "nodes" / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_point_downward(layer: str) -> None:
    forbidden_modules, forbidden_layers = RULES[layer]
    problems = []
    for path in _layer_files(layer):
        to_nodes = len(path.relative_to(REPO / "nodes").parts)  # the relative level that reaches nodes/
        for level, module, line in _imports(path):
            top = module.split(".")[0]
            where = f"{path.relative_to(REPO)}:{line}"
            if level == 0 and top in forbidden_modules:
                problems.append(f"{where} imports {module}")
            if level == to_nodes and top in forbidden_layers:
                problems.append(f"{where} imports the {top} layer")
    assert not problems, "\n".join(problems)


def test_pack_code_imports_siblings_relatively() -> None:
    problems = []
    for path in sorted((REPO / "nodes").rglob("*.py")) + [REPO / "__init__.py"]:
        for level, module, line in _imports(path):
            if level == 0 and module.split(".")[0] == "nodes" and path != REPO / "__init__.py":
                problems.append(f"{path.relative_to(REPO)}:{line} imports {module} absolutely")
    assert not problems, "\n".join(problems)


def test_layers_are_not_empty() -> None:
    # Guards the rules above against passing because a folder moved.
    for layer in RULES:
        assert len(_layer_files(layer)) >= 3, layer
