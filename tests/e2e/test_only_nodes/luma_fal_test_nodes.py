"""A node pack ComfyUI loads only in the pack's e2e tests (via --extra-model-paths-config).

``TestOnlyImageDigest`` shows an IMAGE's shape and the SHA-256 of its float32 bytes, so a test can compare frames
decoded inside ComfyUI with a decode of the saved file, bit for bit.
``TestOnlyTensor`` makes the IMAGE tensors no core node makes (zero width, empty batch, NaN, five
channels, a missing batch axis), so the tests can feed them to the pack's IMAGE inputs inside a real
ComfyUI. It is never installed with the pack.
"""

import torch


class TestOnlyTensor:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "shape": ("STRING", {"default": "1,64,64,3"}),
            "fill": ("STRING", {"default": "0.5"}),  # any float() text: 0.5, nan, inf, -inf
            "dtype": (["float32", "float16", "uint8"],),
        }}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, shape, fill, dtype):
        dims = [int(part) for part in shape.split(",") if part.strip()]
        value = float(fill)
        if dtype == "uint8":
            return (torch.full(dims, int(value) if value == value else 0, dtype=torch.uint8),)
        return (torch.full(dims, value, dtype=getattr(torch, dtype)),)


class TestOnlyImageDigest:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "digest"
    CATEGORY = "testing"

    def digest(self, images):
        import hashlib

        data = images.contiguous().to(torch.float32).numpy().tobytes()
        return (f"{tuple(images.shape)} {hashlib.sha256(data).hexdigest()}",)


NODE_CLASS_MAPPINGS = {"TestOnlyTensor": TestOnlyTensor, "TestOnlyImageDigest": TestOnlyImageDigest}
NODE_DISPLAY_NAME_MAPPINGS = {"TestOnlyTensor": "Test-only tensor", "TestOnlyImageDigest": "Test-only image digest"}
