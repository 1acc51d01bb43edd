"""The layers' import rules, checked on the source: imports point one way, downward, and never in a circle.

fal (transport), media and journal know nothing of ComfyUI; journal knows nothing of HTTP either; luma (catalogue) knows nothing of HTTP or ComfyUI;
nothing the pack loads imports the sandbox; everything under nodes/ imports its siblings relatively,
because inside ComfyUI the top-level name ``nodes`` is ComfyUI's own module. Inside nodes/comfy the
sub-packages are layers too, in the order of ``COMFY_ORDER``. The import graph is read from every file
under nodes/ (function-level and TYPE_CHECKING imports included: a lazy import is still a dependency).
A module's dependencies are at its top: the pack's own modules always, and a third-party or ComfyUI module
too unless it is one of ``LAZY_ALLOWED`` with a comment saying why it waits.
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMFY_MODULES = {"comfy", "comfy_api", "comfy_execution", "server", "folder_paths", "execution", "nodes"}
HTTP_MODULES = {"httpx", "httpx_sse", "aiohttp", "requests", "urllib3"}

# The only modules a function may import, each with a comment on that line or the line above saying why:
# heavy to load (torch, av, numpy, PIL), optional (psycopg), or ComfyUI's own where the host needs it later.
LAZY_ALLOWED = {"torch", "av", "numpy", "PIL", "psycopg"} | COMFY_MODULES

# layer -> (top-level modules it must not import, sibling layers it must not import)
RULES = {
    "fal": (COMFY_MODULES | {"torch", "numpy", "PIL", "av", "sandbox"}, {"comfy", "luma", "media"}),
    "media": (COMFY_MODULES | HTTP_MODULES | {"sandbox"}, {"comfy", "fal", "luma"}),
    "luma": (COMFY_MODULES | HTTP_MODULES | {"torch", "av", "sandbox"}, {"comfy", "fal", "media"}),
    "journal": (COMFY_MODULES | HTTP_MODULES | {"torch", "numpy", "PIL", "av", "sandbox"},
                {"comfy", "fal", "luma", "media"}),
    "comfy": ({"sandbox"}, set()),
}

# nodes/comfy's sub-packages (and its top-level modules), lowest first: a module imports only from its
# own sub-package or one listed before it. A new sub-package must be placed here.
COMFY_ORDER = ["host", "rules", "money", "run", "outputs", "node_types", "server", "extension"]


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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


@lru_cache(maxsize=1)
def _graph() -> dict[str, dict[str, int]]:
    """{module under nodes/: {module of the pack it imports: first line}}, relative imports resolved."""
    graph: dict[str, dict[str, int]] = {}
    for path in sorted((REPO / "nodes").rglob("*.py")):
        name = _module_name(path)
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level <= len(package), f"{path.relative_to(REPO)}:{node.lineno} climbs out of nodes/"
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names]
            for target in targets:
                parts = target.split(".")
                # importing a.b.c runs a/b/__init__ too, unless the importer is inside a.b already
                for cut in range(2, len(parts) + 1):
                    if package[:cut] != parts[:cut]:
                        edges.setdefault(".".join(parts[:cut]), node.lineno)
        edges.pop(name, None)
        graph[name] = edges
    return graph


def _where(module: str, line: int) -> str:
    path = REPO.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return f"{path.relative_to(REPO)}:{line}"


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_point_downward(layer: str) -> None:
    forbidden_modules, forbidden_layers = RULES[layer]
    problems = []
    for path in _layer_files(layer):
        for level, module, line in _imports(path):
            if level == 0 and module.split(".")[0] in forbidden_modules:
                problems.append(f"{path.relative_to(REPO)}:{line} imports {module}")
        for target, line in _graph()[_module_name(path)].items():
            if target.split(".")[1] in forbidden_layers:
                problems.append(f"{_where(_module_name(path), line)} imports the {target.split('.')[1]} layer ({target})")
    assert not problems, "\n".join(problems)


def _comfy_rank(module: str) -> int | None:
    parts = module.split(".")
    if parts[:2] != ["nodes", "comfy"] or len(parts) == 2:
        return None
    return COMFY_ORDER.index(parts[2])


def test_comfy_sub_packages_import_downward() -> None:
    problems = []
    for module, edges in _graph().items():
        rank = _comfy_rank(module)
        for target, line in edges.items():
            target_rank = _comfy_rank(target)
            if rank is not None and target_rank is not None and target_rank > rank:
                problems.append(f"{_where(module, line)}: {module} imports {target}, which is above it "
                                f"({COMFY_ORDER[rank]} < {COMFY_ORDER[target_rank]} in COMFY_ORDER)")
    assert not problems, "\n".join(problems)


def test_comfy_order_names_every_sub_package() -> None:
    comfy = REPO / "nodes" / "comfy"
    found = {p.name for p in comfy.iterdir() if (p / "__init__.py").is_file()}
    found |= {p.stem for p in comfy.glob("*.py") if p.name != "__init__.py"}
    assert found == set(COMFY_ORDER), f"place each in COMFY_ORDER (or drop the gone ones): {found ^ set(COMFY_ORDER)}"


def test_comfy_rules_are_pure() -> None:
    # rules/ decides what a prompt may hold and cost from plain values: no ComfyUI, no HTTP, no storage,
    # nothing of the glue above it, so the browser-facing checks and the tests can run it anywhere.
    problems = []
    for path in sorted((REPO / "nodes" / "comfy" / "rules").rglob("*.py")):
        module = _module_name(path)
        for level, imported, line in _imports(path):
            if level == 0 and imported.split(".")[0] in COMFY_MODULES | HTTP_MODULES:
                problems.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
        for target, line in _graph()[module].items():
            if not target.startswith(("nodes.comfy.rules", "nodes.luma")):
                problems.append(f"{_where(module, line)} imports {target}")
    assert len(list((REPO / "nodes" / "comfy" / "rules").glob("*.py"))) >= 3
    assert not problems, "\n".join(problems)


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, {}):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(component)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    cycles = []
    for component in components:  # the shortest way from the component's first module back to it
        members, start = set(component), min(component)
        came_from: dict[str, str] = {}
        frontier = [start]
        while start not in came_from:  # breadth first, inside the component (start is reachable)
            reached = []
            for module in frontier:
                for target in sorted(graph[module]):
                    if target in members and target not in came_from:
                        came_from[target] = module
                        reached.append(target)
            frontier = reached
        path, at = [start], came_from[start]
        while at != start:
            path.append(at)
            at = came_from[at]
        cycles.append([start, *reversed(path[1:]), start])
    return cycles


def test_no_import_cycle_in_the_pack() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_cycle_finder_finds_a_cycle() -> None:
    # The cycle test must be able to fail: a graph with a three-module circle and a tail.
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b": 1}, "b": {}}) == []


def test_graph_sees_function_level_and_package_imports() -> None:
    graph = _graph()
    # money/check.py imports rules.prompt_costs; extension.py imports the node_types package
    assert "nodes.comfy.rules.prompt_costs" in graph["nodes.comfy.money.check"]
    assert "nodes.comfy.node_types" in graph["nodes.comfy.extension"]
    assert "nodes.comfy.host" in graph["nodes.comfy.run.job"]  # `from .. import host` names the package


def test_pack_code_imports_siblings_relatively() -> None:
    problems = []
    for path in sorted((REPO / "nodes").rglob("*.py")) + [REPO / "__init__.py"]:
        for level, module, line in _imports(path):
            if level == 0 and module.split(".")[0] == "nodes" and path != REPO / "__init__.py":
                problems.append(f"{path.relative_to(REPO)}:{line} imports {module} absolutely")
    assert not problems, "\n".join(problems)


def test_the_version_module_imports_nothing_of_the_pack() -> None:
    # nodes/version.py (the pack's version, from pyproject.toml) sits below every layer: all may import it.
    assert _graph()["nodes.version"] == {}, _graph()["nodes.version"]
    imported = {module.split(".")[0] for level, module, _ in _imports(REPO / "nodes" / "version.py") if level == 0}
    assert imported <= {"__future__", "re", "pathlib", "tomllib"}, imported


def test_layers_are_not_empty() -> None:
    # Guards the rules above against passing because a folder moved.
    for layer in RULES:
        assert len(_layer_files(layer)) >= 3, layer


def _has_reason(lines: list[str], line: int) -> bool:
    """A comment on the import's own (first) line, or alone on the line above it or above the run of
    import lines it is part of."""
    if "#" in lines[line - 1]:
        return True
    above = line - 2
    while above >= 0 and lines[above].lstrip().startswith(("import ", "from ")):
        above -= 1
    return above >= 0 and lines[above].lstrip().startswith("#")


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"))


def misplaced_imports(source: str, name: str, *, entry_point: bool = False) -> list[str]:
    """"name:line why" for every import not at the top of a module: the pack's own (relative) imports inside a
    function, a class, an if or a try (``if TYPE_CHECKING:`` aside), or after the first def or class; any other
    import inside a function or class, unless it is one of ``LAZY_ALLOWED`` and has a reason comment.

    ``entry_point``: the checkout's own ``__init__.py``, which pytest imports as a lone module while collecting
    (there a relative import at the top fails), so its functions may import the pack, each with a reason."""
    lines = source.splitlines()
    problems: list[tuple[int, str]] = []
    below_code = False
    for statement in ast.parse(source, filename=name).body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            below_code = True
        elif isinstance(statement, ast.ImportFrom) and statement.level and below_code:
            problems.append((statement.lineno, "the pack's own import is below the first def/class"))
        if isinstance(statement, (ast.Import, ast.ImportFrom)) or _is_type_checking(statement):
            continue
        in_function = isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        for node in ast.walk(statement):
            if isinstance(node, ast.ImportFrom) and node.level and in_function and entry_point:
                if not _has_reason(lines, node.lineno):
                    problems.append((node.lineno, "the entry point imports the pack without a comment saying why"))
            elif isinstance(node, ast.ImportFrom) and node.level:
                where = "inside a function or class" if in_function else "inside a module-level block"
                problems.append((node.lineno, f"the pack's own import is {where}: move it to the top"))
            elif in_function and isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for module in modules:
                    if module.split(".")[0] not in LAZY_ALLOWED:
                        problems.append((node.lineno, f"{module} is imported inside a function: move it to the top"))
                    elif not _has_reason(lines, node.lineno):
                        why = f"{module} is imported inside a function without a comment saying why it waits"
                        problems.append((node.lineno, why))
    return [f"{name}:{line} {why}" for line, why in sorted(problems)]


def test_imports_are_at_the_top() -> None:
    problems = []
    for path in sorted((REPO / "nodes").rglob("*.py")) + [REPO / "__init__.py"]:
        problems += misplaced_imports(path.read_text(), str(path.relative_to(REPO)),
                                      entry_point=path == REPO / "__init__.py")
    assert not problems, f"{len(problems)} imports not at the top of their module:\n" + "\n".join(problems)


def test_misplaced_import_finder_finds_them() -> None:
    # The check above must be able to fail: each kind of misplaced import is reported, and only those.
    source = """
