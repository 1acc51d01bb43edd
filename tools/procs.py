"""Start and stop the servers the tests and the demo need: the sandbox and a real ComfyUI (0.3.75 or 0.33.0).

Each server runs in its own process group with its output in a log file, and ``stop()`` ends that whole
group, so nothing outlives a test session even when a server spawned children. Start-up waits for the
server's health URL and fails early (with the log's tail) if the process dies or never answers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tools.layout import (
    COMFY_HOME,
    DEFAULT_HOST,
    HOSTS,
    PACK_DIR_NAME,
    PACK_NODE_IDS,
    REPO,
    TEST_FAL_KEY,
    TEST_OUTPUT,
    VENV_PYTHON,
    free_port,
)

log = logging.getLogger(__name__)

# What ComfyUI (0.3.75 and 0.33.0 alike) logs when a custom node package does not load (nodes.py,
# load_custom_node and init_external_custom_nodes). Any of them means the pack is broken: start-up fails.
IMPORT_PROBLEM = re.compile(
    r"IMPORT FAILED|Cannot import .* module for custom nodes|Error while calling comfy_entrypoint"
    r"|comfy_entrypoint in .* (is not callable|did not return)|Skip .* module for custom nodes"
)

STOP_GRACE_SECONDS = 10.0


class ServerStartError(RuntimeError):
    """A server did not come up, or came up broken; the message carries the tail of its log."""


def default_python() -> str:
    """The test host's interpreter when it exists, else the one running this code."""
    return str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


def _log_tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ManagedProcess:
    """A child process in its own process group, logging to ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def spawn(
        cls, name: str, argv: list[str], *, cwd: Path, env: dict[str, str], log_path: Path
    ) -> ManagedProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() can end children too
            )
        log.info("%s started: pid %d, log %s", name, popen.pid, log_path)
        return cls(name, popen, log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL it if it has not gone within the grace period."""
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM; killing its group", self.name, self.pid)
        # Children may linger after the leader exits: always sweep the group.
        self._signal_group(signal.SIGKILL)
        try:
            self.popen.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("%s (pid %d) did not exit after SIGKILL", self.name, self.pid)

    def kill(self) -> None:
        """SIGKILL the whole group at once, as a crash or ``kill -9`` would: no clean-up runs."""
        self._signal_group(signal.SIGKILL)
        try:
            self.popen.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("%s (pid %d) did not exit after SIGKILL", self.name, self.pid)

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)  # the group id equals the leader's pid (start_new_session)
        except ProcessLookupError:
            pass


