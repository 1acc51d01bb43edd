"""ComfyUI glue: node classes, progress and interrupt bridge, server routes."""
