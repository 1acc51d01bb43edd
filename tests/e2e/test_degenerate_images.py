"""Degenerate IMAGE tensors given to any IMAGE input of the pack are refused, naming the input, before
anything is encoded, uploaded or sent.

The tensors come from the test-only node pack (tests/e2e/test_only_nodes.py.txt), which the ``comfy_guarded``
ComfyUI loads: core nodes never make a zero-width image, an empty batch or NaN pixels.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.pack_helpers import unique_text

T2V, I2V, V2V, REFRAME = ("LumaFalRay32TextToVideo", "LumaFalRay32ImageToVideo", "LumaFalRay32VideoToVideo",
                          "LumaFalRay32Reframe")
UNI, EDIT = "LumaFalUni1TextToImage", "LumaFalUni1ImageEdit"

# Every IMAGE input of every pack node: (node, input).
IMAGE_INPUTS = [
    (T2V, "reference_images"), (I2V, "start_image"), (I2V, "end_image"), (I2V, "keyframes"),
    (V2V, "source_frames"), (V2V, "start_image"), (V2V, "keyframes"), (REFRAME, "source_frames"),
    (UNI, "references"), (EDIT, "image"), (EDIT, "references"),
]

# (id, TestOnlyTensor inputs, words the message must contain)
DEGENERATE = [
    ("zero-width", {"shape": "1,64,0,3"}, ["0x64", "at least 1"]),
    ("zero-height", {"shape": "1,0,64,3"}, ["64x0", "at least 1"]),
    ("empty-batch", {"shape": "0,64,64,3"}, ["empty", "0 images"]),
    ("nan", {"fill": "nan"}, ["NaN"]),
    ("inf", {"fill": "inf"}, ["infinite"]),
    ("five-channels", {"shape": "1,64,64,5"}, ["5 channels", "1 to 4"]),
    ("zero-channels", {"shape": "1,64,64,0"}, ["0 channels", "1 to 4"]),
    ("no-batch-axis", {"shape": "64,64,3"}, ["3 dimensions"]),
    ("five-dims", {"shape": "1,1,64,64,3"}, ["5 dimensions"]),
    ("integers", {"dtype": "uint8"}, ["uint8", "floating-point"]),
]

BASE_INPUTS: dict[str, dict[str, Any]] = {
    T2V: {"aspect_ratio": "16:9", "resolution": "540p", "duration": "5s", "loop": False, "hdr": False,
          "exr_export": False},
    I2V: {"aspect_ratio": "16:9", "resolution": "540p", "duration": "5s", "loop": False, "hdr": False,
          "exr_export": False},
    V2V: {"edit_strength": "auto", "controls": "auto", "resolution": "540p", "duration": "5s", "hdr": False,
          "exr_export": False},
    REFRAME: {"aspect_ratio": "9:16", "resolution": "540p", "place_source": False},
    UNI: {"model": "uni-1", "aspect_ratio": "1:1", "style": "auto", "output_format": "png", "web_search": False},
    EDIT: {"model": "uni-1", "style": "auto", "output_format": "png"},
}


def degenerate_prompt(node: str, image_input: str, tensor: dict[str, Any]) -> dict[str, Any]:
    inputs = {"prompt": unique_text("degenerate input"), "seed": 0, **BASE_INPUTS[node],
              image_input: ["1", 0]}
    if node == EDIT and image_input != "image":
        inputs["image"] = ["2", 0]
    return {
        "1": {"class_type": "TestOnlyTensor", "inputs": {"shape": "1,64,64,3", "fill": "0.5", "dtype": "float32",
                                                          **tensor}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "5": {"class_type": node, "inputs": inputs},
    }


def assert_refused(comfy_guarded: Any, comfy_sandbox: Any, node: str, image_input: str,
                   tensor: dict[str, Any], words: list[str]) -> None:
    result = comfy_guarded.run(degenerate_prompt(node, image_input, tensor))
    assert result.status == "error", result.describe()
    error = result.error
    assert error["node_type"] == node, result.describe()
    message = error["exception_message"]
    assert "nothing was sent to fal" in message, message
    assert f"{image_input}: " in message, message
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    assert "Traceback" not in message
    assert comfy_sandbox.log() == [], "a refused request still reached the sandbox"


@pytest.mark.parametrize(("tensor", "words"), [c[1:] for c in DEGENERATE], ids=[c[0] for c in DEGENERATE])
def test_each_degenerate_tensor_is_refused(comfy_guarded, comfy_sandbox, tensor, words) -> None:
    assert_refused(comfy_guarded, comfy_sandbox, I2V, "start_image", tensor, words)


@pytest.mark.parametrize(("node", "image_input"), IMAGE_INPUTS, ids=[f"{n[len('LumaFal'):]}-{i}" for n, i in IMAGE_INPUTS])
def test_every_image_input_refuses_a_degenerate_tensor(comfy_guarded, comfy_sandbox, node, image_input) -> None:
    # A different kind of degenerate tensor for each input, so every kind also meets several nodes.
    _, tensor, words = DEGENERATE[IMAGE_INPUTS.index((node, image_input)) % len(DEGENERATE)]
    assert_refused(comfy_guarded, comfy_sandbox, node, image_input, tensor, words)


def test_image_inputs_match_the_schemas(comfy_guarded) -> None:
    """The list above is every IMAGE input the pack's nodes declare (so a new one cannot be missed)."""
    info = comfy_guarded.client.object_info()
    declared = {(node, name) for node in BASE_INPUTS
                for section in ("required", "optional")
                for name, spec in info[node]["input"].get(section, {}).items() if spec[0] == "IMAGE"}
    assert declared == set(IMAGE_INPUTS)


def test_grey_alpha_frames_go_up_as_a_video(comfy_guarded, comfy_sandbox) -> None:
    """Two channels (grey + alpha) are a picture: source frames of that shape are encoded and sent."""
    prompt = degenerate_prompt(REFRAME, "source_frames", {"shape": "24,64,64,2"})
    result = comfy_guarded.run(prompt)
    assert result.ok, result.describe()
    assert [c for c in comfy_sandbox.log() if c.get("point") == "submit"]
