"""The test hosts themselves: each supported ComfyUI comes up, loads the pack, and runs converted UI
workflows."""

from __future__ import annotations

import io
import json
import socket
import struct
import tomllib
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tools.comfy_client import PromptRejected, decode_binary_frame
from tools.harness import ComfyHost
from tools.layout import HOSTS, PACK_DIR_NAME, PACK_NODE_IDS, REPO, TEST_OUTPUT
from tools.procs import ComfyOptions, ServerStartError, import_problems_in, start_comfyui
from tools.workflow_api import WorkflowConversionError, ui_to_api


def test_server_is_the_host_version_with_the_pack_linked(comfy: ComfyHost, comfy_version: str) -> None:
    stats = comfy.client.system_stats()
    assert stats["system"]["comfyui_version"] == comfy_version
    assert comfy_version in HOSTS and comfy.server.home == HOSTS[comfy_version].home
    argv = comfy.server.process.popen.args
    assert "--cpu" in argv and argv[0] == str(HOSTS[comfy_version].python)
    # Saved files land where tests can read them.
    assert comfy.output_dir.is_relative_to(TEST_OUTPUT) and comfy.user_dir.is_relative_to(TEST_OUTPUT)
    assert (comfy.server.home / "custom_nodes" / PACK_DIR_NAME).resolve() == REPO


def test_pack_loads_without_import_errors(comfy: ComfyHost) -> None:
    problems = import_problems_in(comfy.log_text())
    assert not problems, "ComfyUI could not load custom nodes:\n" + "\n".join(problems)
    object_info = comfy.client.object_info()
    pack_nodes = {nid: info for nid, info in object_info.items() if nid.startswith("LumaFal")}
    missing = sorted(set(PACK_NODE_IDS) - set(pack_nodes))
    assert not missing, f"pack node ids missing from /object_info: {missing}"
    # ComfyUI's log names the pack's version (pyproject.toml's) where a bug report starts.
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert f"comfyui-luma-fal {version}: {len(PACK_NODE_IDS)} nodes" in comfy.log_text()
    for nid, info in pack_nodes.items():
        assert info["category"].startswith("Luma (fal)"), f"{nid} has category {info['category']!r}"
        assert info["python_module"].endswith(PACK_DIR_NAME), f"{nid} comes from {info['python_module']!r}"
    # node_list.json (what ComfyUI-Manager merges into its node map) is what the host really lists.
    node_list = json.loads((REPO / "node_list.json").read_text())
    assert node_list == {nid: pack_nodes[nid]["display_name"] for nid in node_list}
    assert sorted(node_list) == sorted(pack_nodes)


def _scale_workflow(image_name: str, width: int, height: int, prefix: str) -> dict:
    """A UI-format LoadImage -> ImageScale -> SaveImage graph, as the frontend saves it."""
    return {
        "last_node_id": 3,
        "last_link_id": 2,
        "nodes": [
            {
                "id": 1,
                "type": "LoadImage",
                "mode": 0,
                "inputs": [],
                "outputs": [
                    {"name": "IMAGE", "type": "IMAGE", "links": [1], "slot_index": 0},
                    {"name": "MASK", "type": "MASK", "links": None, "slot_index": 1},
                ],
                "widgets_values": [image_name, "image"],
            },
            {
                "id": 2,
                "type": "ImageScale",
                "mode": 0,
                "inputs": [
                    {"name": "image", "type": "IMAGE", "link": 1},
                    {"name": "width", "type": "INT", "widget": {"name": "width"}, "link": None},
                ],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2], "slot_index": 0}],
                "widgets_values": ["nearest-exact", width, height, "disabled"],
            },
            {
                "id": 3,
                "type": "SaveImage",
                "mode": 0,
                "inputs": [{"name": "images", "type": "IMAGE", "link": 2}],
                "outputs": [],
                "widgets_values": [prefix],
            },
            {"id": 4, "type": "Note", "mode": 0, "inputs": [], "outputs": [], "widgets_values": ["a note"]},
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
        "groups": [],
        "config": {},
        "extra": {},
        "version": 0.4,
    }


def test_ui_workflow_converts_runs_and_saves_a_file(comfy: ComfyHost) -> None:
    # A fresh input image per run: an identical prompt would be served from ComfyUI's cache.
    colour = tuple(uuid.uuid4().bytes[:3])
    image_name = f"host-check-{uuid.uuid4().hex[:8]}.png"
    Image.new("RGB", (40, 30), colour).save(comfy.input_dir / image_name)
    prefix = f"host-check/{image_name[:-4]}"

    prompt = comfy.convert(_scale_workflow(image_name, 24, 16, prefix))

    assert prompt == {
        "1": {"class_type": "LoadImage", "inputs": {"image": image_name}, "_meta": {"title": "Load Image"}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {
                "upscale_method": "nearest-exact",
                "width": 24,
                "height": 16,
                "crop": "disabled",
                "image": ["1", 0],
            },
            "_meta": {"title": "Upscale Image"},
        },
        "3": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": prefix, "images": ["2", 0]},
            "_meta": {"title": "Save Image"},
        },
    }
    result = comfy.run(prompt, timeout=120)
    assert result.ok, result.describe()
    kinds = {e.type for e in result.events}
    assert {"execution_start", "executing", "executed", "execution_success"} <= kinds, result.describe()
    executed_nodes = {d["node"] for d in result.of_type("executed")}
    assert "3" in executed_nodes

    files = result.files("3")
    assert len(files) == 1 and files[0]["filename"].endswith(".png"), result.outputs
    saved = Image.open(io.BytesIO(comfy.view(files[0])))
    assert saved.size == (24, 16)
    assert saved.convert("RGB").getpixel((12, 8)) == colour
    assert comfy.output_path(files[0]).read_bytes() == comfy.view(files[0])


