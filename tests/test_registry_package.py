"""The pack as the Comfy Registry receives it, checked with the real comfy-cli (from PyPI, pinned in
tools/testhost.sh) on a clean copy of the repository's tracked files:

- ``comfy node validate`` passes without a warning, and what comfy-cli reads from pyproject.toml is what the
  Registry and ComfyUI-Manager show: name, version, licence, ``requires-comfyui``, the four links, the
  display name, the icon;
- the archive ``comfy node pack`` builds (what ``comfy node publish`` uploads, and so what every user
  installs) holds exactly the files a user runs: the tracked files under the top-level entries of
  ``SHIPPED``, nothing of tests/, sandbox/, tools/, bench/ or .ci. The expected list is the tracked files
  filtered by that rule, so a new module under nodes/ is expected in the archive and a new test refused;
  the rule is also tried with files that do not exist yet, and on a copy that is not a git checkout
  (comfy-cli then packs the whole tree minus .comfyignore).

comfy-cli never needs the network or a Comfy account here: it runs with no standard input, a HOME of its
own (no config, no credentials), telemetry off (``DO_NOT_TRACK``, ``COMFY_NO_TELEMETRY``), proxies on a
closed loopback port, and, where the machine allows it (root, as on CI), in a network namespace of its own
with no network at all (``unshare -n``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nodes.version import PACK_VERSION
from tools.layout import REPO

# The top-level entries a user's install needs (a trailing slash: a folder). Everything else stays out.
SHIPPED = ("__init__.py", "nodes/", "web/", "example_workflows/", "docs/", "README.md", "LICENSE",
           "requirements.txt", "pyproject.toml")
COMFY = Path(sys.executable).parent / "comfy"
CLOSED_PROXY = "http://127.0.0.1:9"  # discard: nothing listens on it here
ARCHIVE = "node.zip"  # comfy-cli's NODE_ZIP_FILENAME


def shipped(path: str) -> bool:
    """Whether a repository file belongs in the archive users install."""
    if "__pycache__" in path.split("/") or path.endswith((".pyc", ".pyo")):
        return False
    return any(path == entry or (entry.endswith("/") and path.startswith(entry)) for entry in SHIPPED)


def tracked_files() -> list[str]:
    """The repository's tracked files that exist in the work tree (what a commit of it would hold)."""
    if not (REPO / ".git").exists():
        pytest.fail(f"{REPO} is not a git checkout: the archive is checked against `git ls-files`")
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], check=True, capture_output=True)
    return sorted(p for p in listed.stdout.decode().split("\0") if p and (REPO / p).is_file())


def clean_copy(dest: Path, files: list[str], *, git: bool = True) -> Path:
    """The given files copied to ``dest``; with ``git``, in a fresh repository with all of them added, as in
    a publisher's checkout (comfy-cli packs the files git lists)."""
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    if git:
        subprocess.run(["git", "init", "-q", str(dest)], check=True)
        subprocess.run(["git", "-C", str(dest), "add", "-A"], check=True)
    return dest


@functools.lru_cache(maxsize=1)
def _network_namespace_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0


def comfy_cli(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``comfy`` CLI offline, without an account and without a prompt."""
    if not COMFY.is_file():
        pytest.fail(f"{COMFY} missing: `make env` installs comfy-cli into the test venv (tools/testhost.sh)")
    home.mkdir(parents=True, exist_ok=True)
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), DO_NOT_TRACK="1",
               COMFY_NO_TELEMETRY="1",
               HTTP_PROXY=CLOSED_PROXY, HTTPS_PROXY=CLOSED_PROXY, ALL_PROXY=CLOSED_PROXY, NO_PROXY="",
               PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", TERM="dumb")
    argv = [str(COMFY), *args]
    if _network_namespace_works():
        argv = ["unshare", "-n", *argv]
    return subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=False, timeout=300)


def _problems(run: subprocess.CompletedProcess[str]) -> list[str]:
    """comfy-cli's warnings and errors: it exits 0 after most (and drops the field it warned about)."""
    words = ("warning", "error", "security warnings", "not found", "invalid")
    return [line for line in (run.stdout + run.stderr).splitlines() if any(w in line.lower() for w in words)]


def _validate(folder: Path, home: Path) -> subprocess.CompletedProcess[str]:
    run = comfy_cli(["node", "validate"], folder, home)
    print(f"$ comfy node validate (own network namespace: {_network_namespace_works()})")
    print(run.stdout + run.stderr)
    return run


def test_comfy_node_validate_passes_without_a_warning(tmp_path: Path) -> None:
    copy = clean_copy(tmp_path / "pack", tracked_files())
    run = _validate(copy, tmp_path / "home")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "All validation checks passed successfully" in run.stdout + run.stderr, run.stdout + run.stderr
    assert not _problems(run), "comfy node validate warned:\n" + "\n".join(_problems(run))


def test_a_field_comfy_cli_drops_is_caught(tmp_path: Path) -> None:
    # The check above must be able to fail: a requires-comfyui comfy-cli cannot read gives exit code 0 and a
    # warning (and the Registry would show no ComfyUI requirement).
    copy = clean_copy(tmp_path / "pack", tracked_files())
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('requires-comfyui = ">=0.3.75"', 'requires-comfyui = "0.3"'))
    run = _validate(copy, tmp_path / "home")
    assert run.returncode == 0
    assert any("requires-comfyui" in line for line in _problems(run)), run.stdout


