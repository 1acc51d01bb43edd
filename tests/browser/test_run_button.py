"""The real Run button runs every paid node for a user who is signed out of any Comfy account, on every host and
frontend pair: the node shows its price before Run, the press reaches fal (the sandbox), and no frontend asks to
sign in. The nodes bill the user's own fal key, so they must never be taken for Comfy's partner (API) nodes,
which frontend 1.58.1 gates behind a Comfy sign-in ("Sign in to run").

A core partner node is the control: where the frontend has that gate, the same page shows "Sign in to run" for
it, so a pass here is the gate letting the pack's nodes through, not a frontend without a gate.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from nodes.luma import constants as C
from tests.browser.test_price_badge import assert_shows
from tests.e2e.pack_helpers import submits

RUN_BUTTON = '[data-testid="queue-button"]'
SIGN_IN_TO_RUN = '[data-testid="partner-sign-in-to-run-button"]'
# Frontends whose Run button turns into "Sign in to run" for a signed-out user when the graph has a partner node.
RUN_GATE_FRONTENDS = {"1.58.1"}
# A partner node of ComfyUI's own (comfy_api_nodes, loaded by every host): billed to a Comfy account.
CORE_PARTNER_NODE = "LumaImageNode"
SUBMIT_TIMEOUT_S = 60.0

PAID_EXAMPLES = [
    ("luma_ray32_text_to_video", "LumaFalRay32TextToVideo", C.RAY32_TEXT_TO_VIDEO),
    ("luma_ray32_image_to_video", "LumaFalRay32ImageToVideo", C.RAY32_IMAGE_TO_VIDEO),
    ("luma_ray32_video_to_video", "LumaFalRay32VideoToVideo", C.RAY32_VIDEO_TO_VIDEO),
    ("luma_ray32_reframe", "LumaFalRay32Reframe", C.RAY32_REFRAME),
    ("luma_uni1_text_to_image", "LumaFalUni1TextToImage", C.UNI1_TEXT_TO_IMAGE),
    ("luma_uni1_image_edit", "LumaFalUni1ImageEdit", C.UNI1_EDIT),
]


def _submits_to(sandbox: Any, endpoint: str) -> list[dict[str, Any]]:
    return [c for c in submits(sandbox) if c["path"].rstrip("/").endswith("/" + endpoint)]


def _wait_for_idle_queue(host: Any, timeout: float = SUBMIT_TIMEOUT_S) -> None:
    """The prompt the button queued has finished (the next test starts with ComfyUI's queue empty)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = host.client.get_json("/queue")
        if not queue["queue_running"] and not queue["queue_pending"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"ComfyUI's queue still busy after {timeout} s: {host.client.get_json('/queue')}")


@pytest.mark.parametrize(("workflow", "node_type", "endpoint"), PAID_EXAMPLES, ids=[e[0] for e in PAID_EXAMPLES])
def test_run_button_runs_the_paid_node_signed_out(comfy_page: Any, comfy_sandbox: Any, workflow: str,
                                                   node_type: str, endpoint: str) -> None:
    page = comfy_page.page
    comfy_page.load_workflow(comfy_page.host.example_workflow(workflow))
    node = next(n for n in comfy_page.nodes() if n["type"] == node_type)
    comfy_page.set_widget(node["id"], "seed", random.randint(1, 2**31 - 1))  # a new paid take, not a reuse
    # The price is on the node before Run.
    view = assert_shows(comfy_page, next(n for n in comfy_page.nodes() if n["id"] == node["id"]), node_type)
    assert view["badges"], f"{node_type} shows no price before Run"

    button = page.locator(RUN_BUTTON)
    button.wait_for(state="visible", timeout=30_000)
    assert page.locator(SIGN_IN_TO_RUN).count() == 0, "the frontend asks a signed-out user to sign in"
    before = len(_submits_to(comfy_sandbox, endpoint))
    button.click()
    deadline = time.monotonic() + SUBMIT_TIMEOUT_S
    while len(_submits_to(comfy_sandbox, endpoint)) == before:
        assert time.monotonic() < deadline, f"no submit to {endpoint} reached fal {SUBMIT_TIMEOUT_S} s after Run"
        page.wait_for_timeout(200)
    comfy_page.screenshot(f"run-button-{workflow}")
    _wait_for_idle_queue(comfy_page.host)
    assert comfy_page.recorder.page_errors == [], comfy_page.recorder.page_errors


def test_core_partner_node_is_gated_and_the_pack_nodes_are_not(canvas_page: Any) -> None:
    """The control: where the frontend gates partner nodes, a core one in the graph turns Run into "Sign in to
    run", and taking it out (leaving the pack's node) brings Run back."""
    page = canvas_page.page
    canvas_page.clear()
    canvas_page.add_node("LumaFalRay32TextToVideo", 100, 100)
    page.locator(RUN_BUTTON).wait_for(state="visible", timeout=30_000)
    assert page.locator(SIGN_IN_TO_RUN).count() == 0
    if canvas_page.frontend not in RUN_GATE_FRONTENDS:
        return  # this frontend has no partner-node gate: nothing more to tell apart
    partner = canvas_page.add_node(CORE_PARTNER_NODE, 500, 100)
    page.locator(SIGN_IN_TO_RUN).wait_for(state="visible", timeout=10_000)
    canvas_page.screenshot("run-button-gated-by-a-core-partner-node")
    page.evaluate("(id) => window.app.graph.remove(window.app.graph.getNodeById(id))", partner)
    page.locator(RUN_BUTTON).wait_for(state="visible", timeout=10_000)
    assert page.locator(SIGN_IN_TO_RUN).count() == 0
    canvas_page.screenshot("run-button-signed-out")
