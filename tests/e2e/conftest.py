"""End-to-end fixtures: a real ComfyUI with the pack loaded and the sandbox as its fal, on every host.

Fixtures (defined in tests/support/comfy_fixtures.py, shared with the browser tests):
- ``comfy`` (session): ``tools.harness.ComfyHost`` for ``comfy_version`` — ``.client``, ``.sandbox``,
  ``.run()``, ``.convert()``...; a test using it runs once per host (``test_x[0.3.75]``, ``test_x[0.33.0]``).
- ``comfy_version`` (session): the host version under test (parametrized by tests/conftest.py).
- ``comfy_new_frontend`` (session): ComfyUI 0.3.75 serving frontend 1.58.1.
- ``comfy_factory`` (session): start further variants by name.
- ``comfy_sandbox`` (function): the sandbox, reset for the test.
Defined here:
- ``comfy_guarded`` (session): a variant that also loads the test-only node pack and widens the read rule;
  ``comfy_guarded_each_host``: the same on each host.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.comfy_fixtures import (  # noqa: F401  (imported fixtures register with pytest)
    comfy,
    comfy_factory,
    comfy_fal,
    comfy_new_frontend,
    comfy_sandbox,
    comfy_version,
)
from tests.e2e.pack_helpers import EXTRA_READ_DIR, write_test_only_nodes
from tools.harness import ComfyHost
from tools.layout import DEFAULT_HOST, TEST_OUTPUT


@pytest.fixture(scope="session")
def comfy_guarded(comfy_factory: Callable[..., ComfyHost]) -> ComfyHost:
    """A second ComfyUI that also loads the test-only node pack (tests/e2e/test_only_nodes.py.txt: degenerate
    IMAGE tensors), found through --extra-model-paths-config so it never sits in the shared
    custom_nodes folder, and with ``LUMA_FAL_EXTRA_READ_DIRS`` set to ``EXTRA_READ_DIR``."""
    return _with_test_only_nodes(comfy_factory, DEFAULT_HOST)


@pytest.fixture(scope="session")
def comfy_guarded_each_host(comfy_factory: Callable[..., ComfyHost], comfy_version: str) -> ComfyHost:
    """``comfy_guarded`` on each host (the test runs once per host, like one using ``comfy``)."""
    return _with_test_only_nodes(comfy_factory, comfy_version)


def _with_test_only_nodes(comfy_factory: Callable[..., ComfyHost], version: str) -> ComfyHost:
    EXTRA_READ_DIR.mkdir(parents=True, exist_ok=True)
    config = TEST_OUTPUT / "comfy" / "test-only-nodes.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"luma_fal_tests:\n    custom_nodes: {write_test_only_nodes()}\n")
    name = "comfy-guarded" if version == DEFAULT_HOST else f"comfy-guarded-{version}"
    return comfy_factory(name, host=version, extra_args=["--extra-model-paths-config", str(config)],
                         extra_env={"LUMA_FAL_EXTRA_READ_DIRS": str(EXTRA_READ_DIR)})
