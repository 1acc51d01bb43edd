"""Issue 2's slice end to end: the text-to-video example in a real ComfyUI (each host), the sandbox as fal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.pack_helpers import calls_at, example_prompt, mp4_facts, node_of_type, preview_text

EXAMPLE = "luma_ray32_text_to_video"


def test_example_workflow_makes_a_real_mp4_with_frames_path_and_video(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, EXAMPLE)
    t2v_id, t2v = node_of_type(prompt, "LumaFalRay32TextToVideo")
    result = comfy.run(prompt)
    assert result.ok, result.describe()

    # The MP4 the node saved: path output shown by PreviewAny, file under ComfyUI's output folder.
    path_node = next(nid for nid, n in prompt.items()
                     if n["class_type"] == "PreviewAny" and n["inputs"]["source"][0] == t2v_id
                     and n["inputs"]["source"][1] == 2)
    path = Path(preview_text(result, path_node))
    assert path.is_file() and path.is_relative_to(comfy.output_dir / "luma-fal"), path
    facts = mp4_facts(path)
    assert facts == {"frames": 121, "width": 960, "height": 540, "fps": 24.0, "codec": "h264"}

    # Frames output through a downstream node: GetImageSize -> PreviewAny(batch_size).
    size_id, _ = node_of_type(prompt, "GetImageSize")
    count_node = next(nid for nid, n in prompt.items()
                      if n["class_type"] == "PreviewAny" and n["inputs"]["source"][0] == size_id)
    assert preview_text(result, count_node) == "121"

    # VIDEO into core's SaveVideo: it wrote its own copy, readable as the same clip.
    save_id, _ = node_of_type(prompt, "SaveVideo")
    saved = [comfy.output_path(f) for f in result.files(save_id)]
    assert len(saved) == 1 and saved[0].is_file()
    assert mp4_facts(saved[0])["frames"] == 121

    # The request the sandbox received is exactly the node's widgets, with nothing else in it.
    submitted = calls_at(comfy_sandbox.log(), "submit")
    assert len(submitted) == 1
    assert submitted[0]["endpoint_id"] == "luma/agent/ray/v3.2/text-to-video"
    assert submitted[0]["payload"] == {
        "prompt": t2v["inputs"]["prompt"], "aspect_ratio": "16:9", "resolution": "540p", "duration": "5s",
        "loop": False, "hdr": False, "exr_export": False,
    }


def test_ten_seconds_portrait_720p_gives_241_frames_of_the_right_size(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, EXAMPLE, LumaFalRay32TextToVideo={
        "duration": "10s", "aspect_ratio": "9:16", "resolution": "720p"})
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    node_id, _ = node_of_type(prompt, "LumaFalRay32TextToVideo")
    mp4 = [comfy.output_path(f) for f in result.files(node_id)]
    assert len(mp4) == 1
    assert mp4_facts(mp4[0]) == {"frames": 241, "width": 720, "height": 1280, "fps": 24.0, "codec": "h264"}


def test_node_reports_queue_and_running_phases_live(comfy, comfy_sandbox) -> None:
    comfy_sandbox.configure(queue_seconds=1.2, run_seconds=1.5)
    prompt = example_prompt(comfy, EXAMPLE)
    node_id, _ = node_of_type(prompt, "LumaFalRay32TextToVideo")
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    mine = [s for s in result.statuses if s.get("node") == node_id]
    phases = [s["phase"] for s in mine]
    assert "in_queue" in phases and "running" in phases and phases[-1] == "done", phases
    assert any(s.get("queue_position") is not None for s in mine if s["phase"] == "in_queue")
    assert any(s.get("logs") for s in mine if s["phase"] == "running"), "fal's log lines never reached the node"
    assert all(s.get("request_id") for s in mine if s["phase"] in ("running", "done"))
    texts = [s["text"] for s in mine]
    assert any(t.startswith("In queue, position") for t in texts) and any(t.startswith("Running") for t in texts)
    assert texts[-1].startswith("Done in"), texts


def test_frames_are_not_decoded_when_the_frames_output_is_unconnected(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, EXAMPLE)
    for nid in [nid for nid, n in prompt.items() if n["class_type"] in ("GetImageSize", "PreviewAny")]:
        del prompt[nid]
    before = comfy.log_text().count("luma-fal: decoded ")
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    assert comfy.log_text().count("luma-fal: decoded ") == before, "the node decoded frames nobody reads"

    # Connecting frames afterwards re-runs the node from its saved result: frames arrive, no second submit.
    submits_before = len(calls_at(comfy_sandbox.log(), "submit"))
    node_id, _ = node_of_type(prompt, "LumaFalRay32TextToVideo")
    prompt["90"] = {"class_type": "GetImageSize", "inputs": {"image": [node_id, 1]}}
    prompt["91"] = {"class_type": "PreviewAny", "inputs": {"source": ["90", 2]}}
    again = comfy.run(prompt)
    assert again.ok, again.describe()
    assert preview_text(again, "91") == "121"
    assert len(calls_at(comfy_sandbox.log(), "submit")) == submits_before
    # The decode is logged by the time its run ends: so the unchanged count above means "not decoded",
    # not "not logged yet".
    assert comfy.log_text().count("luma-fal: decoded ") == before + 1


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"prompt": "   "}, "prompt"),
        ({"loop": True, "duration": "10s"}, "loop"),
        ({"hdr": True, "resolution": "540p"}, "hdr"),
        ({"exr_export": True}, "exr_export"),
    ],
    ids=["empty-prompt", "loop-with-10s", "hdr-at-540p", "exr-without-hdr"],
)
def test_bad_input_fails_readably_and_sends_nothing(comfy, comfy_sandbox, inputs, expected) -> None:
    prompt = example_prompt(comfy, EXAMPLE, LumaFalRay32TextToVideo=inputs)
    result = comfy.run(prompt)
    assert result.status == "error", result.describe()
    error = result.error
    assert error["node_type"] == "LumaFalRay32TextToVideo"
    message = error["exception_message"]
    assert "nothing was sent to fal" in message and f"{expected}:" in message, message
    assert comfy_sandbox.log() == [], "a refused request still reached the sandbox"


def test_running_status_estimates_what_remains_from_the_last_run(comfy, comfy_sandbox) -> None:
    comfy_sandbox.configure(queue_seconds=0.2, run_seconds=2.5)
    settings = {"LumaFalRay32TextToVideo": {"resolution": "720p", "aspect_ratio": "21:9"}}  # a kind of its own
    first = comfy.run(example_prompt(comfy, EXAMPLE, **settings))
    assert first.ok, first.describe()
    second = comfy.run(example_prompt(comfy, EXAMPLE, **settings))
    assert second.ok, second.describe()
    running = [s["text"] for s in second.statuses if s.get("phase") == "running"]
    assert any("s left (last run took" in t for t in running), running