from __future__ import annotations

from typing import TYPE_CHECKING

from .top import fine

if TYPE_CHECKING:
    from .typing_only import Fine

try:
    from .optional import hidden
except ImportError:
    hidden = None


def run():
    from .lazy import late
    import json
    import torch
    # numpy is heavy and only this path needs it
    import numpy
    import av  # PyAV loads ffmpeg
    return late


from .after import below


class Node:
    def execute(self):
        from ..up import upward
"""
    found = misplaced_imports(source, "sample.py")
    assert [entry.split(" ")[0] for entry in found] == [
        "sample.py:12", "sample.py:18", "sample.py:19", "sample.py:20", "sample.py:27", "sample.py:32"], found
    assert "sample.py:18 the pack's own import is inside a function or class: move it to the top" in found
    assert "sample.py:19 json is imported inside a function: move it to the top" in found
    assert "sample.py:20 torch is imported inside a function without a comment saying why it waits" in found
    assert misplaced_imports("from .a import b\n\n\ndef f():\n    return b\n", "clean.py") == []
    # The checkout's entry point may import the pack on call, with a reason; nothing else may.
    entry = "def load():\n    from .nodes import pack\n    return pack\n"
    reasoned = "def load():\n    # pytest imports this file alone\n    from .nodes import pack\n    return pack\n"
    assert misplaced_imports(entry, "__init__.py", entry_point=True) == [
        "__init__.py:2 the entry point imports the pack without a comment saying why"]
    assert misplaced_imports(reasoned, "__init__.py", entry_point=True) == []
    assert misplaced_imports(reasoned, "nodes/x.py") == [
        "nodes/x.py:3 the pack's own import is inside a function or class: move it to the top"]
    assert {"torch", "av", "numpy", "PIL", "psycopg", "comfy", "folder_paths", "server"} <= LAZY_ALLOWED
    assert sys.stdlib_module_names.isdisjoint(LAZY_ALLOWED - COMFY_MODULES)
