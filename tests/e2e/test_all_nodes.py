"""Issue 3 end to end: every node and every example workflow in a real ComfyUI (each host), the sandbox as
fal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.pack_helpers import calls_at, example_prompt, mp4_facts, node_of_type, preview_text
from tools.layout import DEFAULT_HOST, PACK_DIR_NAME, REPO
from tools.make_examples import check_nodes, render

EXAMPLES = sorted(p.stem for p in (REPO / "example_workflows").glob("*.json"))


def _example_node_types() -> set[str]:
    return {n["type"] for name in EXAMPLES
            for n in json.loads((REPO / "example_workflows" / f"{name}.json").read_text())["nodes"]}


def test_every_node_has_an_example() -> None:
    used = _example_node_types()
    expected = {"LumaFalRay32TextToVideo", "LumaFalRay32ImageToVideo", "LumaFalRay32VideoToVideo",
                "LumaFalRay32Reframe", "LumaFalUni1TextToImage", "LumaFalUni1ImageEdit", "LumaFalVideoToFrames"}
    assert expected <= used, expected - used


def test_examples_are_what_the_generator_makes_from_the_oldest_host(comfy) -> None:
    # tools/make_examples.py writes the files from the oldest host's /object_info (so they load there) and
    # refuses any node another host lacks or deprecates. On the oldest host the files are compared with what
    # it renders; on every other host, the generator's refusal runs against that host's /object_info (no
    # second ComfyUI is started for the oldest one: its own run compares the files).
    info = comfy.client.object_info()
    if comfy.server.version != DEFAULT_HOST:
        check_nodes(_example_node_types(), [info])
        return
    rendered = render([info])
    assert sorted(rendered) == EXAMPLES
    for name, workflow in rendered.items():
        assert json.loads((REPO / "example_workflows" / f"{name}.json").read_text()) == workflow, (
            f"example_workflows/{name}.json is stale: run tools/make_examples.py")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_loads_without_deprecated_nodes_and_runs_against_the_sandbox(comfy, comfy_sandbox, name):
    # Loaded as the template browser loads it, from this server's template route.
    listed = comfy.client.get_json("/api/workflow_templates")
    assert name in listed[PACK_DIR_NAME], listed
    workflow = comfy.client.get_json(f"/api/workflow_templates/{PACK_DIR_NAME}/{name}.json")
    assert workflow == comfy.example_workflow(name)
    object_info = comfy.client.object_info()
    deprecated = sorted({n["type"] for n in workflow["nodes"] if object_info[n["type"]].get("deprecated")})
    assert deprecated == [], f"{name} uses nodes ComfyUI {comfy.server.version} deprecates: {deprecated}"
    prompt = example_prompt(comfy, name)
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    generating = [nid for nid, n in prompt.items()
                  if n["class_type"].startswith("LumaFal") and n["class_type"] != "LumaFalVideoToFrames"]
    submitted = calls_at(comfy_sandbox.log(), "submit")
    assert len(submitted) == len(generating), [c.get("endpoint_id") for c in submitted]
    # Every file a node put in the UI exists in ComfyUI's output folder and is non-empty.
    for nid in generating:
        files = [comfy.output_path(f) for f in result.files(nid)]
        assert files and all(f.is_file() and f.stat().st_size > 0 for f in files), (nid, files)


@pytest.fixture
def fresh_upload_cache(comfy):
    """Forget earlier uploads, so this test sees every upload its run makes."""
    (comfy.user_dir / "comfyui-luma-fal" / "upload-cache.json").unlink(missing_ok=True)


def _only_file(comfy, result, node_id: str) -> Path:
    files = [comfy.output_path(f) for f in result.files(node_id)]
    assert len(files) == 1, files
    return files[0]


def test_image_to_video_uploads_the_start_frame_and_animates_it(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, "luma_ray32_image_to_video",
                            LumaFalRay32ImageToVideo={"aspect_ratio": "1:1", "resolution": "720p"})
    node_id, _ = node_of_type(prompt, "LumaFalRay32ImageToVideo")
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    calls = comfy_sandbox.log()
    submitted = calls_at(calls, "submit")[0]["payload"]
    assert submitted["image_url"].startswith(comfy_sandbox.url), submitted
    assert "end_image_url" not in submitted and "keyframes" not in submitted
    facts = mp4_facts(_only_file(comfy, result, node_id))
    assert (facts["frames"], facts["width"], facts["height"], facts["fps"]) == (121, 720, 720, 24.0)


def test_keyframes_batch_becomes_urls_and_frame_indexes(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, "luma_ray32_keyframes",
                            LumaFalRay32ImageToVideo={"duration": "10s", "keyframe_positions": "0, 10s"})
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    payload = calls_at(comfy_sandbox.log(), "submit")[0]["payload"]
    assert payload["keyframe_indexes"] == [0, 240]
    assert len(payload["keyframes"]) == 2 and len(set(payload["keyframes"])) == 2  # two different images
    node_id, _ = node_of_type(prompt, "LumaFalRay32ImageToVideo")
    assert mp4_facts(_only_file(comfy, result, node_id))["frames"] == 241


def test_video_to_video_uploads_frames_as_one_h264_mp4(comfy, comfy_sandbox, fresh_upload_cache) -> None:
    prompt = example_prompt(comfy, "luma_ray32_video_to_video",
                            LumaFalRay32VideoToVideo={"edit_strength": "flex_2", "controls": "chosen",
                                                      "control_pose": True})
    node_id, _ = node_of_type(prompt, "LumaFalRay32VideoToVideo")
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    calls = comfy_sandbox.log()
    uploads = calls_at(calls, "upload")
    assert len(uploads) == 1 and uploads[0]["upload"]["content_type"] == "video/mp4", uploads
    payload = calls_at(calls, "submit")[0]["payload"]
    assert payload["edit_strength"] == "flex_2"
    assert payload["controls"] == {"pose": True, "depth": False, "normals": False, "trajectory": False,
                                   "face": False}
    assert "auto_controls" not in payload
    assert mp4_facts(_only_file(comfy, result, node_id))["fps"] == 24.0


def test_reframe_outputs_the_target_aspect_ratio(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, "luma_ray32_reframe", LumaFalRay32Reframe={
        "aspect_ratio": "9:16", "place_source": True, "source_x": 0.0, "source_y": 0.25, "source_w": 1.0,
        "source_h": 0.5})
    node_id, _ = node_of_type(prompt, "LumaFalRay32Reframe")
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    payload = calls_at(comfy_sandbox.log(), "submit")[0]["payload"]
    assert payload["source_position"] == {"x_norm": 0.0, "y_norm": 0.25, "w_norm": 1.0, "h_norm": 0.5}
    facts = mp4_facts(_only_file(comfy, result, node_id))
    assert (facts["width"], facts["height"]) == (540, 960)


@pytest.mark.parametrize(("model", "endpoint"), [("uni-1", "luma/agent/uni-1/v1/text-to-image"),
                                                 ("uni-1 max", "luma/agent/uni-1/v1/max")])
def test_uni1_text_to_image_returns_rgb_images_of_the_aspect_ratio(comfy, comfy_sandbox, model, endpoint) -> None:
    prompt = example_prompt(comfy, "luma_uni1_text_to_image", LumaFalUni1TextToImage={
        "model": model, "aspect_ratio": "16:9", "output_format": "jpeg"})
    node_id, _ = node_of_type(prompt, "LumaFalUni1TextToImage")
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    submitted = calls_at(comfy_sandbox.log(), "submit")[0]
    assert submitted["endpoint_id"] == endpoint and "model" not in submitted["payload"]
    saved = _only_file(comfy, result, node_id)
    with Image.open(saved) as img:
        assert img.format == "JPEG" and img.mode == "RGB"
        assert abs(img.width / img.height - 16 / 9) < 0.02
    # The IMAGE output reached PreviewImage as one RGB image of the same size.
    preview_id, _ = node_of_type(prompt, "PreviewImage")
    previews = result.files(preview_id)
    assert len(previews) == 1
    with Image.open(io.BytesIO(comfy.view(previews[0]))) as shown, Image.open(saved) as img:
        assert shown.size == img.size and shown.mode == "RGB"


def test_image_edit_uploads_source_and_references(comfy, comfy_sandbox, fresh_upload_cache) -> None:
    prompt = example_prompt(comfy, "luma_uni1_image_edit")
    edit_id, edit = node_of_type(prompt, "LumaFalUni1ImageEdit")
    # Two references: the source image inverted, twice (a batch of two).
    prompt["80"] = {"class_type": "ImageInvert", "inputs": {"image": edit["inputs"]["image"]}}
    prompt["81"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["80", 0], "amount": 2}}
    edit["inputs"]["references"] = ["81", 0]
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    calls = comfy_sandbox.log()
    payload = calls_at(calls, "submit")[0]["payload"]
    assert len(payload["reference_image_urls"]) == 2
    # The two references are the same bytes: uploaded once, the URL reused.
    assert len(set(payload["reference_image_urls"])) == 1
    assert len(calls_at(calls, "upload")) == 2  # source + one reference
    assert _only_file(comfy, result, edit_id).suffix == ".png"


def test_identical_inputs_are_not_uploaded_twice_across_runs(comfy, comfy_sandbox, fresh_upload_cache) -> None:
    first = comfy.run(example_prompt(comfy, "luma_ray32_image_to_video"))
    assert first.ok, first.describe()
    uploads_first = len(calls_at(comfy_sandbox.log(), "upload"))
    assert uploads_first == 1
    second = comfy.run(example_prompt(comfy, "luma_ray32_image_to_video"))  # new prompt text, same image
    assert second.ok, second.describe()
    calls = comfy_sandbox.log()
    assert len(calls_at(calls, "upload")) == 1  # the second run reused the first run's URL
    first_url, second_url = (c["payload"]["image_url"] for c in calls_at(calls, "submit"))
    assert first_url == second_url


def test_chain_text_to_image_then_edit_then_video(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, "luma_chain_image_edit_video")
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    order = [c["endpoint_id"] for c in calls_at(comfy_sandbox.log(), "submit")]
    assert order == ["luma/agent/uni-1/v1/text-to-image", "luma/agent/uni-1/v1/edit",
                     "luma/agent/ray/v3.2/image-to-video"]
    i2v_id, _ = node_of_type(prompt, "LumaFalRay32ImageToVideo")
    assert mp4_facts(_only_file(comfy, result, i2v_id))["frames"] == 121


def test_video_to_frames_applies_stride_and_resize(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, "luma_video_to_frames")
    size_id, _ = node_of_type(prompt, "GetImageSize")
    prompt["95"] = {"class_type": "PreviewAny", "inputs": {"source": [size_id, 1]}}
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    assert preview_text(result, "95") == "256"
    count_id = next(nid for nid, n in prompt.items()
                    if n["class_type"] == "PreviewAny" and n["inputs"]["source"][0] == size_id)
    assert preview_text(result, count_id) == "12"  # 24 frames, every 2nd
    assert comfy_sandbox.log() == []  # a local decode: nothing goes to fal


def test_exr_export_comes_back_as_a_file_path(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, "luma_ray32_text_to_video", LumaFalRay32TextToVideo={
        "hdr": True, "exr_export": True, "resolution": "720p"})
    node_id, _ = node_of_type(prompt, "LumaFalRay32TextToVideo")
    prompt["96"] = {"class_type": "PreviewAny", "inputs": {"source": [node_id, 5]}}  # exr_path
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    exr = Path(preview_text(result, "96"))
    assert exr.suffix == ".exr" and exr.is_relative_to(comfy.output_dir)
    assert exr.read_bytes()[:4] == b"\x76\x2f\x31\x01"  # OpenEXR magic number
    payload = calls_at(comfy_sandbox.log(), "submit")[0]["payload"]
    assert payload["hdr"] is True and payload["exr_export"] is True
