"""The pack's code, in layers whose imports point only downward:

- ``fal``    the fal.ai queue and storage transport (no ComfyUI, no torch)
- ``media``  tensors, images and video (no ComfyUI, no HTTP)
- ``luma``   the Luma model catalogue: request models, rules, prices (no HTTP, no ComfyUI)
- ``journal`` the request journal: states, store, receipts (no HTTP, no ComfyUI)
- ``comfy``  ComfyUI node classes and server routes: thin glue over the four above

and ``version.py``, the pack's version (pyproject.toml's), below them all.

Every module here uses relative imports only: inside ComfyUI the name ``nodes`` is core's own module.
"""
