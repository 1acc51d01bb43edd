"""The Luma model catalogue: request models, validation rules, prices. Knows nothing of HTTP or ComfyUI."""
