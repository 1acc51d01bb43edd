"""Issue 11, "Fetch any request by id", in a real ComfyUI: the Result by Request ID node, the sandbox as fal.

Each test proves where the result came from with the sandbox's call log: no calls at all (the journal's
files), or status/result/download calls and never a submit (fal).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.pack_helpers import (
    calls_at,
    generate_video,
    journal_row,
    mp4_facts,
    preview_text,
    remove_result_files,
)
from tools.layout import TEST_FAL_KEY

NODE = "LumaFalRequestById"
T2V = "luma/agent/ray/v3.2/text-to-video"
T2I = "luma/agent/uni-1/v1/text-to-image"


def by_id_prompt(endpoint: str, request_id: str, *, frames: bool = False, path: bool = True,
                 **extra: Any) -> dict[str, Any]:
    """The node alone, plus PreviewAny of its path (and frame count when ``frames``)."""
    inputs = {"endpoint": endpoint, "request_id": request_id, **extra}
    prompt: dict[str, Any] = {"1": {"class_type": NODE, "inputs": inputs}}
    if path and endpoint.startswith("luma/agent/ray"):
        prompt["2"] = {"class_type": "PreviewAny", "inputs": {"source": ["1", 2]}}
    if frames:
        prompt["3"] = {"class_type": "GetImageSize", "inputs": {"image": ["1", 1]}}
        prompt["4"] = {"class_type": "PreviewAny", "inputs": {"source": ["3", 2]}}
    return prompt


def submit_direct(sandbox_url: str, endpoint: str, payload: dict[str, Any]) -> str:
    """A request made outside this ComfyUI (as from another machine or fal's playground)."""
    reply = httpx.post(f"{sandbox_url}/{endpoint}", json=payload, timeout=30,
                       headers={"Authorization": f"Key {TEST_FAL_KEY}"})
    reply.raise_for_status()
    return str(reply.json()["request_id"])


def wait_until_completed(sandbox_url: str, request_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{sandbox_url}/luma/agent/requests/{request_id}/status", timeout=30,
                           headers={"Authorization": f"Key {TEST_FAL_KEY}"}).json()
        if status["status"] == "COMPLETED":
            return
        time.sleep(0.1)
    raise AssertionError(f"request {request_id} did not complete in {timeout} s")


def test_finished_request_is_fetched_again_from_fal_after_its_files_were_deleted(comfy, comfy_sandbox) -> None:
    request_id, files = generate_video(comfy)
    remove_result_files(files)
    result = comfy.run(by_id_prompt(T2V, request_id, frames=True))
    assert result.ok, result.describe()
    path = Path(preview_text(result, "2"))
    assert path.is_file() and path not in files and path.is_relative_to(comfy.output_dir / "luma-fal"), path
    assert mp4_facts(path)["frames"] == 121 and preview_text(result, "4") == "121"
    assert path.with_name(path.name + ".json").is_file(), "no receipt next to the fetched file"
    calls = comfy_sandbox.log()
    assert len(calls_at(calls, "submit")) == 1, "fetching by id submitted something"  # the generating run only
    assert calls_at(calls, "result") and calls_at(calls, "download")
    row = journal_row(comfy, request_id)
    assert row["state"] == "done" and [f["filename"] for f in row["files"]] == [path.name], row


def test_saved_request_comes_from_the_journal_files_with_no_call_to_fal(comfy, comfy_sandbox) -> None:
    request_id, files = generate_video(comfy)
    comfy_sandbox.reset()  # empties the call log (and fal's memory of the request)
    result = comfy.run(by_id_prompt(T2V, request_id, frames=True))
    assert result.ok, result.describe()
    assert Path(preview_text(result, "2")) == files[0]
    assert preview_text(result, "4") == "121"
    assert comfy_sandbox.log() == [], "the saved result was fetched from fal anyway"


def test_saved_image_request_gives_the_images_and_leaves_the_video_outputs_empty(comfy, comfy_sandbox) -> None:
    request_id, files = generate_video(comfy, "luma_uni1_text_to_image", "LumaFalUni1TextToImage")
    comfy_sandbox.reset()
    by_id = by_id_prompt(T2I, request_id)
    by_id["5"] = {"class_type": "PreviewAny", "inputs": {"source": ["1", 7]}}  # paths
    result = comfy.run(by_id)
    assert result.ok, result.describe()
    assert [comfy.output_path(f) for f in result.files("1")] == files
    assert Path(preview_text(result, "5")).is_file()
    assert comfy_sandbox.log() == []


def test_a_video_output_wired_to_an_image_endpoint_is_refused_before_any_call(comfy, comfy_sandbox) -> None:
    prompt = by_id_prompt(T2I, str(uuid.uuid4()))
    prompt["2"] = {"class_type": "PreviewAny", "inputs": {"source": ["1", 2]}}  # the video-only path output
    result = comfy.run(prompt)
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    assert "path" in message and "images, paths" in message and "nothing was sent to fal" in message, message
    assert comfy_sandbox.log() == []


@pytest.mark.parametrize("bad", ["not-an-id", "3f2b6c1e-8d4a-4b7e-9c0d", "../../etc/passwd", ""],
                         ids=["word", "short-uuid", "path", "empty"])
def test_a_bad_request_id_is_refused_with_no_call(comfy, comfy_sandbox, bad) -> None:
    # frames_cap differs per case, so ComfyUI's cache never answers instead of the node
    result = comfy.run(by_id_prompt(T2V, bad, path=False, frames_cap=len(bad) + 1))
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    for words in ("request_id:", "not a fal request id", "nothing was sent"):
        assert words in message, message
    assert comfy_sandbox.log() == []


def test_a_request_made_elsewhere_and_still_running_is_followed_live(comfy, comfy_sandbox) -> None:
    comfy_sandbox.configure(queue_seconds=0.5, run_seconds=3.0)
    request_id = submit_direct(comfy_sandbox.url, T2V, {"prompt": f"made elsewhere {uuid.uuid4().hex[:6]}"})
    result = comfy.run(by_id_prompt(T2V, request_id))
    assert result.ok, result.describe()
    phases = [s["phase"] for s in result.statuses if s.get("node") == "1"]
    assert "running" in phases and phases[-1] == "done", phases
    assert mp4_facts(Path(preview_text(result, "2")))["frames"] == 121
    assert len(calls_at(comfy_sandbox.log(), "submit")) == 1  # the direct one; nothing sent by ComfyUI
    row = journal_row(comfy, request_id)
    assert row["state"] == "done" and row["node_name"] == "Luma fal: Result by Request ID", row


def test_fal_forgot_the_result_but_its_media_is_still_downloadable(comfy, comfy_sandbox) -> None:
    request_id, files = generate_video(comfy)
    remove_result_files(files)
    assert comfy_sandbox.expire(request_id) == [request_id]
    result = comfy.run(by_id_prompt(T2V, request_id))
    assert result.ok, result.describe()
    assert mp4_facts(Path(preview_text(result, "2")))["frames"] == 121
    assert calls_at(comfy_sandbox.log(), "download")


def test_an_expired_result_is_explained_with_fals_retention(comfy, comfy_sandbox) -> None:
    request_id, files = generate_video(comfy)
    remove_result_files(files)
    assert comfy_sandbox.expire(request_id) == [request_id]
    comfy_sandbox.inject({"point": "download", "kind": "expired_url", "times": 5})
    result = comfy.run(by_id_prompt(T2V, request_id))
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    for words in (request_id, "6 minutes to 1 hour", "30 days", "no longer"):
        assert words in message, message


def test_an_unknown_request_id_is_explained(comfy, comfy_sandbox) -> None:
    request_id = str(uuid.uuid4())
    result = comfy.run(by_id_prompt(T2V, request_id))
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    expected = (f"fal does not know request {request_id}", "the id is wrong", "6 minutes to 1 hour", "30 days")
    for words in expected:
        assert words in message, message
    assert not calls_at(comfy_sandbox.log(), "submit")


def test_a_request_that_failed_at_fal_says_so(comfy, comfy_sandbox) -> None:
    comfy_sandbox.inject({"point": "submit", "kind": "result_500"})
    request_id = submit_direct(comfy_sandbox.url, T2V, {"prompt": "fails at fal"})
    wait_until_completed(comfy_sandbox.url, request_id)
    result = comfy.run(by_id_prompt(T2V, request_id))
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    assert f"request {request_id} failed at fal" in message, message


def test_cancel_while_following_a_running_request_cancels_it_at_fal(comfy, comfy_sandbox) -> None:
    comfy_sandbox.configure(queue_seconds=0.2, run_seconds=60)
    request_id = submit_direct(comfy_sandbox.url, T2V, {"prompt": "cancel me"})
    run = comfy.submit(by_id_prompt(T2V, request_id))
    run.wait_for_event(lambda e: e.type == "luma_fal.status" and e.data.get("node") == "1"
                       and e.data.get("phase") == "running", timeout=60)
    comfy.interrupt()
    result = run.wait(timeout=60)
    assert result.status == "interrupted", result.describe()
    cancels = calls_at(comfy_sandbox.log(), "cancel")
    assert len(cancels) == 1 and cancels[0]["request_id"] == request_id, cancels
    assert journal_row(comfy, request_id)["state"] == "cancelled"
