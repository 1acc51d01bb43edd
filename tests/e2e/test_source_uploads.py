"""What fal receives for sources and keyframes is what the node was given, and a run stopped or timed out while
its inputs go up submits nothing.

The frames come from a clip this test writes (each frame distinct), loaded by the pack's LumaFalVideoToFrames;
the test decodes the same clip itself (the frames the node was given) and the file the sandbox received (what
fal would get), and compares them frame by frame.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.pack_helpers import calls_at, unique_text

V2V, I2V = "LumaFalRay32VideoToVideo", "LumaFalRay32ImageToVideo"
FRAMES, WIDTH, HEIGHT = 48, 160, 96


def _write_clip(path: Path, frames: int = FRAMES) -> Path:
    """Distinct frames: a moving bar and a brightness step per frame over a gradient, H.264 at CRF 0."""
    import av

    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for index in range(frames):
            rgb = np.stack([(x * 255 // WIDTH), (y * 255 // HEIGHT), np.full_like(x, (index * 5) % 256)], -1)
            rgb[:, (index * 3) % WIDTH:(index * 3) % WIDTH + 6] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _decoded(path: Path) -> np.ndarray:
    from nodes.media.video_decode import decode_frames

    return decode_frames(path).numpy()


def _frames_graph(clip: str, node: str, inputs: dict[str, Any]) -> dict[str, Any]:
    common = {"prompt": unique_text("source upload"), "seed": 0, "resolution": "540p", "duration": "5s",
              "hdr": False, "exr_export": False, "max_queue_wait": 600, "max_total_time": 1800, "takes": 1}
    return {
        "1": {"class_type": "LumaFalVideoToFrames", "inputs": {"path": f"{clip} [input]", "start_frame": 0,
                                                                "frame_cap": 0, "every_nth": 1, "height": 0}},
        "9": {"class_type": node, "inputs": {**common, **inputs}},
    }


def _v2v(clip: str, **extra: Any) -> dict[str, Any]:
    graph = _frames_graph(clip, V2V, {"edit_strength": "auto", "controls": "auto", "source_frames": ["1", 0],
                                      "source_fps": ["1", 1]})
    graph["9"]["inputs"].update(extra)
    return graph


@pytest.fixture
def clip(comfy: Any) -> str:
    name = f"{unique_text('frames').replace(' ', '-')}.mp4"
    _write_clip(Path(comfy.input_dir) / name)
    (Path(comfy.user_dir) / "comfyui-luma-fal" / "upload-cache.json").unlink(missing_ok=True)
    return name


def test_the_source_fal_receives_is_frame_for_frame_the_frames_given(comfy: Any, comfy_sandbox: Any,
                                                                     clip: str, tmp_path: Path) -> None:
    result = comfy.run(_v2v(clip))
    assert result.ok, result.describe()
    payload = calls_at(comfy_sandbox.log(), "submit")[0]["payload"]
    received = tmp_path / "received.mp4"
    received.write_bytes(httpx.get(payload["video_url"], trust_env=False, timeout=60).content)
    given, sent = _decoded(Path(comfy.input_dir) / clip), _decoded(received)
    assert sent.shape == given.shape  # every frame, at the size given
    for index in range(FRAMES):
        errors = ((given - sent[index]) ** 2).mean(axis=(1, 2, 3))
        assert int(errors.argmin()) == index, f"frame {index} of the upload looks like frame {errors.argmin()}"
        psnr = 10 * np.log10(1.0 / max(float(errors[index]), 1e-12))
        assert psnr >= 38.0, f"frame {index}: PSNR {psnr:.1f} dB"


def test_keyframes_keep_their_order_and_positions(comfy: Any, comfy_sandbox: Any, clip: str) -> None:
    import io

    from PIL import Image

    positions = "0, 7, 30, 61, 120"
    graph = _frames_graph(clip, I2V, {"aspect_ratio": "16:9", "loop": False, "keyframes": ["2", 0],
                                      "keyframe_positions": positions})
    graph["1"]["inputs"]["frame_cap"] = 5
    graph["2"] = {"class_type": "ImageFromBatch", "inputs": {"image": ["1", 0], "batch_index": 0, "length": 5}}
    result = comfy.run(graph)
    assert result.ok, result.describe()
    payload = calls_at(comfy_sandbox.log(), "submit")[0]["payload"]
    assert payload["keyframe_indexes"] == [0, 7, 30, 61, 120]
    given = _decoded(Path(comfy.input_dir) / clip)[:5]
    for index, url in enumerate(payload["keyframes"]):
        with Image.open(io.BytesIO(httpx.get(url, trust_env=False, timeout=60).content)) as image:
            sent = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        errors = ((given - sent) ** 2).mean(axis=(1, 2, 3))
        assert int(errors.argmin()) == index, f"keyframe {index} sent looks like frame {errors.argmin()}"


def _when_uploading(comfy_sandbox: Any) -> None:
    for _ in range(2400):
        if [c for c in comfy_sandbox.log() if c.get("point") == "upload" and c["method"] in ("POST", "PUT")
                and "/files/" in c["path"]]:
            return
        time.sleep(0.05)
    raise AssertionError("no upload began")


def test_cancel_while_the_source_goes_up_submits_nothing(comfy: Any, comfy_sandbox: Any, clip: str) -> None:
    comfy_sandbox.configure(upload_bytes_per_second=200)  # the source takes minutes to go up
    run = comfy.submit(_v2v(clip))
    _when_uploading(comfy_sandbox)
    comfy.interrupt()
    result = run.wait(timeout=120)
    assert result.status == "interrupted", result.describe()
    said = [s.get("text", "") for s in result.statuses if s.get("phase") == "cancelled"]
    assert said and "Nothing was submitted" in said[-1], said
    assert calls_at(comfy_sandbox.log(), "submit") == []


def test_the_deadline_while_the_source_goes_up_submits_nothing(comfy: Any, comfy_sandbox: Any, clip: str) -> None:
    comfy_sandbox.configure(upload_bytes_per_second=200)  # longer than the deadline
    result = comfy.run(_v2v(clip, max_total_time=30))  # the least the node takes
    assert not result.ok and "nothing is billed" in result.describe(), result.describe()
    assert calls_at(comfy_sandbox.log(), "submit") == []
