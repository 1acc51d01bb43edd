"""Developer and test tooling: the ComfyUI test host, process management, a ComfyUI client, the demo.

Never imported by ComfyUI or by the pack itself.
"""
