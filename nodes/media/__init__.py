"""Media: IMAGE tensors <-> image bytes, MP4 <-> frames. Knows nothing of ComfyUI or HTTP."""
