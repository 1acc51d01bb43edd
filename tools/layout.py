"""Where the test hosts live and what the pack is expected to register.

Paths are derived from this file's location so that a fresh clone anywhere works; the test hosts
themselves are built by ``tools/testhost.sh`` under ``.testhost/`` in the repository.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTHOST = Path(os.environ.get("TESTHOST_DIR", REPO / ".testhost"))
VENV_PYTHON = TESTHOST / "venv" / "bin" / "python"
COMFY_HOME = TESTHOST / "comfyui"
COMFY_VERSION = "0.3.75"
NEW_FRONTEND_VERSION = "1.58.1"
# LUMA_TEST_OUTPUT: another folder (tests/support/parallel.py gives each pytest process its own).
TEST_OUTPUT = Path(os.environ.get("LUMA_TEST_OUTPUT") or REPO / "test-output")


@dataclass(frozen=True)
class Host:
    """One ComfyUI version the pack is tested on: its tree, its venv, and the frontends it is tested with."""

    version: str
    home: Path  # the ComfyUI tree (main.py, custom_nodes/)
    python: Path  # the interpreter of its venv
    frontend: str  # the frontend its requirements pin, served without --front-end-root
    extra_frontends: tuple[str, ...] = ()  # further frontends, served with --front-end-root (testhost.sh)

    @property
    def frontends(self) -> tuple[str, ...]:
        return (self.frontend, *self.extra_frontends)

    @property
    def shipped_frontend_static(self) -> Path:
        """The static folder of the frontend package in this host's own venv (the one it ships)."""
        (static,) = self.python.parent.parent.glob("lib/python3*/site-packages/comfyui_frontend_package/static")
        return static

    def frontend_root(self, frontend: str) -> Path | None:
        """``--front-end-root`` for ``frontend``: None for the one the host ships."""
        if frontend == self.frontend:
            return None
        if frontend not in self.extra_frontends:
            raise ValueError(f"ComfyUI {self.version} is not tested with frontend {frontend}")
        return frontend_root(frontend)


# The supported hosts, oldest first; the first one's venv also runs pytest, the sandbox and the tools.
HOSTS: dict[str, Host] = {
    "0.3.75": Host("0.3.75", COMFY_HOME, VENV_PYTHON, "1.32.9", (NEW_FRONTEND_VERSION,)),
    "0.33.0": Host(
        "0.33.0", TESTHOST / "comfyui-0.33.0", TESTHOST / "venv-0.33.0" / "bin" / "python", "1.48.7",
        (NEW_FRONTEND_VERSION,),
    ),
}
DEFAULT_HOST = COMFY_VERSION


def parse_hosts(text: str | None) -> tuple[str, ...]:
    """Host versions from a HOSTS-style list ("0.3.75 0.33.0", commas allowed); empty or None = all."""
    wanted = tuple(v for v in re.split(r"[\s,]+", text or "") if v)
    unknown = [v for v in wanted if v not in HOSTS]
    if unknown:
        raise ValueError(f"unknown ComfyUI host(s) {unknown}; known: {' '.join(HOSTS)}")
    return tuple(v for v in HOSTS if v in wanted) if wanted else tuple(HOSTS)

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


def any_frontend_static(version: str) -> Path:
    """The static folder of any frontend the test hosts hold: one a host ships (from its venv), or one
    testhost.sh installed beside them; for a host started with another host's frontend."""
    for host in HOSTS.values():
        if host.frontend == version:
            return host.shipped_frontend_static
    return frontend_root(version)


# Every frontend the test hosts hold, oldest first.
ALL_FRONTENDS: tuple[str, ...] = tuple(sorted({f for host in HOSTS.values() for f in host.frontends},
                                              key=lambda v: tuple(int(p) for p in v.split("."))))


def free_port() -> int:
    """A loopback port that was free a moment ago (the kernel picks it, so parallel runs don't collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
