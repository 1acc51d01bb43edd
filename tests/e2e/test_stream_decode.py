"""Issue 20 end to end: a video node's frames decoded while its MP4 downloads, in a real ComfyUI (each host).

The sandbox serves results as big as real ones (a constant bit rate), paced like a home link, with the index
(moov) last or first; the frames reach a test-only node that shows their SHA-256, compared with a decode of
the saved file in this process. Faults mid-body must still give the whole video's frames; Cancel mid-download
must leave no partial file.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from nodes.media.video_decode import decode_frames
from nodes.media.video_plan import DecodeOptions
from tests.e2e.pack_helpers import calls_at, example_prompt, node_of_type, preview_text

EXAMPLE = "luma_ray32_text_to_video"
T2V = "LumaFalRay32TextToVideo"
# 6 Mbit/s: a 540p 5 s result of about 3.8 MB, so it arrives in several chunks, paced at 2 MB/s.
LINK = {"video_bitrate": 6e6, "download_bytes_per_second": 2e6, "queue_seconds": 0.1, "run_seconds": 0.1}


def _prompt(comfy, **inputs) -> tuple[dict, str, str]:
    prompt = example_prompt(comfy, EXAMPLE, **{T2V: inputs})
    prompt = {nid: n for nid, n in prompt.items() if n["class_type"] != "SaveVideo"}
    t2v_id, _ = node_of_type(prompt, T2V)
    prompt["80"] = {"class_type": "TestOnlyImageDigest", "inputs": {"images": [t2v_id, 1]}}
    prompt["81"] = {"class_type": "PreviewAny", "inputs": {"source": ["80", 0]}}
    prompt["82"] = {"class_type": "PreviewAny", "inputs": {"source": [t2v_id, 2]}}
    return prompt, "81", "82"


def _digest(path: Path, options: DecodeOptions) -> str:
    frames = decode_frames(path, options)
    return f"{tuple(frames.shape)} {hashlib.sha256(frames.numpy().tobytes()).hexdigest()}"


def _no_part_files(comfy) -> list[Path]:
    return list((comfy.output_dir / "luma-fal").glob("*.part"))


@pytest.mark.parametrize("layout", ["moov_last", "moov_first"])
def test_frames_decoded_while_downloading_are_the_saved_files(comfy_guarded, comfy_sandbox, layout) -> None:
    comfy_sandbox.configure(mp4_layout=layout, **LINK)
    prompt, digest_id, path_id = _prompt(comfy_guarded, frames_cap=50, frames_every_nth=2, frames_height=270)
    result = comfy_guarded.run(prompt)
    assert result.ok, result.describe()
    path = Path(preview_text(result, path_id))
    options = DecodeOptions(frame_cap=50, every_nth=2, height=270)
    assert preview_text(result, digest_id) == _digest(path, options)
    assert preview_text(result, digest_id).startswith("(50, 270, 480, 3)")
    calls = comfy_sandbox.log()
    ranges = [c for c in calls_at(calls, "download") if c.get("status") == 206]
    assert len(ranges) == (1 if layout == "moov_last" else 0)  # the index fetched early when it comes last
    # The status stream said COMPLETED: no status poll follows it before the result is read.
    assert calls_at(calls, "status") == []
    assert _no_part_files(comfy_guarded) == []


def test_a_reset_mid_body_and_a_server_ignoring_range_still_give_whole_frames(comfy_guarded, comfy_sandbox) -> None:
    comfy_sandbox.configure(**LINK)
    comfy_sandbox.inject({"point": "download", "kind": "drop", "fraction": 0.6},
                         {"point": "download", "kind": "ignore_range", "times": 5})
    prompt, digest_id, path_id = _prompt(comfy_guarded)
    result = comfy_guarded.run(prompt)
    assert result.ok, result.describe()
    path = Path(preview_text(result, path_id))
    assert preview_text(result, digest_id) == _digest(path, DecodeOptions())
    assert preview_text(result, digest_id).startswith("(121, 540, 960, 3)")
    faults = [c.get("fault") for c in calls_at(comfy_sandbox.log(), "download")]
    assert "drop" in faults and "ignore_range" in faults
    assert _no_part_files(comfy_guarded) == []


def test_cancel_mid_download_stops_the_decode_and_leaves_no_partial_file(comfy_guarded, comfy_sandbox) -> None:
    comfy_sandbox.configure(**{**LINK, "download_bytes_per_second": 400_000})  # about 10 s for the file
    prompt, _, _ = _prompt(comfy_guarded)
    run = comfy_guarded.submit(prompt)
    run.wait_for_event(lambda e: e.type == "luma_fal.status" and e.data.get("phase") == "downloading", timeout=120)
    time.sleep(1.0)  # some bytes landed and the decoder is reading them
    comfy_guarded.interrupt()
    result = run.wait(120)
    assert result.status in ("interrupted", "error"), result.describe()
    assert _no_part_files(comfy_guarded) == []
    # The node is usable right after: the same graph runs to the end (its paid result is reused, not re-bought).
    comfy_sandbox.configure(download_bytes_per_second=None)
    again = comfy_guarded.run(prompt)
    assert again.ok, again.describe()
