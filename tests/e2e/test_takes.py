"""Issue 13 in a real ComfyUI (each host), the sandbox as fal: many takes at once in one node.

`takes` and `prompt_variants` fan one node run out to several concurrent fal requests, each its own
journaled request; downstream nodes run once per take; a failed take is named in the `report` output
without discarding the others; Cancel cancels every take at fal; saved workflows run unchanged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.pack_helpers import (all_takes_in_queue, calls_at, example_prompt, mp4_facts, node_of_type,
                                    unique_text)
from tools.layout import HOSTS, REPO

T2V, T2I = "LumaFalRay32TextToVideo", "LumaFalUni1TextToImage"
EXAMPLE = "luma_ray32_text_to_video"

# sha256 of every example workflow as saved before takes existed (integration branch at 8d88577). They
# must never change: running them (test_all_nodes.py, and below) is what proves old workflows still run.
EXAMPLES_BEFORE_TAKES = {
    "luma_chain_image_edit_video.json": "a519222c423b491cab24621f1b5256315c86630409123227b1366a72fdd20ff6",
    "luma_ray32_image_to_video.json": "9810906766f20d174eda9d732a3863610e3aff6cf0b4af97757265c7ce55a69b",
    "luma_ray32_keyframes.json": "bf9719da68af2640daa8ff7f4960dbf26006767e154db2fb6a72c99ccd775385",
    "luma_ray32_reframe.json": "f68f55889167fefe3728aff5f4f8944acc3e716f6ef1309ab8009171fdc0c55f",
    "luma_ray32_text_to_video.json": "d942d07b12f40b6bec180eb57db119052e9837f030cc25d566cc5373fb29114b",
    "luma_ray32_video_to_video.json": "f8953e4083c4d2960c8f293e9aaf193463cc1e7d659babb0b8c6925d9547de89",
    "luma_uni1_image_edit.json": "26e947316d3a43b0d3d866872b1e8d29d105f1b1ba55b36ffd1c9829f4ab8a47",
    "luma_uni1_text_to_image.json": "5dc71fa666e6d9b41faf862f235bd36c3bafd296f7d4bb9f9a41a1fae2bc0734",
    "luma_video_to_frames.json": "8f9cc3c1a3126fc22a1af1bc27396f4dbb036265eeb159bdc8dfbed8014bf568",
}


def _texts(result: Any, node_id: str) -> list[str]:
    return [str(t) for t in result.outputs.get(node_id, {}).get("text", [])]


def _downstream(prompt: dict[str, Any], source_id: str, slot: int, class_type: str) -> str:
    return next(nid for nid, n in prompt.items() if n["class_type"] == class_type
                and any(v == [source_id, slot] for v in n["inputs"].values()))


def _with_report(prompt: dict[str, Any], node_id: str, slot: int) -> str:
    prompt["80"] = {"class_type": "PreviewAny", "inputs": {"source": [node_id, slot]}}
    return "80"


def test_example_workflows_are_byte_identical_to_before_takes_and_run(comfy, comfy_sandbox) -> None:
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (REPO / "example_workflows").glob("*.json")}
    assert files == EXAMPLES_BEFORE_TAKES
    # The API form of a saved workflow has no takes/prompt_variants at all, and still runs as one request.
    prompt = example_prompt(comfy, EXAMPLE)
    node_id, node = node_of_type(prompt, T2V)
    assert "takes" not in node["inputs"] and "prompt_variants" not in node["inputs"]
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    assert len(calls_at(comfy_sandbox.log(), "submit")) == 1
    assert len(result.files(node_of_type(prompt, "SaveVideo")[0])) == 1


def test_one_take_feeds_the_examples_downstream_nodes_exactly_as_before(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, EXAMPLE)
    node_id, _ = node_of_type(prompt, T2V)
    first = comfy.run(prompt)
    assert first.ok, first.describe()
    path_node = _downstream(prompt, node_id, 2, "PreviewAny")
    count_node = _downstream(prompt, _downstream(prompt, node_id, 1, "GetImageSize"), 2, "PreviewAny")
    assert _texts(first, count_node) == ["121"]  # one frames tensor of 121 frames, one call downstream
    (path,) = _texts(first, path_node)  # one path string, not a list's text
    assert Path(path).is_file() and mp4_facts(Path(path))["frames"] == 121
    assert len(first.files(node_of_type(prompt, "SaveVideo")[0])) == 1

    # takes = 1 set explicitly is the same request as a workflow without it: the same journal identity,
    # so the saved result is reused (take 0 keeps the identity requests always had) and nothing is re-sent.
    prompt[node_id]["inputs"].update(takes=1, prompt_variants="", seed=prompt[node_id]["inputs"]["seed"])
    report = _with_report(prompt, node_id, 6)
    again = comfy.run(prompt)
    assert again.ok, again.describe()
    assert len(calls_at(comfy_sandbox.log(), "submit")) == 1
    assert _texts(again, path_node) == [path]
    assert _texts(again, report)[0].startswith("1 of 1 takes done"), _texts(again, report)


def test_four_takes_are_four_requests_at_once_and_downstream_runs_once_per_take(comfy, comfy_sandbox) -> None:
    # Long enough in fal's queue for a status event of that phase to be seen on a busy machine.
    comfy_sandbox.configure(queue_seconds=2.5, run_seconds=1.5)
    prompt = example_prompt(comfy, EXAMPLE, **{T2V: {"takes": 4}})
    node_id, node = node_of_type(prompt, T2V)
    report = _with_report(prompt, node_id, 6)
    result = comfy.run(prompt)
    assert result.ok, result.describe()

    submits = calls_at(comfy_sandbox.log(), "submit")
    assert len(submits) == 4 and all(c["payload"]["prompt"] == node["inputs"]["prompt"] for c in submits)
    ids = {c["request_id"] for c in submits}
    assert len(ids) == 4
    # Core SaveVideo ran once per take: four files, each a real clip.
    saved = [comfy.output_path(f) for f in result.files(node_of_type(prompt, "SaveVideo")[0])]
    assert len(saved) == 4 and all(mp4_facts(p)["frames"] == 121 for p in saved)
    # Frames and paths arrive as lists, one per take.
    count_node = _downstream(prompt, _downstream(prompt, node_id, 1, "GetImageSize"), 2, "PreviewAny")
    assert _texts(result, count_node) == ["121"] * 4
    paths = _texts(result, _downstream(prompt, node_id, 2, "PreviewAny"))
    assert len(set(paths)) == 4 and all(Path(p).is_file() for p in paths)
    text = _texts(result, report)[0]
    assert text.startswith("4 of 4 takes done") and all(rid in text for rid in ids), text
    # The four requests overlapped at fal: every take was submitted before the first one finished.
    log = comfy_sandbox.log()
    last_submit = max(c["seq"] for c in calls_at(log, "submit"))
    first_result = min(c["seq"] for c in calls_at(log, "result"))
    assert last_submit < first_result, "takes were sent one after another, not at once"
    # Each take is its own journaled request, listed in the inbox.
    rows = comfy.client.get_json("/luma_fal/requests", limit=200)["entries"]
    assert ids <= {r["request_id"] for r in rows}
    # Progress on the node: "n of m" with every take's phase.
    mine = [s for s in result.statuses if s.get("node") == node_id and s.get("takes")]
    assert mine and all(len(s["takes"]) == 4 and s["total"] == 4 for s in mine)
    assert any(t["phase"] == "in_queue" for s in mine for t in s["takes"])
    assert any(line.startswith("take ") and "position" in line for s in mine for line in s["take_lines"])
    assert mine[-1]["phase"] == "done" and mine[-1]["text"].startswith("4 of 4 takes done")
    # Frames are connected: each take is decoded as it lands, and its line says so.
    assert any(t["phase"] == "decoding" for s in mine for t in s["takes"])
    assert any(line.startswith("take ") and "decod" in line for s in mine for line in s["take_lines"])
    # A take counts as done once its frames are decoded too: the count only ever goes up.
    dones = [s["done"] for s in mine]
    assert dones == sorted(dones) and dones[-1] == 4, dones
    assert all(t["phase"] != "decoding" for t in mine[-1]["takes"])


def test_prompt_variants_times_takes_send_each_prompt_per_take(comfy, comfy_sandbox) -> None:
    first, second = unique_text("a red kite over dunes"), unique_text("a lighthouse in fog")
    prompt = example_prompt(comfy, EXAMPLE, **{T2V: {"takes": 2, "prompt_variants": f"{first}\n\n{second}\n"}})
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    sent = sorted(c["payload"]["prompt"] for c in calls_at(comfy_sandbox.log(), "submit"))
    assert sent == sorted([first, first, second, second])
    assert len(result.files(node_of_type(prompt, "SaveVideo")[0])) == 4


def test_a_failed_take_is_reported_and_the_others_are_returned(comfy, comfy_sandbox) -> None:
    comfy_sandbox.inject({"point": "submit", "kind": "moderation", "times": 1})  # the first submit only
    prompt = example_prompt(comfy, EXAMPLE, **{T2V: {"takes": 3}})
    node_id, _ = node_of_type(prompt, T2V)
    report = _with_report(prompt, node_id, 6)
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    assert len(calls_at(comfy_sandbox.log(), "submit")) == 3
    assert len(result.files(node_of_type(prompt, "SaveVideo")[0])) == 2
    text = _texts(result, report)[0]
    assert text.startswith("2 of 3 takes done, 1 failed"), text
    failed = [line for line in text.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and failed[0].startswith("take ") and "(request " in failed[0], text
    assert "moderation" in failed[0].lower() or "content" in failed[0].lower(), failed


def test_when_every_take_fails_the_node_fails_with_every_reason(comfy, comfy_sandbox) -> None:
    comfy_sandbox.inject({"point": "submit", "kind": "moderation", "times": 2})
    prompt = example_prompt(comfy, EXAMPLE, **{T2V: {"takes": 2}})
    result = comfy.run(prompt)
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    assert "every take failed" in message and "take 1" in message and "take 2" in message, message


def test_cancel_cancels_every_take_at_fal(comfy, comfy_sandbox) -> None:
    comfy_sandbox.configure(queue_seconds=60, run_seconds=1)
    prompt = example_prompt(comfy, EXAMPLE, **{T2V: {"takes": 3}})
    node_id, _ = node_of_type(prompt, T2V)
    run = comfy.submit(prompt)
    run.wait_for_event(all_takes_in_queue(node_id, 3), timeout=60)
    comfy.interrupt()
    result = run.wait(timeout=60)
    assert result.status == "interrupted", result.describe()
    cancels = calls_at(comfy_sandbox.log(), "cancel")
    submitted = {c["request_id"] for c in calls_at(comfy_sandbox.log(), "submit")}
    assert len(submitted) == 3 and {c["request_id"] for c in cancels} == submitted, cancels
    assert all(c["cancel"]["state_before"] == "IN_QUEUE" for c in cancels)


def test_spend_limit_counts_every_take_before_anything_is_sent(comfy, comfy_sandbox) -> None:
    from tests.e2e.test_money import NO_LIMITS, Money

    money = Money(comfy)
    try:
        price = _t2v_price()
        money.limits(max_run_usd=round(price * 2.5, 4))  # two takes fit, three do not
        prompt = example_prompt(comfy, EXAMPLE, **{T2V: {"takes": 3}})
        result = comfy.run(prompt)
        assert result.status == "error", result.describe()
        assert "3 takes" in result.error["exception_message"], result.error["exception_message"]
        assert calls_at(comfy_sandbox.log(), "submit") == [] and calls_at(comfy_sandbox.log(), "upload") == []
    finally:
        money.limits(**NO_LIMITS)


def _t2v_price() -> float:
    """The example's estimate (540p, 5 s, SDR) from the bundled table, which the sandbox serves unchanged."""
    from nodes.luma import constants as C
    from nodes.luma.prices import bundled_price_table, price_of

    params = {"resolution": "540p", "duration": "5s", "hdr": False, "exr_export": False}
    return float(price_of(C.RAY32_TEXT_TO_VIDEO, params, bundled_price_table()).usd)


