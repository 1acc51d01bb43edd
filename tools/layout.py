"""Where the test host lives and what the pack is expected to register.

Paths are derived from this file's location so that a fresh clone anywhere works; the test host itself is
built by ``tools/testhost.sh`` under ``.testhost/`` in the repository.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTHOST = Path(os.environ.get("TESTHOST_DIR", REPO / ".testhost"))
VENV_PYTHON = TESTHOST / "venv" / "bin" / "python"
COMFY_HOME = TESTHOST / "comfyui"
COMFY_VERSION = "0.3.75"
NEW_FRONTEND_VERSION = "1.58.1"
TEST_OUTPUT = REPO / "test-output"

# The name ComfyUI knows the pack by: the folder (a symlink to the repo) under custom_nodes/.
PACK_DIR_NAME = "comfyui-luma-fal"

# The node ids the pack promises (the shared interface contract).
PACK_NODE_IDS: tuple[str, ...] = (
    "LumaFalRay32TextToVideo",
    "LumaFalRay32ImageToVideo",
    "LumaFalRay32VideoToVideo",
    "LumaFalRay32Reframe",
    "LumaFalUni1TextToImage",
    "LumaFalUni1ImageEdit",
    "LumaFalVideoToFrames",
    "LumaFalRequestById",
)

# A key the sandbox accepts; it never leaves this machine.
TEST_FAL_KEY = "sandbox-test-key:0000"


def frontend_root(version: str = NEW_FRONTEND_VERSION) -> Path:
    """The static folder of a frontend installed by testhost.sh, for ``main.py --front-end-root``."""
    return TESTHOST / f"frontend-{version}" / "comfyui_frontend_package" / "static"


def free_port() -> int:
    """A loopback port that was free a moment ago (the kernel picks it, so parallel runs don't collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
