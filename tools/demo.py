"""`make demo`: run the Ray 3.2 text-to-video example workflow in a real ComfyUI and print the MP4's path.

Starts the sandbox (a local fal) and ComfyUI 0.3.75 on free ports, converts
example_workflows/luma_ray32_text_to_video.json to an API prompt, queues it, follows its live status and
stops both servers at the end. With FAL_KEY set and LUMA_FAL_BASE_URL unset it talks to the real fal.ai
(billed to that key) and starts no sandbox; with LUMA_FAL_BASE_URL set it uses that fal.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from tools.comfy_client import RunResult
from tools.harness import ComfyHost, start_host
from tools.layout import TEST_FAL_KEY, TEST_OUTPUT
from tools.procs import ComfyOptions, SandboxProcess, ServerStartError, sandbox_available, start_sandbox

log = logging.getLogger("demo")

WORKFLOW = "luma_ray32_text_to_video"
TIMEOUT_SANDBOX = 300.0
TIMEOUT_REAL_FAL = 1800.0


def _mp4_paths(host: ComfyHost, result: RunResult, started: float) -> list[Path]:
    """MP4s the run produced: file references in the outputs, paths the nodes returned as text, and as a
    last resort MP4s written to the output folder during the run."""
    found = [host.output_path(f) for f in result.files() if f["filename"].lower().endswith(".mp4")]

    def strings(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return []

    found += [
        Path(s) for s in strings(result.outputs) if s.lower().endswith(".mp4") and Path(s).is_absolute()
    ]
    if not found:
        found = [p for p in host.output_dir.rglob("*.mp4") if p.stat().st_mtime >= started]
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return [p for p in unique if p.exists()]


def _follow(host: ComfyHost, prompt: dict[str, Any], timeout: float) -> RunResult:
    run = host.submit(prompt)
    log.info("queued prompt %s", run.prompt_id)
    shown = 0
    deadline = time.monotonic() + timeout
    try:
        while not run.finished and time.monotonic() < deadline:
            events = run.events
            for event in events[shown:]:
                if event.type == "luma_fal.status":
                    log.info("[%s] %s", event.data.get("phase"), event.data.get("text", ""))
                elif event.type == "progress_text":
                    log.info("node %s: %s", event.data["node"], event.data["text"])
            shown = len(events)
            time.sleep(0.5)
        return run.wait(max(1.0, deadline - time.monotonic()))
    finally:
        run.close()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="[demo %(asctime)s] %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the status lines
    real_fal = bool(os.environ.get("FAL_KEY") or os.environ.get("FAL_KEY_ID")) and not os.environ.get(
        "LUMA_FAL_BASE_URL"
    )
    sandbox: SandboxProcess | None = None
    host: ComfyHost | None = None
    options = ComfyOptions(name="demo", log_dir=TEST_OUTPUT / "logs")
    try:
        if real_fal:
            log.info(
                "FAL_KEY is set and LUMA_FAL_BASE_URL is not: calling the REAL fal.ai, billed to your key; "
                "no sandbox started"
            )
            options.fal_key = None  # keep the caller's key exactly as it is in the environment
        elif os.environ.get("LUMA_FAL_BASE_URL"):
            options.fal_base_url = os.environ["LUMA_FAL_BASE_URL"]
            options.fal_key = None if os.environ.get("FAL_KEY") else TEST_FAL_KEY
            log.info("using the fal at LUMA_FAL_BASE_URL=%s; no sandbox started", options.fal_base_url)
        else:
            if not sandbox_available():
                log.error("the sandbox (python -m sandbox) does not exist in this checkout yet")
                return 1
            sandbox = start_sandbox(log_dir=TEST_OUTPUT / "logs")
            log.info("sandbox (local fal) at %s", sandbox.url)

        host = start_host(options, sandbox=sandbox)
        log.info("ComfyUI %s ready at %s (log %s)", "0.3.75", host.url, host.log_path)
        prompt = host.convert(host.example_workflow(WORKFLOW))
        started = time.time()
        result = _follow(host, prompt, TIMEOUT_REAL_FAL if real_fal else TIMEOUT_SANDBOX)
        if not result.ok:
            log.error("the workflow did not succeed: %s", result.describe())
            return 1
        videos = _mp4_paths(host, result, started)
        if not videos:
            log.error("the workflow succeeded but produced no MP4; outputs: %s", result.outputs)
            return 1
        for path in videos:
            print(path)
        return 0
    except (ServerStartError, TimeoutError, OSError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        if host is not None:
            host.stop()
        if sandbox is not None:
            sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())
