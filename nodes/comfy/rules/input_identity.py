"""Identities of node inputs: what decides "same request" (memo) and "same inputs" (re-run checks)."""

from __future__ import annotations

import hashlib
from typing import Any


def content_identity(tensor: Any) -> str:
    """A hash of a tensor's values (and shape), so equal images give equal identities.

    SHA-256 because CPUs hash it in hardware (SHA-NI, ARMv8 crypto; OpenSSL uses them): twice blake2b's speed
    here, which matters for a clip of IMAGE frames (10 s of 1080p is 6 GB of float32)."""
    array = tensor.detach().cpu().contiguous().numpy()
    digest = hashlib.sha256()
    digest.update(repr((tuple(array.shape), str(array.dtype))).encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def cheap_signature(inputs: dict[str, Any]) -> str:
    """A quick signature of a node's inputs for ``fingerprint_inputs``, which runs on every queue.

    Tensors count by object and shape: ComfyUI hands a node the same cached tensor objects while
    the nodes upstream are unchanged, and a new tensor means ComfyUI re-runs the node anyway.
    """
    parts = [f"{name}={_signature_part(inputs[name])!r}" for name in sorted(inputs)]
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


def _signature_part(value: Any) -> Any:
    # A node that takes its inputs as lists (INPUT_IS_LIST) gets each value wrapped in a list: look inside.
    if isinstance(value, list):
        return tuple(_signature_part(v) for v in value)
    if hasattr(value, "shape") and hasattr(value, "data_ptr"):
        return ("tensor", id(value), tuple(value.shape), value.data_ptr())
    if not isinstance(value, (str, int, float, bool, type(None))):
        return (type(value).__name__, id(value))
    return value
