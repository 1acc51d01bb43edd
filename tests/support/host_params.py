"""Run the ComfyUI tests on every supported host: pytest hooks' logic, called from tests/conftest.py.

- A test that uses ``comfy_version`` (directly or through ``comfy``, ``comfy_sandbox``...) is parametrized
  by host version, session-scoped, so pytest groups the tests by host and each server starts once:
  ``test_x[0.3.75]``, ``test_x[0.33.0]``.
- A test that also uses ``frontend`` (the browser tests) is parametrized by (host, frontend):
  ``test_x[0.3.75-frontend-1.32.9]``, ``test_x[0.3.75-frontend-1.58.1]``, ``test_x[0.33.0-frontend-1.48.7]``,
  ``test_x[0.33.0-frontend-1.58.1]``.
- ``@pytest.mark.hosts("0.33.0")`` limits a test to the hosts it is about (e.g. a node only 0.33.0 has).
- A test that starts ComfyUIs of its own (the fleet and restart tests) runs on the host its ``hosts`` marker
  names first, else the default host: once per run, not once per selected host.
- ``--hosts`` (or the LUMA_TEST_HOSTS environment variable; `make test HOSTS=...` sets it) deselects the
  variants of the other hosts: they show as deselected, never as skipped.
"""

from __future__ import annotations

import os

import pytest

from tools.layout import DEFAULT_HOST, HOSTS, parse_hosts

OPTION = "--hosts"
ENV = "LUMA_TEST_HOSTS"


def add_option(parser: pytest.Parser) -> None:
    parser.addoption(
        OPTION, default=os.environ.get(ENV, ""),
        help=f"ComfyUI hosts to test on, e.g. '0.3.75' or '0.3.75,0.33.0' (default: all: {' '.join(HOSTS)}; "
             f"env {ENV})",
    )


def register_marker(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hosts(*versions): run this test only on these ComfyUI host versions")


def selected_hosts(config: pytest.Config) -> tuple[str, ...]:
    try:
        return parse_hosts(config.getoption(OPTION))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def parametrize(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "comfy_version" not in names:
        return
    marker = metafunc.definition.get_closest_marker("hosts")
    versions = [v for v in HOSTS if marker is None or v in marker.args]
    if marker is not None and not versions:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: @hosts{marker.args} names no known host")
    if "frontend" in names:
        variants = [(v, f) for v in versions for f in HOSTS[v].frontends]
        metafunc.parametrize(("comfy_version", "frontend"), variants, scope="session",
                             ids=[f"{v}-frontend-{f}" for v, f in variants])
    else:
        metafunc.parametrize("comfy_version", versions, scope="session", ids=versions)


def host_of(item: pytest.Item) -> str | None:
    """The host a test runs on: its ``comfy_version`` parameter; for a test that starts ComfyUIs of its own
    (it uses the sandbox, ``comfy_fal``, without being parametrized: the fleet and restart tests), the first
    host its ``hosts`` marker names, else the default host; None for a test without a ComfyUI."""
    version = getattr(item, "callspec", None) and item.callspec.params.get("comfy_version")
    if version:
        return str(version)
    if "comfy_fal" not in getattr(item, "fixturenames", ()):
        return None
    marker = item.get_closest_marker("hosts")
    return str(marker.args[0]) if marker is not None and marker.args else DEFAULT_HOST


def deselect_other_hosts(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(selected_hosts(config))
    keep, drop = [], []
    for item in items:
        version = host_of(item)
        (drop if version and version not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
