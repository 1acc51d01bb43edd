"""Shared helpers for the pack's end-to-end tests (not a test module)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import av

from tools.layout import REPO, TEST_OUTPUT

# The test-only node pack's source (not a .py file: see its docstring), and the folder its LUMA_FAL_EXTRA_READ_DIRS
# lists.
TEST_ONLY_NODES_SOURCE = REPO / "tests" / "e2e" / "test_only_nodes.py.txt"
EXTRA_READ_DIR = TEST_OUTPUT / "comfy" / "extra-read-dir"


def write_test_only_nodes() -> Path:
    """The test-only node pack as a custom_nodes folder under the test output (written anew each session)."""
    folder = TEST_OUTPUT / "comfy" / "test-only-nodes"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "luma_fal_test_nodes.py").write_text(TEST_ONLY_NODES_SOURCE.read_text())
    return folder


def node_of_type(prompt: dict[str, Any], class_type: str) -> tuple[str, dict[str, Any]]:
    matches = [(nid, node) for nid, node in prompt.items() if node["class_type"] == class_type]
    assert matches, f"no {class_type} node in the prompt"
    return matches[0]


def unique_text(prefix: str) -> str:
    """A prompt text no earlier run used, so ComfyUI's cache never answers instead of the node."""
    return f"{prefix} [{uuid.uuid4().hex[:8]}]"


def example_prompt(comfy: Any, name: str, **node_inputs: dict[str, Any]) -> dict[str, Any]:
    """An example workflow in API format, each LumaFal node's prompt made unique, inputs overridden by class."""
    prompt = comfy.convert(comfy.example_workflow(name))
    for node in prompt.values():
        if node["class_type"].startswith("LumaFal") and "prompt" in node["inputs"]:
            node["inputs"]["prompt"] = unique_text(node["inputs"]["prompt"])
        node["inputs"].update(node_inputs.get(node["class_type"], {}))
    return prompt


def preview_text(result: Any, node_id: str) -> str:
    texts = result.outputs.get(node_id, {}).get("text")
    assert texts, f"node {node_id} showed no text; outputs: {result.outputs}"
    return str(texts[0])


def mp4_facts(path: Path) -> dict[str, Any]:
    """Frame count (by decoding), size and fps read from the file itself."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {"frames": frames, "width": stream.codec_context.width, "height": stream.codec_context.height,
                "fps": float(stream.average_rate), "codec": stream.codec_context.name}


def saved_video(host: Any, result: Any, node_id: str) -> Path:
    """The node's own saved MP4, as its preview names it (exactly one)."""
    files = [host.output_path(f) for f in result.files(node_id)]
    assert len(files) == 1, result.describe()
    return files[0]


def submits(sandbox: Any) -> list[dict[str, Any]]:
    """The submits the sandbox has seen (logged on arrival, answered or not)."""
    return calls_at(sandbox.log(), "submit")


def calls_at(calls: list[dict[str, Any]], point: str) -> list[dict[str, Any]]:
    """The sandbox's recorded calls at one protocol point ("submit", "status", "upload", "cancel", ...)."""
    if point == "upload":  # uploads arrive through several storage routes; each records its "upload" facts
        return [c for c in calls if "upload" in c]
    return [c for c in calls if c.get("point") == point]


def generate_video(comfy: Any, example: str = "luma_ray32_text_to_video",
                   node_type: str = "LumaFalRay32TextToVideo") -> tuple[str, list[Path]]:
    """Run an example (text-to-video unless told); its node's fal request id and the files it saved."""
    prompt = example_prompt(comfy, example)
    node_id, _ = node_of_type(prompt, node_type)
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    request_id = next(s["request_id"] for s in result.statuses if s.get("node") == node_id and s.get("request_id"))
    return request_id, [comfy.output_path(f) for f in result.files(node_id)]


def journal_row(comfy: Any, request_id: str) -> dict[str, Any]:
    rows = comfy.client.get_json("/luma_fal/requests", limit=200)["entries"]
    mine = [r for r in rows if r["request_id"] == request_id]
    assert mine, f"request {request_id} is not in the inbox list"
    return mine[0]


def remove_result_files(paths: list[Path]) -> None:
    """Delete saved results and their JSON receipts, as a person clearing the output folder would."""
    for path in paths:
        path.unlink()
        path.with_name(path.name + ".json").unlink(missing_ok=True)  # its receipt


def all_takes_in_queue(node_id: str, count: int) -> Any:
    """A ComfyUI event predicate: the node's status shows all ``count`` takes waiting in fal's queue."""
    return lambda e: (e.type == "luma_fal.status" and e.data.get("node") == node_id
                      and sum(t["phase"] == "in_queue" for t in e.data.get("takes") or []) == count)
