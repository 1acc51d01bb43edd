"""fal.ai queue and storage transport. Knows nothing of ComfyUI or torch."""
