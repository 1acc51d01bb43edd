"""A Cancel pressed while a status line moves the node's progress bar is never lost, in a real ComfyUI.

ComfyUI's progress hook raises on Cancel and clears the global flag as it does; the pack's waits (the
one that cancels every take at fal, the frame decode) read that flag. A bar update that lands between the
Cancel and the wait's next look would otherwise swallow it: the takes would run on at fal and the prompt
would hold the queue. The test-only node (tests/e2e/test_only_nodes.py.txt) presses Cancel and then moves a bar: the
pack's bar keeps the Cancel; core's own bar, the control, shows the hook really does clear it.
"""

from __future__ import annotations

from typing import Any

import pytest


def _cancel_then_progress(host: Any, bar: str) -> str:
    result = host.run({"1": {"class_type": "TestOnlyCancelThenProgress", "inputs": {"bar": bar}}}, timeout=120)
    assert result.ok, result.describe()
    return str(result.outputs["1"]["text"][0])


@pytest.mark.parametrize("bar, expected", [
    ("pack", "cancel kept: True; raised: False"),
    ("core", "cancel kept: False; raised: True"),  # the control: core's hook clears the flag as it raises
])
def test_a_progress_update_after_cancel_keeps_the_cancel(comfy_guarded_each_host, bar, expected) -> None:
    assert _cancel_then_progress(comfy_guarded_each_host, bar) == expected
