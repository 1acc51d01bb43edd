"""The fal key stays secret through a whole run: not in history, the server log, saved files or the UI."""

from __future__ import annotations

import json

from tests.e2e.pack_helpers import example_prompt
from tools.layout import TEST_FAL_KEY


def test_key_never_leaves_the_server_side(comfy, comfy_sandbox) -> None:
    prompt = example_prompt(comfy, "luma_chain_image_edit_video")
    result = comfy.run(prompt)
    assert result.ok, result.describe()
    secret = TEST_FAL_KEY.encode()
    places = {
        "history": json.dumps(result.history).encode(),
        "websocket messages": json.dumps([e.data for e in result.events], default=str).encode(),
        "ComfyUI log": comfy.log_text().encode(),
        "queued workflow": json.dumps(prompt).encode(),
    }
    for node_id in prompt:
        for ref in result.files(node_id):
            path = comfy.output_path(ref)
            places[str(path)] = path.read_bytes()  # includes MP4/PNG metadata
    leaked = [where for where, blob in places.items() if secret in blob]
    assert not leaked, f"the fal key appears in: {leaked}"
    assert len(places) > 4  # the run really produced files to look into
    # The sandbox saw the key on fal's calls (so the run was authorised), never logging it.
    calls = comfy_sandbox.log()
    assert calls and all(c.get("auth") in ("valid", None) for c in calls if c.get("point") in ("submit", "status"))
    assert secret not in json.dumps(calls).encode()
