"""Session fixtures for tests that need a real ComfyUI with the pack loaded (e2e, browser), on every host.

Import the fixtures into a folder's conftest.py (``from tests.support.comfy_fixtures import comfy, ...``).
Servers are kept in one module-level registry, so folders that import these fixtures share one server per
variant (host, frontend, key or not) in a session instead of starting their own.

Hosts: a test that uses ``comfy`` (or ``comfy_version``) runs once per supported ComfyUI (tools.layout.HOSTS),
its id showing the host: ``test_x[0.33.0]``. A browser test that uses ``frontend`` runs once per (host,
frontend): ``test_x[0.3.75-frontend-1.58.1]``. ``--hosts`` / ``HOSTS`` (see tests/conftest.py) deselects the
others; ``@pytest.mark.hosts("0.33.0")`` limits a test to the hosts it is about. The parametrization itself
is done by tests/conftest.py (``parametrize_hosts``).

ComfyUI always talks to a loopback fal: the sandbox (``sandbox_server`` from tests/conftest.py when it is
defined, else one started here), so no test can reach the real fal.ai. Start-up is strict: a custom-node
import failure or a missing pack node id fails the fixture (tools.procs.start_comfyui).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tools.harness import ComfyHost, start_host
from tools.layout import DEFAULT_HOST, HOSTS, NEW_FRONTEND_VERSION, TEST_OUTPUT, any_frontend_static
from tools.procs import ComfyOptions, SandboxProcess, start_sandbox
from tools.sandbox_control import SandboxControl

_hosts: dict[str, ComfyHost] = {}


class _Sandbox:
    """The sandbox ComfyUI uses: its ``url`` plus the control API."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.control = SandboxControl(url)


def server_name(version: str, frontend: str | None = None, *, keyless: bool = False) -> str:
    """The registry name (and log/output folder name) of one server variant."""
    host = HOSTS[version]
    name = f"comfy-{version}"
    if frontend is not None and frontend != host.frontend:
        name += f"-frontend-{frontend}"
    return f"{name}-keyless" if keyless else name


@pytest.fixture(scope="session")
def comfy_fal(request: pytest.FixtureRequest) -> Iterator[_Sandbox]:
    """The fal ComfyUI talks to during the session: the shared sandbox server, or one started here."""
    try:
        shared = request.getfixturevalue("sandbox_server")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None:
        yield _Sandbox(shared if isinstance(shared, str) else shared.url)
        return
    own: SandboxProcess = start_sandbox(log_dir=TEST_OUTPUT / "logs")
    try:
        yield _Sandbox(own.url)
    finally:
        own.stop()


@pytest.fixture(scope="session")
def comfy_factory(comfy_fal: _Sandbox) -> Iterator[Callable[..., ComfyHost]]:
    """``comfy_factory(name, front_end_root=None, host=DEFAULT_HOST, **ComfyOptions fields) -> ComfyHost``;
    one server per name, started on first use, stopped at the end of the session."""

    def get(name: str, front_end_root: Any = None, **options: Any) -> ComfyHost:
        if name not in _hosts:
            # Each session starts with an empty request journal: a saved result of an earlier session must not
            # answer a run of this one (the user folder, with the key file, is otherwise kept).
            for stale in (TEST_OUTPUT / "comfy" / name / "user" / "comfyui-luma-fal").glob("journal.sqlite3*"):
                stale.unlink()
            settings: dict[str, Any] = {"log_dir": TEST_OUTPUT / "logs", **options}
            opts = ComfyOptions(name=name, front_end_root=front_end_root, **settings)
            _hosts[name] = start_host(opts, sandbox=comfy_fal)
        return _hosts[name]

    yield get
    for name in list(_hosts):
        _hosts.pop(name).stop()


@pytest.fixture(scope="session")
def comfy_version(request: pytest.FixtureRequest) -> str:
    """The ComfyUI version under test; tests/conftest.py parametrizes it (one run per host)."""
    return getattr(request, "param", DEFAULT_HOST)


def host_server(
    factory: Callable[..., ComfyHost], version: str, frontend: str | None = None, **options: Any
) -> ComfyHost:
    """The shared server of ``version`` serving ``frontend`` (default: the one the host ships; any frontend the
    test hosts hold, also one the host is not paired with in the browser suite)."""
    host = HOSTS[version]
    frontend = frontend or host.frontend
    name = server_name(version, frontend, keyless=options.get("fal_key", "") is None)
    root = host.frontend_root(frontend) if frontend in host.frontends else any_frontend_static(frontend)
    return factory(name, front_end_root=root, host=version, **options)


@pytest.fixture(scope="session")
def comfy(comfy_factory: Callable[..., ComfyHost], comfy_version: str) -> ComfyHost:
    """ComfyUI ``comfy_version`` with the frontend it ships, the pack loaded, the sandbox as fal."""
    return host_server(comfy_factory, comfy_version)


@pytest.fixture(scope="session")
def comfy_new_frontend(comfy_factory: Callable[..., ComfyHost]) -> ComfyHost:
    """ComfyUI 0.3.75 serving the newest frontend (1.58.1) via --front-end-root."""
    return host_server(comfy_factory, DEFAULT_HOST, NEW_FRONTEND_VERSION)


@pytest.fixture
def comfy_sandbox(comfy: ComfyHost, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The sandbox ComfyUI uses, reset for this test. Returns tests/conftest.py's ``sandbox`` object when
    that fixture exists (it resets on its own), else a SandboxControl (reset here). Afterwards ComfyUI's
    queue is left empty: a test that failed mid-run must not hold the queue for the tests after it."""
    try:
        yield request.getfixturevalue("sandbox")
    except pytest.FixtureLookupError:
        control: SandboxControl = comfy.sandbox.control
        control.reset()
        yield control
    finally:
        comfy.empty_queue()