def test_seed_control_value_is_skipped_and_links_win(comfy: ComfyHost) -> None:
    # KSampler's seed has control_after_generate: the frontend stores an extra "randomize" after it.
    workflow = {
        "nodes": [
            {
                "id": 5,
                "type": "KSampler",
                "mode": 0,
                "inputs": [
                    {"name": "model", "type": "MODEL", "link": 1},
                    {"name": "positive", "type": "CONDITIONING", "link": None},
                    {"name": "negative", "type": "CONDITIONING", "link": None},
                    {"name": "latent_image", "type": "LATENT", "link": None},
                    {"name": "steps", "type": "INT", "widget": {"name": "steps"}, "link": 2},
                ],
                "widgets_values": [1234, "randomize", 20, 7.5, "euler", "normal", 0.9],
            },
            {
                "id": 6,
                "type": "CheckpointLoaderSimple",
                "mode": 0,
                "inputs": [],
                "widgets_values": ["x.safetensors"],
            },
            {"id": 7, "type": "PrimitiveInt", "mode": 0, "inputs": [], "widgets_values": [12, "fixed"]},
        ],
        "links": [[1, 6, 0, 5, 0, "MODEL"], [2, 7, 0, 5, 4, "INT"]],
    }
    prompt = ui_to_api(workflow, comfy.client.object_info())
    assert prompt["5"]["inputs"] == {
        "seed": 1234,
        "steps": ["7", 0],
        "cfg": 7.5,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 0.9,
        "model": ["6", 0],
    }
    assert prompt["7"]["inputs"] == {"value": 12}

    surplus = dict(
        workflow, nodes=[dict(workflow["nodes"][1], widgets_values=["x.safetensors", "extra"])], links=[]
    )
    with pytest.raises(WorkflowConversionError, match="surplus"):
        ui_to_api(surplus, comfy.client.object_info())


def test_invalid_prompt_is_rejected_before_running(comfy: ComfyHost) -> None:
    missing = f"does-not-exist-{uuid.uuid4().hex[:6]}.png"
    with pytest.raises(PromptRejected) as caught:
        comfy.run(
            {
                "1": {"class_type": "LoadImage", "inputs": {"image": missing}},
                "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
            }
        )
    assert caught.value.status == 400
    assert missing in str(caught.value.body)


def test_progress_text_frames_are_decoded() -> None:
    node, text = "12", "Queued: position 3 · 4.0 s"
    body = struct.pack(">I", len(node)) + node.encode() + text.encode("utf-8")
    assert decode_binary_frame(struct.pack(">I", 3) + body) == ("progress_text", {"node": node, "text": text})
    assert decode_binary_frame(struct.pack(">I", 1) + b"\x00\x00\x00\x02jpeg") == (
        "binary",
        {"event": 1, "size": 8},
    )


def test_start_up_fails_when_a_custom_node_does_not_import(tmp_path, comfy_version: str) -> None:
    # A second, short-lived server with an extra custom_nodes folder holding a package that raises on
    # import: start_comfyui must refuse it, naming the failure, and leave no process behind.
    broken = tmp_path / "extra_nodes" / "broken_pack"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('deliberately broken for the harness test')\n")
    config = tmp_path / "extra_paths.yaml"
    config.write_text(f"harness_check:\n  custom_nodes: {broken.parent}\n")
    options = ComfyOptions(
        name=f"broken-{uuid.uuid4().hex[:6]}",
        host=comfy_version,
        fal_base_url="http://127.0.0.1:9",
        output_dir=tmp_path / "out",
        input_dir=tmp_path / "in",
        user_dir=tmp_path / "user",
        temp_dir=tmp_path / "temp",
        log_dir=tmp_path,
        require_nodes=(),
        extra_args=["--extra-model-paths-config", str(config)],
    )
    with pytest.raises(ServerStartError, match="custom nodes failed to import") as caught:
        start_comfyui(options)
    assert "broken_pack" in str(caught.value)
    log_file = next(tmp_path.glob("comfyui-broken-*.log"))
    port = int(log_file.stem.rsplit("-", 1)[1])
    with pytest.raises(OSError):  # the server was stopped: nothing listens on its port any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_comfyui_uses_the_sandbox_as_its_fal(comfy: ComfyHost, comfy_sandbox) -> None:
    assert comfy.sandbox is not None
    assert comfy_sandbox.url == comfy.sandbox.url
    environ = dict(
        item.split("=", 1)
        for item in (Path("/proc") / str(comfy.server.process.pid) / "environ")
        .read_bytes()
        .decode()
        .split("\0")
        if "=" in item
    )
    assert environ["LUMA_FAL_BASE_URL"] == comfy.sandbox.url
    assert environ.get("FAL_KEY"), "the server needs a (test) key"
    assert httpx.get(f"{comfy.sandbox.url}/_sandbox/health", timeout=10).status_code == 200