def wait_until_ready(proc: ManagedProcess, url: str, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail as soon as the process exits."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise ServerStartError(
                f"{proc.name} exited with code {proc.popen.returncode} while starting; log {proc.log_path}:\n"
                f"{_log_tail(proc.log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
                last_error = f"HTTP {reply.status}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = str(exc)
        time.sleep(0.2)
    raise ServerStartError(
        f"{proc.name} did not answer {url} within {timeout:.0f}s ({last_error}); log {proc.log_path}:\n"
        f"{_log_tail(proc.log_path)}"
    )


# ---------------------------------------------------------------------------------------------- sandbox
@dataclass
class SandboxProcess:
    """A running ``python -m sandbox``."""

    url: str
    port: int
    process: ManagedProcess

    def stop(self) -> None:
        self.process.stop()


def sandbox_available() -> bool:
    """Whether the repository has a runnable sandbox (``python -m sandbox``)."""
    return (REPO / "sandbox" / "__main__.py").exists()


def start_sandbox(
    *, port: int | None = None, python: str | None = None, log_dir: Path | None = None, timeout: float = 30.0
) -> SandboxProcess:
    port = port or free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PORT", None)  # --port decides
    proc = ManagedProcess.spawn(
        "sandbox",
        [python or default_python(), "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        log_path=(log_dir or TEST_OUTPUT / "logs") / f"sandbox-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, f"{url}/_sandbox/health", timeout)
    except BaseException:
        proc.stop()
        raise
    return SandboxProcess(url, port, proc)


# ---------------------------------------------------------------------------------------------- ComfyUI
@dataclass
class ComfyOptions:
    """How to start one ComfyUI server. Folders default to ``test-output/comfy/<name>/...``."""

    name: str = "comfy"
    host: str = DEFAULT_HOST  # a version in tools.layout.HOSTS: which ComfyUI tree and venv
    port: int | None = None
    fal_base_url: str | None = None  # LUMA_FAL_BASE_URL; None = leave unset (real fal, demo only)
    fal_key: str | None = TEST_FAL_KEY  # FAL_KEY; None = leave the caller's environment as it is
    front_end_root: Path | None = None
    output_dir: Path | None = None
    input_dir: Path | None = None
    user_dir: Path | None = None
    temp_dir: Path | None = None
    log_dir: Path | None = None
    python: str | None = None  # None: the host's venv (the running interpreter for 0.3.75 without one)
    ready_timeout: float = 180.0
    # Node ids that must be in /object_info once the server answers.
    require_nodes: tuple[str, ...] = PACK_NODE_IDS
    # False: start even if custom nodes failed to import (problems are still recorded on the server).
    strict: bool = True
    extra_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class ComfyServer:
    """A running ComfyUI with the pack linked in."""

    version: str  # the host version it runs (tools.layout.HOSTS)
    home: Path  # its ComfyUI tree
    url: str
    port: int
    process: ManagedProcess
    output_dir: Path
    input_dir: Path
    user_dir: Path
    temp_dir: Path
    front_end_root: Path | None
    import_problems: list[str]
    object_info: dict[str, dict]

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def log_text(self) -> str:
        return self.process.log_text()

    def pack_node_ids(self) -> list[str]:
        return sorted(n for n in self.object_info if n.startswith("LumaFal"))

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()


def ensure_pack_link(comfy_home: Path = COMFY_HOME) -> Path:
    """custom_nodes/comfyui-luma-fal -> this repository (re-pointed if the clone moved)."""
    if not (comfy_home / "main.py").exists():
        raise ServerStartError(f"no ComfyUI at {comfy_home}: run `make env` (tools/testhost.sh) first")
    link = comfy_home / "custom_nodes" / PACK_DIR_NAME
    if link.is_symlink() and Path(os.readlink(link)) == REPO:
        return link
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise ServerStartError(f"{link} exists and is not a symlink; remove it")
    link.symlink_to(REPO, target_is_directory=True)
    return link


def import_problems_in(log_text: str) -> list[str]:
    return [line for line in log_text.splitlines() if IMPORT_PROBLEM.search(line)]


def _fetch_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as reply:
        return json.load(reply)


def _host_python(host: str) -> str:
    python = HOSTS[host].python
    if python.exists():
        return str(python)
    if host == DEFAULT_HOST:
        return default_python()
    raise ServerStartError(f"no venv for ComfyUI {host} at {python}: run `make env` (tools/testhost.sh) first")


def start_comfyui(options: ComfyOptions | None = None) -> ComfyServer:
    """Start ComfyUI, wait for /system_stats, check the pack loaded, return the running server."""
    opts = options or ComfyOptions()
    if opts.host not in HOSTS:
        raise ServerStartError(f"unknown ComfyUI host {opts.host!r}; known: {', '.join(HOSTS)}")
    comfy_home = HOSTS[opts.host].home
    ensure_pack_link(comfy_home)
    port = opts.port or free_port()
    base = TEST_OUTPUT / "comfy" / opts.name
    output_dir = opts.output_dir or base / "output"
    input_dir = opts.input_dir or base / "input"
    user_dir = opts.user_dir or base / "user"
    temp_dir = opts.temp_dir or base / "temp"
    for folder in (output_dir, input_dir, user_dir, temp_dir):
        folder.mkdir(parents=True, exist_ok=True)
    # The example workflows load ComfyUI's own input/example.png, as they do in a user's install.
    shipped = comfy_home / "input" / "example.png"
    if shipped.is_file() and not (input_dir / "example.png").exists():
        shutil.copyfile(shipped, input_dir / "example.png")

    argv = [
        opts.python or _host_python(opts.host),
        "main.py",
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-auto-launch",
        "--preview-method",
        "none",
        "--output-directory",
        str(output_dir),
        "--input-directory",
        str(input_dir),
        "--user-directory",
        str(user_dir),
        "--temp-directory",
        str(temp_dir),
        # Servers run side by side from one ComfyUI tree: keep each one's database private.
        "--database-url",
        "sqlite:///:memory:",
    ]
    if opts.front_end_root is not None:
        if not (opts.front_end_root / "index.html").exists():
            raise ServerStartError(f"no frontend at {opts.front_end_root}: run `make env` first")
        argv += ["--front-end-root", str(opts.front_end_root)]
    argv += opts.extra_args

    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    if opts.fal_base_url is not None:
        env["LUMA_FAL_BASE_URL"] = opts.fal_base_url
    if opts.fal_key is not None:
        env["FAL_KEY"] = opts.fal_key
        env.pop("FAL_KEY_ID", None)
        env.pop("FAL_KEY_SECRET", None)
    # Test servers are shared by many tests: a background read of fal's billing events after one test's save
    # could land in the next test's sandbox log. Tests of billed figures turn it on (extra_env).
    env.setdefault("LUMA_FAL_READ_BILLING", "0")
    env.update(opts.extra_env)

    proc = ManagedProcess.spawn(
        f"ComfyUI[{opts.name}]",
        argv,
        cwd=comfy_home,
        env=env,
        log_path=(opts.log_dir or TEST_OUTPUT / "logs") / f"comfyui-{opts.name}-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, f"{url}/system_stats", opts.ready_timeout)
        problems = import_problems_in(proc.log_text())
        if problems and opts.strict:
            raise ServerStartError(
                "custom nodes failed to import:\n  "
                + "\n  ".join(problems)
                + f"\nlog {proc.log_path}:\n{_log_tail(proc.log_path, 80)}"
            )
        object_info = _fetch_json(f"{url}/object_info")
        missing = [n for n in opts.require_nodes if n not in object_info]
        if missing and opts.strict:
            raise ServerStartError(
                f"node ids missing from /object_info: {', '.join(missing)}; log {proc.log_path}:\n"
                f"{_log_tail(proc.log_path, 80)}"
            )
    except BaseException:
        proc.stop()
        raise
    if problems:
        log.warning("ComfyUI[%s] started with custom-node import problems: %s", opts.name, problems)
    return ComfyServer(
        version=opts.host,
        home=comfy_home,
        url=url,
        port=port,
        process=proc,
        output_dir=output_dir,
        input_dir=input_dir,
        user_dir=user_dir,
        temp_dir=temp_dir,
        front_end_root=opts.front_end_root,
        import_problems=problems,
        object_info=object_info,
    )
