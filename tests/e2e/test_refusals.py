"""Every rule of the endpoints, refused inside a real ComfyUI before anything reaches fal.

Each case runs an example workflow with one thing wrong and checks three things: the run fails in the
right node, the message names the node's input and the rule, and the sandbox saw no call at all (no
upload, no submit), so nothing was billed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.pack_helpers import example_prompt, node_of_type

Prompt = dict[str, Any]


def _set(class_type: str, **inputs: Any) -> Callable[[Prompt], None]:
    def mutate(prompt: Prompt) -> None:
        node_of_type(prompt, class_type)[1]["inputs"].update(inputs)
    return mutate


def _drop(class_type: str, input_name: str) -> Callable[[Prompt], None]:
    def mutate(prompt: Prompt) -> None:
        del node_of_type(prompt, class_type)[1]["inputs"][input_name]
    return mutate


def _batch_into(class_type: str, input_name: str, amount: int, source: str = "LoadImage") -> Callable[[Prompt], None]:
    """Feed ``amount`` copies of the workflow's image (or a fresh LoadImage) into ``input_name``."""
    def mutate(prompt: Prompt) -> None:
        prompt["70"] = {"class_type": "LoadImage", "inputs": {"image": "example.png"}}
        prompt["71"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["70", 0], "amount": amount}}
        node_of_type(prompt, class_type)[1]["inputs"][input_name] = ["71", 0]
    return mutate


def _both(*mutations: Callable[[Prompt], None]) -> Callable[[Prompt], None]:
    def mutate(prompt: Prompt) -> None:
        for m in mutations:
            m(prompt)
    return mutate


T2V, I2V, V2V, REFRAME = ("LumaFalRay32TextToVideo", "LumaFalRay32ImageToVideo", "LumaFalRay32VideoToVideo",
                          "LumaFalRay32Reframe")
UNI, EDIT = "LumaFalUni1TextToImage", "LumaFalUni1ImageEdit"

CASES: list[tuple[str, str, str, Callable[[Prompt], None], list[str]]] = [
    # (id, example, node, mutation, words the message must contain)
    ("prompt-too-long", "luma_ray32_text_to_video", T2V, _set(T2V, prompt="x" * 6001), ["prompt:", "6000"]),
    ("prompt-blank", "luma_ray32_text_to_video", T2V, _set(T2V, prompt=" \n "), ["prompt:"]),
    ("t2v-hdr-10s", "luma_ray32_text_to_video", T2V, _set(T2V, hdr=True, resolution="720p", duration="10s"),
     ["hdr:", "5s"]),
    ("loop-with-hdr", "luma_ray32_text_to_video", T2V, _set(T2V, loop=True, hdr=True, resolution="1080p"),
     ["loop:"]),
    ("exr-without-hdr", "luma_ray32_text_to_video", T2V, _set(T2V, exr_export=True), ["exr_export:"]),
    ("i2v-no-image", "luma_ray32_image_to_video", I2V, _drop(I2V, "start_image"), ["start_image"]),
    ("i2v-10s-single-image", "luma_ray32_image_to_video", I2V, _set(I2V, duration="10s"), ["duration:", "10s"]),
    ("loop-with-end-frame", "luma_ray32_image_to_video", I2V,
     _both(_set(I2V, loop=True), _batch_into(I2V, "end_image", 1)), ["loop:"]),
    ("start-image-is-a-batch", "luma_ray32_image_to_video", I2V, _batch_into(I2V, "start_image", 2),
     ["start_image:", "one image"]),
    ("start-image-and-keyframes", "luma_ray32_image_to_video", I2V, _batch_into(I2V, "keyframes", 2),
     ["keyframes"]),
    ("keyframe-out-of-range", "luma_ray32_keyframes", I2V, _set(I2V, keyframe_positions="0, 130"),
     ["keyframe_positions", "120"]),
    ("keyframe-duplicate", "luma_ray32_keyframes", I2V, _set(I2V, keyframe_positions="60, 2.5s"),
     ["keyframe_positions"]),
    ("keyframe-count-mismatch", "luma_ray32_keyframes", I2V, _set(I2V, keyframe_positions="0, 60, 120"),
     ["keyframe_positions:", "3 position"]),
    ("keyframe-not-a-number", "luma_ray32_keyframes", I2V, _set(I2V, keyframe_positions="start, 5s"),
     ["keyframe_positions:", "start"]),
    ("too-many-keyframes", "luma_ray32_keyframes", I2V, _both(_batch_into(I2V, "keyframes", 65), _set(I2V, keyframe_positions="")), ["keyframes", "64"]),
    ("loop-with-keyframes", "luma_ray32_keyframes", I2V, _set(I2V, loop=True), ["loop:"]),
    ("v2v-source-too-long", "luma_ray32_video_to_video", V2V, _set(V2V, source_fps=2.0), ["video:", "18"]),
    ("v2v-no-source", "luma_ray32_video_to_video", V2V, _drop(V2V, "source_frames"), ["video"]),
    ("v2v-hdr-at-540p", "luma_ray32_video_to_video", V2V, _set(V2V, hdr=True), ["hdr:"]),
    ("reframe-box-outside", "luma_ray32_reframe", REFRAME,
     _set(REFRAME, place_source=True, source_x=0.5, source_w=0.8), ["place_source"]),
    ("reframe-source-too-long", "luma_ray32_reframe", REFRAME, _set(REFRAME, source_fps=1.0), ["video:", "10"]),
    ("uni1-too-many-references", "luma_uni1_text_to_image", UNI, _batch_into(UNI, "references", 10),
     ["references:", "9"]),
    ("edit-too-many-references", "luma_uni1_image_edit", EDIT, _batch_into(EDIT, "references", 9),
     ["references:", "8"]),
    ("edit-source-is-a-batch", "luma_uni1_image_edit", EDIT, _batch_into(EDIT, "image", 2),
     ["image:", "one image"]),
    ("uni1-blank-prompt", "luma_uni1_text_to_image", UNI, _set(UNI, prompt=""), ["prompt:"]),
]


@pytest.mark.parametrize(("example", "node", "mutate", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_is_refused_before_anything_is_sent(comfy, comfy_sandbox, example, node, mutate, words) -> None:
    prompt = example_prompt(comfy, example)
    mutate(prompt)
    result = comfy.run(prompt)
    assert result.status == "error", result.describe()
    error = result.error
    assert error["node_type"] == node, result.describe()
    message = error["exception_message"]
    assert "nothing was sent to fal" in message, message
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    assert comfy_sandbox.log() == [], "a refused request still reached the sandbox"
