"""Fan-out benchmark: `python bench/run.py --fanout` (or `make bench BENCH_ARGS=--fanout`).

In a real ComfyUI (the 0.3.75 test host) against the sandbox with fal-like times (queue 2 s, run 8 s):
  one take     the text-to-video example, frames connected, one take
  8 takes      the same graph with takes = 8: eight concurrent fal requests from one node run
  batch of 8   eight queued prompts of the same one-take graph with different seeds (ComfyUI's batch count)
Prints the times, the ratio of 8 takes to one take (target <= 1.3) and to the batch, and the peak memory
the ComfyUI process gained during the 8-take run (frames connected) against the sum of the frame
tensors it returned (target <= 1.1). Everything it writes (ComfyUI's folders, logs, fanout.md) is under
bench/out/fanout/.
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from memory import PeakRss, rss_bytes  # noqa: E402

from tools.harness import ComfyHost, start_host  # noqa: E402
from tools.procs import ComfyOptions, start_sandbox  # noqa: E402
from tools.sandbox_control import SandboxControl  # noqa: E402

OUT = HERE / "out" / "fanout"
T2V = "LumaFalRay32TextToVideo"
QUEUE_S, RUN_S = 2.0, 8.0
TAKES = 8
FRAMES_HEIGHT = 270  # keeps eight 121-frame tensors near 1.5 GB on a shared machine; the ratio is what counts
TARGETS = {"8 takes / one take time": 1.3, "peak gained / tensor sum": 1.1}


def _graph(comfy: ComfyHost, seed: int, takes: int) -> dict[str, Any]:
    """The text-to-video example with frames connected to GetImageSize, and its sizes shown."""
    prompt = comfy.convert(comfy.example_workflow("luma_ray32_text_to_video"))
    node_id = next(nid for nid, n in prompt.items() if n["class_type"] == T2V)
    prompt[node_id]["inputs"].update(seed=seed, takes=takes, frames_height=FRAMES_HEIGHT,
                                     prompt=f"fan-out bench {seed}")
    size_id = next(nid for nid, n in prompt.items() if n["class_type"] == "GetImageSize")
    for slot, name in enumerate(("w", "h")):
        prompt[f"9{slot}"] = {"class_type": "PreviewAny", "inputs": {"source": [size_id, slot]}}
    return prompt


def _tensor_bytes(result: Any, prompt: dict[str, Any]) -> int:
    """Sum over takes of frames x width x height x 3 x float32, read from GetImageSize's outputs."""
    size_id = next(nid for nid, n in prompt.items() if n["class_type"] == "GetImageSize")
    count_id = next(nid for nid, n in prompt.items() if n["class_type"] == "PreviewAny"
                    and n["inputs"]["source"] == [size_id, 2])
    counts = [int(t) for t in result.outputs[count_id]["text"]]
    widths = [int(t) for t in result.outputs["90"]["text"]]
    heights = [int(t) for t in result.outputs["91"]["text"]]
    return sum(c * w * h * 3 * 4 for c, w, h in zip(counts, widths, heights, strict=True))


def _timed_run(comfy: ComfyHost, prompt: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = comfy.run(prompt, timeout=900)
    if not result.ok:
        raise RuntimeError(result.describe())
    return time.perf_counter() - started, result


def run_fanout(line: Any) -> dict[str, float]:
    shutil.rmtree(OUT, ignore_errors=True)  # a fresh journal: no earlier result is reused
    OUT.mkdir(parents=True)
    sandbox = start_sandbox(log_dir=OUT / "logs")
    comfy = None
    try:
        control = SandboxControl(sandbox.url)
        options = ComfyOptions(name="bench-fanout", output_dir=OUT / "output", input_dir=OUT / "input",
                               user_dir=OUT / "user", temp_dir=OUT / "temp", log_dir=OUT / "logs")
        comfy = start_host(options, sandbox)
        pid = comfy.server.process.pid
        seeds = random.Random(time.time()).sample(range(1, 2**31 - 1), 20)
        control.configure(queue_seconds=0.1, run_seconds=0.1)
        _timed_run(comfy, _graph(comfy, seeds.pop(), 1))  # warm-up: imports, decoder, first download
        control.configure(queue_seconds=QUEUE_S, run_seconds=RUN_S)

        one, _ = _timed_run(comfy, _graph(comfy, seeds.pop(), 1))
        line("one take (s)", f"{one:.1f}")

        fanned = _graph(comfy, seeds.pop(), TAKES)
        before = rss_bytes(pid)
        with PeakRss(pid) as peak:
            eight, result = _timed_run(comfy, fanned)
        tensors = _tensor_bytes(result, fanned)
        gained = peak.peak - before
        line(f"{TAKES} takes in one node (s)", f"{eight:.1f}")

        started = time.perf_counter()
        runs = [comfy.submit(_graph(comfy, seeds.pop(), 1)) for _ in range(TAKES)]
        for run in runs:
            batch_result = run.wait(900)
            if not batch_result.ok:
                raise RuntimeError(batch_result.describe())
        batch = time.perf_counter() - started
        line(f"batch count {TAKES}: {TAKES} queued prompts (s)", f"{batch:.1f}")

        figures = {
            "8 takes / one take time": eight / one,
            "batch / 8 takes time": batch / eight,
            "peak gained / tensor sum": gained / tensors,
        }
        line("frame tensors of the 8 takes (MiB)", f"{tensors / 2**20:.0f}")
        line("ComfyUI peak RSS gained during the 8-take run (MiB)", f"{gained / 2**20:.0f}")
        for name, value in figures.items():
            target = TARGETS.get(name)
            verdict = f" (target <= {target}: {'met' if value <= target else 'NOT met'})" if target else ""
            line(name, f"{value:.2f}{verdict}")
        (OUT / "fanout.md").write_text(
            f"Fan-out, sandbox queue {QUEUE_S:g} s + run {RUN_S:g} s, frames connected at {FRAMES_HEIGHT}p:\n"
            f"one take {one:.1f} s; {TAKES} takes in one node {eight:.1f} s ({figures['8 takes / one take time']:.2f}x); "
            f"batch count {TAKES} {batch:.1f} s ({figures['batch / 8 takes time']:.2f}x the fan-out); peak memory "
            f"gained {gained / 2**20:.0f} MiB for {tensors / 2**20:.0f} MiB of frames "
            f"({figures['peak gained / tensor sum']:.2f}x).\n", encoding="utf-8")
        return figures
    finally:
        if comfy is not None:
            comfy.stop()
        sandbox.stop()