def test_uni1_takes_give_one_image_per_take_downstream(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, "luma_uni1_text_to_image", **{T2I: {"takes": 2}})
    node_id, _ = node_of_type(prompt, T2I)
    report = _with_report(prompt, node_id, 3)
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    assert len(calls_at(comfy_sandbox.log(), "submit")) == 2
    consumers = [nid for nid, n in prompt.items() if any(v == [node_id, 0] for v in n["inputs"].values())]
    saving = [nid for nid in consumers if prompt[nid]["class_type"] in ("SaveImage", "PreviewImage")]
    assert saving, prompt
    assert all(len(result.files(nid)) == 2 for nid in saving)  # the image consumer ran once per take
    assert _texts(result, report)[0].startswith("2 of 2 takes done")


def test_a_string_list_from_upstream_fans_out_in_one_call_of_the_node(comfy, comfy_sandbox) -> None:
    # An upstream list of two strings (the paths output of a two-take image node) into prompt_variants:
    # the node takes its inputs as lists (INPUT_IS_LIST), so ONE call sends both prompts and reports both.
    first = unique_text("a stack of pancakes")
    prompt = {
        "1": {"class_type": T2I, "inputs": {"prompt": first, "model": "uni-1", "aspect_ratio": "1:1", "style": "auto",
                                            "output_format": "png", "web_search": False, "seed": 1, "takes": 2}},
        "2": {"class_type": T2I, "inputs": {"prompt": "unused", "model": "uni-1", "aspect_ratio": "1:1",
                                            "style": "auto", "output_format": "png", "web_search": False, "seed": 1,
                                            "prompt_variants": ["1", 1]}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 3]}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}},
    }
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    upstream_paths = _texts(result, "4")
    assert len(upstream_paths) == 2
    reports = _texts(result, "3")
    assert len(reports) == 1 and reports[0].startswith("2 of 2 takes done"), reports  # one call, one report
    sent = [c["payload"]["prompt"] for c in calls_at(comfy_sandbox.log(), "submit")]
    assert sorted(sent) == sorted([first, first, *upstream_paths]), sent


