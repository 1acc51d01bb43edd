"""Issue 4 inside a real ComfyUI: Cancel cancels at fal, faults end in a result or a clear message."""

from __future__ import annotations

import pytest

from tests.e2e.pack_helpers import calls_at, example_prompt, mp4_facts, node_of_type

EXAMPLE = "luma_ray32_text_to_video"
T2V = "LumaFalRay32TextToVideo"


def _phase(phase: str, node_id: str):
    """This node's status event of ``phase`` (not another node's, nor an earlier prompt's)."""
    return lambda e: (e.type == "luma_fal.status" and e.data.get("phase") == phase
                      and e.data.get("node") == node_id)


def _final_status(result, node_id: str) -> dict:
    mine = [s for s in result.statuses if s.get("node") == node_id]
    assert mine, result.describe()
    return mine[-1]


def test_cancel_while_queued_cancels_at_fal_and_says_not_billed(comfy, comfy_sandbox) -> None:
    comfy_sandbox.configure(queue_seconds=60, run_seconds=1)
    prompt = example_prompt(comfy, EXAMPLE)
    node_id, _ = node_of_type(prompt, T2V)
    run = comfy.submit(prompt)
    run.wait_for_event(_phase("in_queue", node_id), timeout=60)
    comfy.interrupt()
    result = run.wait(timeout=60)
    assert result.status == "interrupted", result.describe()
    cancels = calls_at(comfy_sandbox.log(), "cancel")
    assert len(cancels) == 1 and cancels[0]["cancel"]["state_before"] == "IN_QUEUE", cancels
    final = _final_status(result, node_id)
    assert final["phase"] == "cancelled" and "not billed" in final["text"], final
    # Nothing half-written is left behind in the output folder for this request.
    assert not [p for p in (comfy.output_dir / "luma-fal").glob("*") if p.stat().st_size == 0]


def test_cancel_while_running_cancels_at_fal_and_says_where_the_result_is(comfy, comfy_sandbox) -> None:
    comfy_sandbox.configure(queue_seconds=0.2, run_seconds=60)
    prompt = example_prompt(comfy, EXAMPLE)
    node_id, _ = node_of_type(prompt, T2V)
    run = comfy.submit(prompt)
    running = run.wait_for_event(_phase("running", node_id), timeout=60)
    comfy.interrupt()
    result = run.wait(timeout=60)
    assert result.status == "interrupted", result.describe()
    cancels = calls_at(comfy_sandbox.log(), "cancel")
    assert len(cancels) == 1 and cancels[0]["cancel"]["state_before"] == "IN_PROGRESS", cancels
    final = _final_status(result, node_id)
    request_id = running.data["request_id"]
    assert final["phase"] == "cancelled" and request_id in final["text"], final


def test_request_stuck_in_queue_is_cancelled_at_the_node_limit(comfy, comfy_sandbox) -> None:
    comfy_sandbox.inject({"point": "submit", "kind": "stuck_in_queue"})
    prompt = example_prompt(comfy, EXAMPLE, **{T2V: {"max_queue_wait": 10}})
    result = comfy.run(prompt, timeout=120)
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    assert "queue" in message.lower() and "credit" in message.lower(), message
    assert len(calls_at(comfy_sandbox.log(), "cancel")) == 1


