"""Writes example_workflows/*.json (UI format, as the template browser loads them) from /object_info.

Widget order and defaults come from the live server's node definitions, so the files stay right when
a node gains an input. Run against ComfyUI servers with the pack loaded, the oldest supported host first
(its /object_info writes the files, so they load on it; newer hosts only append optional widgets):

    python tools/make_examples.py http://127.0.0.1:8188 [http://127.0.0.1:8189 ...]

Every server's /object_info is checked: an example may only use nodes that every host has and that none
marks ``deprecated`` (0.33.0 deprecates e.g. ImageBatch); the generator refuses anything else.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tools.workflow_api import (
    DYNAMIC_COMBO,
    WIDGET_TYPES,
    dynamic_combo_keys,
    dynamic_combo_option,
    ordered_inputs,
)

ROOT = Path(__file__).resolve().parent.parent


class ExampleNodeError(ValueError):
    """An example uses a node some host lacks or marks deprecated."""


def _is_widget(spec: list[Any]) -> bool:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    widget_kind = isinstance(kind, list) or kind in WIDGET_TYPES or kind == DYNAMIC_COMBO
    return widget_kind and not options.get("forceInput")


def _default(spec: list[Any]) -> Any:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if spec[0] == DYNAMIC_COMBO:
        return options.get("default", dynamic_combo_keys(spec)[0])
    if "default" in options:
        return options["default"]
    choices = spec[0] if isinstance(spec[0], list) else options.get("options")
    return choices[0] if choices else None


def check_nodes(node_types: set[str], infos: list[dict[str, Any]]) -> None:
    """Refuse node types missing from, or deprecated on, any host's /object_info."""
    problems = []
    for index, info in enumerate(infos):
        for node_type in sorted(node_types):
            if node_type not in info:
                problems.append(f"{node_type} is not on host #{index + 1}")
            elif info[node_type].get("deprecated"):
                name = info[node_type].get("display_name")
                problems.append(f"{node_type} ({name}) is deprecated on host #{index + 1}")
    if problems:
        raise ExampleNodeError(
            "examples may only use nodes every host has, none deprecated: " + "; ".join(problems)
        )


@dataclass
class Node:
    id: int
    type: str
    pos: tuple[int, int]
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    info: dict[str, Any]
    nodes: list[Node] = field(default_factory=list)
    links: list[tuple[int, int, int, int, str, str]] = field(default_factory=list)  # (id, src, slot, dst, input, type)

    def add(self, type_: str, x: int, y: int, **values: Any) -> Node:
        node = Node(len(self.nodes) + 1, type_, (x, y), values)
        self.nodes.append(node)
        return node

    def link(self, src: Node, output: str, dst: Node, input_name: str) -> None:
        names = self.info[src.type]["output_name"]
        slot = names.index(output)
        self.links.append((len(self.links) + 1, src.id, slot, dst.id, input_name, self.info[src.type]["output"][slot]))

    def _inputs(self, node: Node, declared: dict[str, Any], order: Any, prefix: str,
                socket_inputs: list[dict[str, Any]], widgets: list[Any]) -> None:
        """Widget values and socket inputs, in the frontend's order; a dynamic combo's chosen option
        follows it (its widgets named ``<combo>.<input>``), as tools/workflow_api.py reads them."""
        for name, spec in ordered_inputs(declared, order):
            full = prefix + name
            if node.type.startswith("LumaFal") and full in ADDED_LATER_INPUTS:
                continue
            if _is_widget(spec):
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                value = node.values.get(full, _default(spec))
                widgets.append(value)
                if options.get("control_after_generate"):
                    widgets.append("fixed")  # examples never re-bill on their own
                if spec[0] == DYNAMIC_COMBO:
                    option = dynamic_combo_option(spec, value)
                    if option is None:
                        keys = dynamic_combo_keys(spec)
                        raise ExampleNodeError(f"{node.type}.{full} = {value!r}: not one of {keys}")
                    self._inputs(node, option.get("inputs") or {}, None, full + ".", socket_inputs, widgets)
            else:
                link = next((l[0] for l in self.links if l[3] == node.id and l[4] == full), None)
                socket_inputs.append({"name": full, "type": spec[0], "link": link})

    def to_ui(self) -> dict[str, Any]:
        nodes_json = []
        for order, node in enumerate(self.nodes):
            socket_inputs: list[dict[str, Any]] = []
            widgets: list[Any] = []
            info = self.info[node.type]
            declared = {k: v for k, v in info["input"].items() if k != "hidden"}
            self._inputs(node, declared, info.get("input_order"), "", socket_inputs, widgets)
            outputs = [{"name": out_name, "type": out_type, "slot_index": slot,
                        "links": [l[0] for l in self.links if l[1] == node.id and l[2] == slot]}
                       for slot, (out_name, out_type) in enumerate(zip(info["output_name"], info["output"]))
                       if not (node.type.startswith("LumaFal") and out_name in ADDED_LATER_OUTPUTS)]
            nodes_json.append({
                "id": node.id, "type": node.type, "pos": list(node.pos), "size": [340, 260], "flags": {},
                "order": order, "mode": 0, "inputs": socket_inputs, "outputs": outputs,
                "properties": {"Node name for S&R": node.type}, "widgets_values": widgets,
            })
        links_json = []
        for link_id, src, slot, dst, input_name, type_ in self.links:
            dst_node = next(n for n in nodes_json if n["id"] == dst)
            target_slot = next(i for i, inp in enumerate(dst_node["inputs"]) if inp["name"] == input_name)
            links_json.append([link_id, src, slot, dst, target_slot, type_])
        return {"last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": nodes_json,
                "links": links_json, "groups": [], "config": {}, "extra": {}, "version": 0.4}


