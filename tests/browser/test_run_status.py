"""Queue a run from the page: live status appears on the node while fal (the sandbox) works, clears at
the end, and the result shows in the node (a muted, looping video; image thumbnails)."""

from __future__ import annotations

import random
import re
import time
from typing import Any

from tools.layout import TEST_FAL_KEY

RUN_TIMEOUT_S = 60.0


def queue_example(comfy_page: Any, workflow: str, node_type: str) -> int:
    comfy_page.load_workflow(comfy_page.host.example_workflow(workflow))
    node_id = next(n["id"] for n in comfy_page.nodes() if n["type"] == node_type)
    comfy_page.set_widget(node_id, "seed", random.randint(1, 2**31 - 1))  # a fresh run, not a cache hit
    comfy_page.page.evaluate("() => window.app.queuePrompt(0, 1)")
    return node_id


def follow(comfy_page: Any, node_id: int, done: str, shot: str, *, hold: Any = None,
           run_held_until: str | None = None) -> list[tuple[str, str]]:
    """Distinct (phase, drawn text) pairs on the node until the JS condition ``done`` (given ``node``) holds;
    a screenshot ``shot`` is taken the first time the node shows the running phase. ``hold``: the sandbox,
    whose queue the test made long; once the node has drawn a queue position, every request submitted so far
    (and from then on) is released, so the queue phase is seen however slowly a loaded machine draws.
    ``run_held_until``: the sandbox also holds the run (``hold_running``); it is released once the node has
    drawn this text, so the running phase's log lines are seen however slowly a screenshot is taken."""
    seen: list[tuple[str, str]] = []
    position_drawn = False
    run_text_drawn = False
    released: set[str] = set()
    runs_released: set[str] = set()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        comfy_page.redraw()
        state = comfy_page.page.evaluate(
            f"""(id) => {{
                const node = window.app.graph.getNodeById(id);
                return {{ drawn: node.lumaFal?.statusLines ? node.lumaFal.drawnStatus ?? null : null,
                          phase: node.lumaFal?.status?.phase ?? null, done: !!({done}) }};
            }}""",
            node_id,
        )
        if state["drawn"] and (not seen or seen[-1][1] != state["drawn"]):
            if state["phase"] == "running" and all(phase != "running" for phase, _ in seen):
                comfy_page.screenshot(shot)
            seen.append((state["phase"], state["drawn"]))
        position_drawn = position_drawn or bool(re.search(r"In queue, position \d", state["drawn"] or ""))
        if hold is not None and position_drawn:
            _release_submitted(hold, released)
        run_text_drawn = run_text_drawn or (run_held_until is not None and run_held_until in (state["drawn"] or ""))
        if hold is not None and run_text_drawn:
            _release_submitted(hold, runs_released)
        if state["done"]:
            return seen
        comfy_page.page.wait_for_timeout(100)
    raise AssertionError(
        f"run did not finish within {RUN_TIMEOUT_S}s; statuses seen: {seen}; node now: {node_state(comfy_page, node_id)}"
    )


def _release_submitted(sandbox: Any, released: set[str]) -> None:
    """Release each submitted request once (``released`` remembers them across polls)."""
    log = sandbox.log()  # tests/conftest.py's sandbox answers the calls, a SandboxControl the whole log
    for call in log if isinstance(log, list) else log["calls"]:
        request_id = call.get("request_id") if call.get("point") == "submit" else None
        if request_id and request_id not in released and sandbox.release(request_id):
            released.add(request_id)  # not yet queued or already out: asked again at the next poll


def node_state(comfy_page: Any, node_id: int) -> dict[str, Any]:
    return comfy_page.page.evaluate(
        """(id) => {
            const node = window.app.graph.getNodeById(id);
            const videos = [...document.querySelectorAll('video')].map(v => ({
                src: v.currentSrc || v.src, muted: v.muted, loop: v.loop, readyState: v.readyState }));
            return { status: node.lumaFal?.status ?? null, lines: node.lumaFal?.statusLines ?? null,
                     lastVideo: node.lumaFal?.lastVideo ?? null, preview: node.lumaFal?.preview ?? null, videos,
                     imgs: (node.imgs || []).map(i => i.src) };
        }""",
        node_id,
    )


