"""Each (host, frontend) variant the browser tests run on serves the frontend it claims, from the server the
browser tests share (the ``host`` fixture): a page that loaded the wrong frontend would test nothing."""

from __future__ import annotations

from tools.harness import ComfyHost
from tools.layout import HOSTS, PACK_NODE_IDS


def test_each_variant_serves_its_frontend(host: ComfyHost, comfy_version: str, frontend: str) -> None:
    # One (host, frontend) pair per run: 0.3.75 with 1.32.9 and 1.58.1, 0.33.0 with 1.48.7 and 1.58.1.
    root = HOSTS[comfy_version].frontend_root(frontend)
    assert host.server.front_end_root == root
    if root is None:  # the frontend the host ships, from its own venv
        root = HOSTS[comfy_version].shipped_frontend_static
    # The package behind that folder is the version this variant claims to test.
    (metadata,) = root.parent.parent.glob("comfyui_frontend_package-*.dist-info/METADATA")
    assert f"\nVersion: {frontend}\n" in metadata.read_text()
    page = host.client.get("/")
    assert page.status_code == 200
    assert page.text == (root / "index.html").read_text()
    # Same backend, same pack: the node definitions the frontend will draw are there.
    assert set(PACK_NODE_IDS) <= set(host.client.object_info())