@pytest.mark.parametrize(
    "faults",
    [
        [{"point": "submit", "kind": "http", "status": 429, "retry_after": 1}],
        [{"point": "submit", "kind": "http", "status": 503, "style": "nginx"}],
        [{"point": "stream", "kind": "stop_midway"}, {"point": "status", "kind": "drop"}],
        [{"point": "result", "kind": "http", "status": 502, "style": "nginx"}],
        [{"point": "download", "kind": "truncated", "mode": "drop", "fraction": 0.4}],
        [{"point": "download", "kind": "expired_url"}],
    ],
    ids=["submit-429", "submit-nginx-503", "stream-stops-and-status-drops", "result-nginx-502",
         "download-dropped-midway", "result-url-expired"],
)
def test_transient_faults_still_give_the_whole_video(comfy, comfy_sandbox, faults) -> None:
    comfy_sandbox.inject(*faults)
    prompt = example_prompt(comfy, EXAMPLE)
    node_id, _ = node_of_type(prompt, T2V)
    result = comfy.run(prompt, timeout=180)
    assert result.ok, result.describe()
    assert comfy_sandbox.pending_faults() == [], "the fault never fired, so this test proved nothing"
    files = [comfy.output_path(f) for f in result.files(node_id)]
    assert len(files) == 1 and mp4_facts(files[0])["frames"] == 121
    # Billed once: whatever was retried, fal accepted exactly one request.
    accepted = [c for c in calls_at(comfy_sandbox.log(), "submit") if c.get("status") == 200]
    assert len(accepted) == 1


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"point": "submit", "kind": "no_credit"}, ["credit"]),
        ({"point": "submit", "kind": "moderation"}, ["content filter (moderation)", "change the prompt"]),
        ({"point": "submit", "kind": "result_500"}, ["request"]),
        ({"point": "submit", "kind": "http", "status": 401}, ["key"]),
        ({"point": "submit", "kind": "drop"}, ["not re-sent"]),
    ],
    ids=["no-credit", "moderation", "model-failure", "bad-key", "submit-outcome-unknown"],
)
def test_failures_end_with_a_message_a_user_understands(comfy, comfy_sandbox, fault, words) -> None:
    if fault["kind"] == "drop":
        # A key that may not read fal's request records: the lost submit cannot be looked up there, so the
        # run ends at once with the unknown-outcome message (tests/e2e/test_reconcile.py has the lookup).
        comfy_sandbox.platform(key_scopes=["billing"])
        words = [*words, "give the key read access"]
    comfy_sandbox.inject(fault)
    prompt = example_prompt(comfy, EXAMPLE)
    result = comfy.run(prompt, timeout=180)
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    for word in words:
        assert word.lower() in message.lower(), message
    assert comfy_sandbox.pending_faults() == []
    assert len(calls_at(comfy_sandbox.log(), "submit")) == 1  # never re-sent: billed once or not at all
    assert "test-key" not in message and "Key " not in message


def test_independent_nodes_run_on_fal_at_the_same_time(comfy, comfy_sandbox) -> None:
    comfy_sandbox.configure(queue_seconds=0.5, run_seconds=2.0)
    prompt = example_prompt(comfy, EXAMPLE)
    node_id, node = node_of_type(prompt, T2V)
    twin = {"class_type": T2V, "inputs": {**node["inputs"], "prompt": node["inputs"]["prompt"] + " (twin)"}}
    prompt["60"] = twin
    prompt["61"] = {"class_type": "SaveVideo", "inputs": {"video": ["60", 0], "filename_prefix": "luma-fal/twin",
                                                          "format": "auto", "codec": "auto"}}
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    calls = comfy_sandbox.log()
    submits = [c["seq"] for c in calls_at(calls, "submit")]
    results = [c["seq"] for c in calls_at(calls, "result")]
    assert len(submits) == 2 and results
    # Both requests were on fal before either result was read: the two nodes waited side by side.
    assert max(submits) < min(results), (submits, results)


def test_a_failed_download_says_where_the_paid_result_still_is(comfy, comfy_sandbox) -> None:
    comfy_sandbox.inject({"point": "download", "kind": "drop", "fraction": 0.0, "times": 50})
    prompt = example_prompt(comfy, EXAMPLE)
    result = comfy.run(prompt, timeout=300)
    assert result.status == "error", result.describe()
    message = result.error["exception_message"]
    request_id = calls_at(comfy_sandbox.log(), "submit")[0]["request_id"]
    assert request_id in message and "billed" in message and comfy_sandbox.url in message, message
    assert not [p for p in (comfy.output_dir / "luma-fal").glob("*.part")]  # no partial file left behind