FRAMES_CAP = "LUMA_FAL_FRAMES_MEMORY_LIMIT"


@pytest.fixture(scope="session")
def comfy_frames_cap(comfy_factory: Any, comfy_version: str) -> Any:
    """A ComfyUI whose decoded frames may take at most 400 MiB: two 270p 5 s takes (2 x 179 MiB) fit, three
    do not."""
    host = HOSTS[comfy_version]
    return comfy_factory(f"comfy-frames-cap-{comfy_version}", front_end_root=host.frontend_root(host.frontend),
                         host=comfy_version, extra_env={FRAMES_CAP: "400MiB"})


def test_takes_whose_frames_cannot_fit_together_are_refused_before_anything_is_sent(
        comfy_frames_cap, comfy_sandbox) -> None:
    # Text-to-video fixes the size (960x540, 121 frames): 3 x 179 MiB at 270p cannot fit in 400 MiB.
    prompt = example_prompt(comfy_frames_cap, EXAMPLE, **{T2V: {"takes": 3, "frames_height": 270}})
    result = comfy_frames_cap.run(prompt)
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    assert "nothing was sent to fal (not billed)" in message, message
    assert "The frames of all 3 takes would need about 538 MiB as float32 (179 MiB each" in message, message
    assert FRAMES_CAP in message and "frames_cap=" in message and "fewer takes" in message, message
    assert not calls_at(comfy_sandbox.log(), "submit") and not calls_at(comfy_sandbox.log(), "upload")


