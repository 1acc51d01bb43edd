"""A workflow saved by ComfyUI 0.33.0's frontend with core SaveVideo's nested dynamic combo (``codec``),
converted by tools/workflow_api.py and queued on 0.33.0: each SaveVideo writes its file with its codec."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.pack_helpers import mp4_facts
from tests.support.workflows import SAVEVIDEO_DYNAMIC_COMBO, load_workflow

pytestmark = pytest.mark.hosts("0.33.0")


def test_saved_savevideo_codecs_convert_and_run(comfy, comfy_sandbox) -> None:
    workflow = load_workflow(SAVEVIDEO_DYNAMIC_COMBO)
    prompt = comfy.convert(workflow)
    saves = {nid: node for nid, node in prompt.items() if node["class_type"] == "SaveVideo"}
    codecs = [{k: v for k, v in node["inputs"].items() if k.startswith("codec")} for node in saves.values()]
    assert codecs == [
        {"codec": "auto"},
        {"codec": "h264", "codec.encoding": "auto"},
        {"codec": "h264", "codec.encoding": "re-encode", "codec.encoding.crf": 30},
    ]
    run_tag = uuid.uuid4().hex[:8]  # a fresh prefix per run: an identical prompt is served from cache
    for node in saves.values():
        node["inputs"]["filename_prefix"] += f"-{run_tag}"
    result = comfy.run(prompt, timeout=300)
    assert result.ok, result.describe()
    sizes = {}
    for nid, node in saves.items():
        (file,) = result.files(nid)
        path = comfy.output_path(file)
        assert path.name.startswith(node["inputs"]["filename_prefix"].rsplit("/", 1)[-1]), path
        facts = mp4_facts(path)
        assert (facts["frames"], facts["codec"]) == (24, "h264"), facts
        sizes[node["inputs"].get("codec.encoding.crf")] = path.stat().st_size
    # crf 30 re-encodes at lower quality than the default encode: a smaller file proves the nested value
    # reached the node.
    assert sizes[30] < sizes[None], sizes