def test_video_run_shows_status_then_plays_result(comfy_page: Any, comfy_sandbox: Any) -> None:
    # Held in fal's queue until a position is drawn, and running until a log line is drawn: a loaded machine
    # may take longer to draw (and screenshot) the node than the run takes.
    comfy_sandbox.configure(queue_seconds=120.0, run_seconds=3.0, queue_position_start=2, log_lines=3,
                            hold_running=True)
    node_id = queue_example(comfy_page, "luma_ray32_text_to_video", "LumaFalRay32TextToVideo")
    statuses = follow(
        comfy_page, node_id,
        "!node.lumaFal?.status && node.lumaFal?.preview && [...document.querySelectorAll('video')].some(v => v.readyState >= 2)",
        "run-video-status", hold=comfy_sandbox, run_held_until="Generating",
    )
    assert statuses, "no status was drawn on the node while it ran"
    phases = {phase for phase, _ in statuses}
    assert {"in_queue", "running"} <= phases, f"queue and run phases not both shown: {statuses}"
    assert any("position" in text for phase, text in statuses if phase == "in_queue"), statuses
    # The sandbox's progress log lines reach the node.
    assert any("Generating" in text for _, text in statuses), f"no fal log line shown: {statuses}"
    state = node_state(comfy_page, node_id)
    assert state["status"] is None and state["lines"] is None, "the status did not clear when the run ended"
    filename = state["lastVideo"]["filename"]
    playing = [v for v in state["videos"] if filename in v["src"]]
    assert playing, f"no <video> plays {filename}: {state['videos']}"
    assert all(v["muted"] and v["loop"] for v in playing)
    # Playing, not just loaded: its clock moves (waited for, so the screenshot shows a frame).
    comfy_page.page.wait_for_function(
        "(name) => [...document.querySelectorAll('video')].some(v => (v.currentSrc || v.src).includes(name)"
        " && v.currentTime > 0)",
        arg=filename, timeout=20_000,
    )
    comfy_page.screenshot("run-video-result")
    for url, body in comfy_page.recorder.bodies():
        assert TEST_FAL_KEY.encode() not in body, f"the server's fal key appears in {url}"


def test_image_run_shows_status_then_thumbnail(comfy_page: Any, comfy_sandbox: Any) -> None:
    # Held in fal's queue until the node draws its position (a loaded machine may draw nothing of a short run).
    comfy_sandbox.configure(queue_seconds=120.0, run_seconds=2.0, queue_position_start=1, log_lines=2)
    node_id = queue_example(comfy_page, "luma_uni1_text_to_image", "LumaFalUni1TextToImage")
    statuses = follow(comfy_page, node_id, "!node.lumaFal?.status && (node.imgs || []).some(i => i.complete && i.naturalWidth > 0)",
                      "run-image-status", hold=comfy_sandbox)
    assert statuses, "no status was drawn on the node while it ran"
    assert any(phase == "in_queue" and "position" in text for phase, text in statuses), statuses
    state = node_state(comfy_page, node_id)
    assert state["status"] is None
    assert any("/view?" in src for src in state["imgs"]), f"no thumbnail on the node: {state['imgs']}"
    comfy_page.screenshot("run-image-result")


def test_takes_show_n_of_m_and_each_takes_phase_on_the_node(comfy_page: Any, comfy_sandbox: Any) -> None:
    # Held in fal's queue until a position is drawn: on a busy machine the first status a take gets may come
    # before fal names a position, and a short queue can be over before the node is drawn at all.
    # Running is held too, until take 1's run is drawn.
    comfy_sandbox.configure(queue_seconds=120.0, run_seconds=2.0, queue_position_start=2, hold_running=True)
    comfy_page.load_workflow(comfy_page.host.example_workflow("luma_ray32_text_to_video"))
    node_id = next(n["id"] for n in comfy_page.nodes() if n["type"] == "LumaFalRay32TextToVideo")
    comfy_page.set_widget(node_id, "seed", random.randint(1, 2**31 - 1))
    comfy_page.set_widget(node_id, "takes", 3)
    comfy_page.page.evaluate("() => window.app.queuePrompt(0, 1)")
    statuses = follow(comfy_page, node_id, "!node.lumaFal?.status && node.lumaFal?.preview", "run-takes-status",
                      hold=comfy_sandbox, run_held_until="take 1: Running")
    drawn = [text for _, text in statuses]
    assert any(text.startswith("0 of 3 takes done") for text in drawn), drawn
    # One drawn line per unfinished take, with its phase and queue position.
    assert any(re.match(r"take [123]: In queue, position \d", line) for text in drawn for line in text.splitlines()), drawn
    assert any(line.startswith("take 1: Running") for text in drawn for line in text.splitlines()), drawn
