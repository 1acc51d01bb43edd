"""A local fal-compatible server for trying the pack without a key and for tests. Never imported by ComfyUI."""
