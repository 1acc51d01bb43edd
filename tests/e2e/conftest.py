"""End-to-end fixtures: a real ComfyUI 0.3.75 with the pack loaded and the sandbox as its fal.

Fixtures (defined in tests/support/comfy_fixtures.py, shared with the browser tests):
- ``comfy`` (session): ``tools.harness.ComfyHost`` — ``.client``, ``.sandbox``, ``.run()``, ``.convert()``...
- ``comfy_new_frontend`` (session): the same backend serving frontend 1.58.1.
- ``comfy_factory`` (session): start further variants by name.
- ``comfy_sandbox`` (function): the sandbox, reset for the test.
"""

from tests.support.comfy_fixtures import (  # noqa: F401  (imported fixtures register with pytest)
    comfy,
    comfy_factory,
    comfy_fal,
    comfy_new_frontend,
    comfy_sandbox,
)
