"""What ComfyUI-Manager sees of the pack: its own node scanner, unmodified, over a clean copy of the checkout.

Manager's extension-node-map (what "Install Missing Custom Nodes" looks up for a shared workflow's unknown node
types) comes from the scanner's ``extract_nodes_from_repo`` over every ``.py`` file of the repository, with the
keys of a ``node_list.json`` at the repository's root merged in. Both must name exactly the pack's nodes: a node
missing there is a workflow Manager cannot install for; a stray one claims a node type for this pack.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tools.layout import PACK_DIR_NAME, PACK_NODE_IDS, REPO, TEST_OUTPUT

# The scanner as Manager ships it (shared/vendor beside the repository; CI lays a copy of shared/ there too).
SCANNER_DIR = REPO.parent / "shared" / "vendor" / "comfyui-manager-scanner"

# Runs in a child interpreter: the scanner imports PyGithub at module level for functions this test does not
# call, so a stand-in ``github`` module is put first on the path, and nothing of it stays in pytest's process.
_SCAN = r"""
import json, sys, types
from pathlib import Path
sys.modules["github"] = types.SimpleNamespace(Github=None, Auth=None)
sys.path.insert(0, sys.argv[1])
import scanner
nodes, metadata = scanner.extract_nodes_from_repo(Path(sys.argv[2]), force_rescan=True)
print("\nSCAN-RESULT", json.dumps({"scanner_version": scanner.SCANNER_VERSION, "nodes": sorted(nodes)}))
"""


def scan_result(stdout: str) -> dict:
    """The child's report (the scanner itself prints progress dots on the same stream)."""
    (line,) = [line for line in stdout.splitlines() if line.startswith("SCAN-RESULT ")]
    return json.loads(line.removeprefix("SCAN-RESULT "))


def clean_copy(dest: Path) -> Path:
    """The checkout as a fresh clone of it would be: the tracked and not-ignored files of the work tree, committed
    in a repository of their own (the scanner reads the commit for its cache)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True).stdout.decode().split("\0")
    if dest.exists():
        shutil.rmtree(dest)
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "checkout"], cwd=dest, check=True)
    return dest


def test_managers_scanner_finds_exactly_the_pack_nodes(tmp_path: Path) -> None:
    assert (SCANNER_DIR / "scanner.py").is_file(), (
        f"ComfyUI-Manager's scanner is not at {SCANNER_DIR} (shared/vendor beside the repository)")
    # The copy goes to a temporary folder (only the scanner's report is kept in the test output).
    repo = clean_copy(tmp_path / PACK_DIR_NAME)
    scan = subprocess.run([sys.executable, "-c", _SCAN, str(SCANNER_DIR), str(repo)], capture_output=True,
                          text=True, timeout=300)
    assert scan.returncode == 0, scan.stderr
    report = scan_result(scan.stdout)
    (TEST_OUTPUT / "manager-scan").mkdir(parents=True, exist_ok=True)
    (TEST_OUTPUT / "manager-scan" / "scanner-output.json").write_text(json.dumps(report, indent=1))
    found = report["nodes"]
    assert sorted(set(PACK_NODE_IDS) - set(found)) == [], "nodes Manager's scanner does not see"
    assert sorted(set(found) - set(PACK_NODE_IDS)) == [], "classes Manager's scanner takes for nodes of the pack"


def test_node_list_json_names_exactly_the_pack_nodes() -> None:
    node_list = json.loads((REPO / "node_list.json").read_text())
    assert isinstance(node_list, dict) and all(isinstance(v, str) and v for v in node_list.values())
    assert list(node_list) == list(PACK_NODE_IDS)


def test_the_scanner_sees_a_stray_comfynode_base(tmp_path: Path) -> None:
    """The scanner really is what decides: a ComfyNode base class of the kind the pack had is listed."""
    repo = tmp_path / "stray"
    repo.mkdir()
    (repo / "nodes.py").write_text(
        "from comfy_api.latest import io\n"
        "class Base(io.ComfyNode):\n    pass\n"
        "class RealNode(Base):\n    pass\n"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=repo, check=True)
    scan = subprocess.run([sys.executable, "-c", _SCAN, str(SCANNER_DIR), str(repo)], capture_output=True,
                          text=True, timeout=300)
    assert scan.returncode == 0, scan.stderr
    assert scan_result(scan.stdout)["nodes"] == ["Base"]