def test_the_registry_reads_what_the_readme_promises() -> None:
    # comfy-cli's own parser, on the tracked pyproject.toml: what `comfy node publish` sends the Registry.
    from comfy_cli.registry.config_parser import extract_node_configuration

    config = extract_node_configuration(str(REPO / "pyproject.toml"))
    assert config is not None
    project, comfy = config.project, config.tool_comfy
    assert project.name == "comfyui-luma-fal" and project.version == PACK_VERSION != "unknown"
    assert project.supported_comfyui_version == ">=0.3.75"
    assert project.license.text == "MIT" and (REPO / "LICENSE").read_text().startswith("MIT License")
    repo_url = "https://github.com/comfyui-luma-fal/comfyui-luma-fal"
    assert (project.urls.homepage, project.urls.repository) == (repo_url, repo_url)
    assert project.urls.documentation.startswith(repo_url) and project.urls.issues == repo_url + "/issues"
    assert comfy.publisher_id == "comfyui-luma-fal" and comfy.display_name == "Luma Ray 3.2 & Uni-1 (fal)"
    # The icon the Registry shows is a file of the repository's main branch.
    icon = comfy.icon.removeprefix("https://raw.githubusercontent.com/comfyui-luma-fal/comfyui-luma-fal/main/")
    assert icon != comfy.icon and (REPO / icon).is_file(), comfy.icon
    # The Registry lists pyproject's dependencies; Manager installs requirements.txt: the same ones.
    lines = (REPO / "requirements.txt").read_text().splitlines()
    requirements = [line.split("#")[0].strip() for line in lines]
    assert sorted(project.dependencies) == sorted(r for r in requirements if r)


def _archive(folder: Path, home: Path) -> list[str]:
    run = comfy_cli(["node", "pack"], folder, home)
    print(f"$ comfy node pack\n{run.stdout}{run.stderr}")
    assert run.returncode == 0 and f"Created zip file: {ARCHIVE}" in run.stdout, run.stdout + run.stderr
    with zipfile.ZipFile(folder / ARCHIVE) as archive:
        names = sorted(archive.namelist())
    size = (folder / ARCHIVE).stat().st_size
    print(f"archive: {len(names)} files, {size / 1024:.0f} KiB")
    return names


def _difference(archive: list[str], expected: list[str]) -> str:
    extra, missing = sorted(set(archive) - set(expected)), sorted(set(expected) - set(archive))
    return f"in the archive but not expected: {extra}\nexpected but missing: {missing}"


def test_the_archive_holds_exactly_what_a_user_runs(tmp_path: Path) -> None:
    tracked = tracked_files()
    expected = [p for p in tracked if shipped(p)]
    archive = _archive(clean_copy(tmp_path / "pack", tracked), tmp_path / "home")
    assert archive == expected, _difference(archive, expected)
    left_out = sorted({p.split("/")[0] for p in tracked if not shipped(p)})
    print(f"tracked: {len(tracked)} files; left out: {len(tracked) - len(expected)} under {left_out}")
    # What the rule must keep out, and in (a guard against a rule that passes by being empty or everything).
    assert {"tests", "sandbox", "tools", "bench", ".ci", "Makefile"} <= set(left_out)
    needed = ("__init__.py", "LICENSE", "README.md", "requirements.txt", "pyproject.toml",
              "nodes/__init__.py")
    assert set(needed) <= set(archive)
    assert any(p.startswith("web/") for p in archive) and any(p.startswith("docs/") for p in archive)
    assert any(p.endswith(".jpg") and p.startswith("example_workflows/") for p in archive)


def test_the_rule_covers_files_that_do_not_exist_yet(tmp_path: Path) -> None:
    # New files in each place: a module and a web file ship, a test, a tool, a bench, a sandbox route, a CI
    # script and a note at the top level do not (the .comfyignore keeps only the listed entries).
    tracked = tracked_files()
    copy = clean_copy(tmp_path / "pack", tracked, git=False)
    new = ["nodes/luma/new_model.py", "web/new_panel.js", "docs/new_page.md", "example_workflows/new.json",
           "tests/test_new.py", "tools/new_tool.py", "bench/new_bench.py", "sandbox/new_route.py", ".ci/new",
           "NOTES.md", "node_list.json", "scratch/data.bin"]
    for name in new:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text("new\n")
    subprocess.run(["git", "init", "-q", str(copy)], check=True)
    subprocess.run(["git", "-C", str(copy), "add", "-A"], check=True)
    expected = sorted(p for p in tracked + new if shipped(p))
    assert {"nodes/luma/new_model.py", "web/new_panel.js"} <= set(expected)
    assert not {"tests/test_new.py", "NOTES.md", "scratch/data.bin"} & set(expected)
    archive = _archive(copy, tmp_path / "home")
    assert archive == expected, _difference(archive, expected)


def test_a_copy_that_is_not_a_git_checkout_packs_the_same(tmp_path: Path) -> None:
    # Without git, comfy-cli archives the whole tree minus .comfyignore: what a developer's tree holds beside
    # the tracked files (test hosts, outputs, bytecode, caches) must stay out as well.
    tracked = tracked_files()
    copy = clean_copy(tmp_path / "pack", tracked, git=False)
    for junk in (".testhost/venv/bin/python", "test-output/logs/run.log",
                 "nodes/__pycache__/version.cpython-311.pyc", "nodes/fal/__pycache__/http.cpython-310.pyc",
                 ".pytest_cache/v/cache/nodeids", "bench/out/r.json"):
        (copy / junk).parent.mkdir(parents=True, exist_ok=True)
        (copy / junk).write_bytes(b"x")
    archive = _archive(copy, tmp_path / "home")
    expected = [p for p in tracked if shipped(p)]
    assert archive == expected, _difference(archive, expected)
