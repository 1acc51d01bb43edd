"""End-to-end fixtures: a real ComfyUI with the pack loaded and the sandbox as its fal, on every host.

Fixtures (defined in tests/support/comfy_fixtures.py, shared with the browser tests):
- ``comfy`` (session): ``tools.harness.ComfyHost`` for ``comfy_version`` — ``.client``, ``.sandbox``,
  ``.run()``, ``.convert()``...; a test using it runs once per host (``test_x[0.3.75]``, ``test_x[0.33.0]``).
- ``comfy_version`` (session): the host version under test (parametrized by tests/conftest.py).
- ``comfy_new_frontend`` (session): ComfyUI 0.3.75 serving frontend 1.58.1.
- ``comfy_factory`` (session): start further variants by name.
- ``comfy_sandbox`` (function): the sandbox, reset for the test.
"""

from tests.support.comfy_fixtures import (  # noqa: F401  (imported fixtures register with pytest)
    comfy,
    comfy_factory,
    comfy_fal,
    comfy_new_frontend,
    comfy_sandbox,
    comfy_version,
)