def test_takes_of_unknown_size_are_checked_as_the_first_lands_and_every_video_is_kept(
        comfy_frames_cap, comfy_sandbox) -> None:
    # Video-to-video's size follows its source (here a square clip: 540x540), so the guard waits for the
    # first video: at 400x400 one take's 121 frames (222 MiB) would fit, three cannot; no frame is decoded,
    # and every paid take is still saved.
    prompt = example_prompt(comfy_frames_cap, "luma_ray32_video_to_video",
                            LumaFalRay32VideoToVideo={"takes": 3, "frames_height": 400})
    node_id, _ = node_of_type(prompt, "LumaFalRay32VideoToVideo")
    prompt["81"] = {"class_type": "GetImageSize", "inputs": {"image": [node_id, 1]}}  # frames connected
    result = comfy_frames_cap.run(prompt)
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    assert "The frames of all 3 takes would need about 665 MiB as float32 (222 MiB each)" in message, message
    assert FRAMES_CAP in message and "no frames were decoded" in message and "fewer takes" in message, message
    assert len(calls_at(comfy_sandbox.log(), "submit")) == 3
    saved = message.split("The videos are saved: ", 1)[1].split(", ")
    assert len(saved) == 3 and all(mp4_facts(Path(p.strip()))["frames"] == 121 for p in saved), saved
    assert not [line for line in comfy_frames_cap.log_text().splitlines() if "luma-fal: decoded" in line
                and any(Path(p.strip()).name in line for p in saved)]


def test_takes_that_fit_under_the_cap_decode_every_frame(comfy_frames_cap, comfy_sandbox) -> None:
    prompt = example_prompt(comfy_frames_cap, EXAMPLE, **{T2V: {"takes": 2, "frames_height": 270}})
    node_id, _ = node_of_type(prompt, T2V)
    result = comfy_frames_cap.run(prompt)
    assert result.ok, result.describe()
    size_id = _downstream(prompt, node_id, 1, "GetImageSize")
    assert _texts(result, _downstream(prompt, size_id, 2, "PreviewAny")) == ["121"] * 2


def test_one_take_over_the_cap_is_refused_unpaid_naming_the_nodes_inputs(comfy_frames_cap, comfy_sandbox) -> None:
    # 121 frames at 960x540 need 718 MiB as float32: over the 400 MiB cap, known before anything is sent.
    prompt = example_prompt(comfy_frames_cap, EXAMPLE)
    result = comfy_frames_cap.run(prompt)
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    assert "nothing was sent to fal (not billed)" in message, message
    assert "Its frames would need about 718 MiB as float32 (121 frames at 960x540)" in message, message
    # The fix is said in the node's own input names, each one a real input of the node.
    for name in ("frames_cap=", "frames_every_nth=", "frames_height="):
        assert name in message, message
    assert " frame_cap=" not in message and " every_nth=" not in message and FRAMES_CAP in message, message
    assert not calls_at(comfy_sandbox.log(), "submit")
    # The suggested height really fits: the same graph with it runs and decodes every frame.
    height = int(message.split("frames_height=", 1)[1].split()[0].rstrip(";,."))
    node_id, node = node_of_type(prompt, T2V)
    node["inputs"]["frames_height"] = height
    assert comfy_frames_cap.run(prompt).ok