# Inputs and outputs added after the examples were first saved. The examples stay as they were saved
# before them (byte for byte, tests/e2e/test_takes.py pins it), so every run of the examples proves that a
# workflow saved by an older version of the pack loads and runs unchanged on this one.
ADDED_LATER_INPUTS = frozenset({"takes", "prompt_variants"})
ADDED_LATER_OUTPUTS = frozenset({"report"})


PROMPT_T2V = "A paper boat drifting down a rain-soaked street at dusk, neon reflections, slow dolly shot"


def examples(info: dict[str, Any]) -> dict[str, Graph]:
    out: dict[str, Graph] = {}

    g = Graph(info)
    t2v = g.add("LumaFalRay32TextToVideo", 50, 50, prompt=PROMPT_T2V)
    save = g.add("SaveVideo", 450, 50, filename_prefix="luma-fal/ray32")
    size = g.add("GetImageSize", 450, 350)
    count = g.add("PreviewAny", 800, 350)
    path = g.add("PreviewAny", 450, 550)
    g.link(t2v, "video", save, "video")
    g.link(t2v, "frames", size, "image")
    g.link(size, "batch_size", count, "source")
    g.link(t2v, "path", path, "source")
    out["luma_ray32_text_to_video"] = g

    g = Graph(info)
    img = g.add("LoadImage", 50, 50, image="example.png")
    i2v = g.add("LumaFalRay32ImageToVideo", 400, 50, prompt="The scene slowly comes to life, gentle camera push-in")
    save = g.add("SaveVideo", 800, 50, filename_prefix="luma-fal/ray32-i2v")
    g.link(img, "IMAGE", i2v, "start_image")
    g.link(i2v, "video", save, "video")
    out["luma_ray32_image_to_video"] = g

    # Two different keyframes from one picture with nodes every host has (ImageBatch is deprecated on 0.33.0
    # and its replacement is missing on 0.3.75): the picture twice, each copy given its own film grain.
    g = Graph(info)
    img = g.add("LoadImage", 50, 50, image="example.png")
    rep = g.add("RepeatImageBatch", 350, 50, amount=2)
    grain = g.add("ImageAddNoise", 350, 300, seed=2024, strength=0.2)
    kf = g.add("LumaFalRay32ImageToVideo", 650, 50, prompt="Grainy film stock flickers to life, the scene breathes",
               keyframe_positions="0, 5s")
    save = g.add("SaveVideo", 1050, 50, filename_prefix="luma-fal/ray32-keyframes")
    g.link(img, "IMAGE", rep, "image")
    g.link(rep, "IMAGE", grain, "image")
    g.link(grain, "IMAGE", kf, "keyframes")
    g.link(kf, "video", save, "video")
    out["luma_ray32_keyframes"] = g

    for name, node_type, extra in (
        ("luma_ray32_video_to_video", "LumaFalRay32VideoToVideo", {"prompt": "Turn it into a watercolour painting"}),
        ("luma_ray32_reframe", "LumaFalRay32Reframe", {"prompt": "Extend the scene upwards and downwards"}),
    ):
        g = Graph(info)
        img = g.add("LoadImage", 50, 50, image="example.png")
        rep = g.add("RepeatImageBatch", 350, 50, amount=48)
        node = g.add(node_type, 650, 50, **extra)
        save = g.add("SaveVideo", 1050, 50, filename_prefix=f"luma-fal/{name}")
        g.link(img, "IMAGE", rep, "image")
        g.link(rep, "IMAGE", node, "source_frames")
        g.link(node, "video", save, "video")
        out[name] = g

    g = Graph(info)
    t2i = g.add("LumaFalUni1TextToImage", 50, 50, prompt="A lighthouse made of glass on a stormy cliff, golden hour")
    prev = g.add("PreviewImage", 450, 50)
    g.link(t2i, "images", prev, "images")
    out["luma_uni1_text_to_image"] = g

    g = Graph(info)
    img = g.add("LoadImage", 50, 50, image="example.png")
    edit = g.add("LumaFalUni1ImageEdit", 400, 50, prompt="Make it look like a vintage postcard")
    prev = g.add("PreviewImage", 800, 50)
    g.link(img, "IMAGE", edit, "image")
    g.link(edit, "images", prev, "images")
    out["luma_uni1_image_edit"] = g

    g = Graph(info)
    t2i = g.add("LumaFalUni1TextToImage", 50, 50, prompt="A red fox in a snowy birch forest, cinematic", aspect_ratio="16:9")
    edit = g.add("LumaFalUni1ImageEdit", 450, 50, prompt="Give the fox a tiny knitted scarf")
    i2v = g.add("LumaFalRay32ImageToVideo", 850, 50, prompt="The fox trots towards the camera through the snow")
    save = g.add("SaveVideo", 1250, 50, filename_prefix="luma-fal/chain")
    g.link(t2i, "images", edit, "image")
    g.link(edit, "images", i2v, "start_image")
    g.link(i2v, "video", save, "video")
    out["luma_chain_image_edit_video"] = g

    g = Graph(info)
    img = g.add("LoadImage", 50, 50, image="example.png")
    rep = g.add("RepeatImageBatch", 350, 50, amount=24)
    vid = g.add("CreateVideo", 650, 50, fps=24.0)
    frames = g.add("LumaFalVideoToFrames", 950, 50, every_nth=2, height=256)
    size = g.add("GetImageSize", 1300, 50)
    count = g.add("PreviewAny", 1600, 50)
    g.link(img, "IMAGE", rep, "image")
    g.link(rep, "IMAGE", vid, "images")
    g.link(vid, "VIDEO", frames, "video")
    g.link(frames, "frames", size, "image")
    g.link(size, "batch_size", count, "source")
    out["luma_video_to_frames"] = g
    return out


def render(infos: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The examples in UI format from the first /object_info, after checking every host's."""
    graphs = examples(infos[0])
    check_nodes({node.type for graph in graphs.values() for node in graph.nodes}, infos)
    return {name: graph.to_ui() for name, graph in graphs.items()}


def main(base_urls: list[str]) -> None:
    infos = [httpx.get(f"{url.rstrip('/')}/object_info", timeout=60).json() for url in base_urls]
    folder = ROOT / "example_workflows"
    folder.mkdir(exist_ok=True)
    for name, workflow in render(infos).items():
        (folder / f"{name}.json").write_text(json.dumps(workflow, indent=1) + "\n")
        print(folder / f"{name}.json")


if __name__ == "__main__":
    main(sys.argv[1:] or ["http://127.0.0.1:8188"])
