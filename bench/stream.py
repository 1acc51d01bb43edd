"""Done -> frames benchmark: `python bench/run.py --done-to-frames` (or `make bench BENCH_ARGS=--done-to-frames`).

In a real ComfyUI (the 0.3.75 test host) against the sandbox, a text-to-video node with its frames output
connected (to GetImageSize), for 540p 5 s and 1080p 10 s, with the sandbox's CDN throttled to 50 Mbit/s,
200 Mbit/s and unthrottled. Per case:
  done->frames   from the moment the sandbox marked the request COMPLETED (its wall clock,
                 GET /_sandbox/requests/{id}) to ComfyUI's execution_success (its wall clock; same machine)
  download       the same file downloaded alone at the same throttle, by this process, in the same run
  decode         the saved file decoded alone (bench/methods.py "ours", its own process), in the same run
  tags alone     the provenance tags written into the file downloaded alone (the save's packet-copy remux)
and their max and sum, the ratio done->frames / max(download, decode) (target <= 1.15 on the throttled links),
and ComfyUI's peak RSS gained during the run over the frame tensor (target <= 1.05). Every case runs with
streaming on and again in a second ComfyUI started with LUMA_FAL_STREAM_DECODE=0, so the gain is a ratio from
one run. Everything it writes is under bench/out/stream/. Timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from memory import PeakRss, rss_bytes  # noqa: E402
from methods import run_worker  # noqa: E402

from tools.harness import ComfyHost, start_host  # noqa: E402
from tools.procs import ComfyOptions, start_sandbox  # noqa: E402
from tools.sandbox_control import SandboxControl  # noqa: E402

OUT = HERE / "out" / "stream"
T2V = "LumaFalRay32TextToVideo"
CLIPS = {"540p 5s": ("540p", "5s"), "1080p 10s": ("1080p", "10s")}
LINKS = {"50 Mbit/s": 50e6 / 8, "200 Mbit/s": 200e6 / 8, "unthrottled": None}
RUNS = {"540p 5s": 5, "1080p 10s": 1}  # 540p unthrottled differs by ~0.02 s: it needs more runs
# The sandbox's synthetic clips compress to almost nothing; at these constant bit rates a result is as big as a
# real one (540p 5 s about 3.8 MB, 1080p 10 s about 30 MB), which is what the download time depends on.
BITRATE = {"540p 5s": 6e6, "1080p 10s": 24e6}
# fal's generation takes a while, and the node faults the frame tensor into memory meanwhile (media.prepared):
# about 2-3 s per GB on this VM. These sandbox run times leave it that long, as a real run does (a real Ray
# 1080p 10 s run takes minutes), so done->frames measures the download and decode, not a short fake run.
RUN_SECONDS = {"540p 5s": 3.0, "1080p 10s": 18.0}
TARGET_OVERLAP, TARGET_PEAK = 1.15, 1.05


def _graph(comfy: ComfyHost, seed: int, resolution: str, duration: str) -> dict[str, Any]:
    """The text-to-video example, frames connected to GetImageSize; SaveVideo left out (it is not the pack's)."""
    prompt = comfy.convert(comfy.example_workflow("luma_ray32_text_to_video"))
    prompt = {nid: n for nid, n in prompt.items() if n["class_type"] != "SaveVideo"}
    node_id = next(nid for nid, n in prompt.items() if n["class_type"] == T2V)
    prompt[node_id]["inputs"].update(seed=seed, resolution=resolution, duration=duration, aspect_ratio="16:9",
                                     prompt=f"done to frames bench {seed}")
    return prompt


def _finished_at(result: Any) -> float:
    for kind, data in result.history.get("status", {}).get("messages", []):
        if kind == "execution_success":
            return float(data["timestamp"]) / 1000.0
    raise RuntimeError("no execution_success in the history")


def _request_id(result: Any) -> str:
    ids = [s.get("request_id") for s in result.statuses if s.get("request_id")]
    if not ids:
        raise RuntimeError("the run reported no request id")
    return str(ids[-1])


def _download_alone(sandbox_url: str, path: str, dest: Path) -> float:
    started = time.perf_counter()
    with httpx.stream("GET", sandbox_url + path, headers={"Accept-Encoding": "identity"}, timeout=120,
                      trust_env=False) as reply, open(dest, "wb") as out:
        reply.raise_for_status()
        for chunk in reply.iter_bytes(1 << 20):
            out.write(chunk)
    return time.perf_counter() - started


def _tags_alone(path: Path) -> float:
    """The provenance tags the save writes after the download (a packet-copy remux of the whole file): part of
    done->frames whenever the download, not the decode, is the slower of the two."""
    from nodes.media.metadata import tag_file

    started = time.perf_counter()
    tag_file(path, {"fal_endpoint": "luma/agent/ray/v3.2/text-to-video", "fal_request_id": "bench"})
    return time.perf_counter() - started


def _decode_alone(path: Path) -> dict[str, Any]:
    return run_worker(["ours", str(path)])


def _free(comfy: ComfyHost, above: int = 512 << 20) -> None:
    """Drop ComfyUI's cached outputs (the last run's frames) so each run, and each decode alone beside it,
    starts from the same memory: a 1080p 10 s clip's frames are 6 GB. Waits (at most 20 s) for the RSS to fall."""
    httpx.post(f"{comfy.url}/free", json={"unload_models": True, "free_memory": True}, timeout=30)
    pid = comfy.server.process.pid
    for _ in range(200):
        time.sleep(0.1)
        if rss_bytes(pid) < _BASE_RSS.get(pid, 0) + above:
            return


_BASE_RSS: dict[int, int] = {}  # ComfyUI's RSS after its warm-up run and a free: what "freed" means


def _one(comfy: ComfyHost, control: SandboxControl, sandbox_url: str, seed: int, clip: str) -> dict[str, float]:
    resolution, duration = CLIPS[clip]
    control.configure(video_bitrate=BITRATE[clip], run_seconds=RUN_SECONDS[clip])
    _free(comfy)
    pid = comfy.server.process.pid
    before = rss_bytes(pid)
    seen = len(control.log()["calls"])
    with PeakRss(pid) as peak:
        result = comfy.run(_graph(comfy, seed, resolution, duration), timeout=900)
    if not result.ok:
        raise RuntimeError(result.describe())
    request_id = _request_id(result)
    times = httpx.get(f"{sandbox_url}/_sandbox/requests/{request_id}", timeout=10).json()
    done_to_frames = _finished_at(result) - float(times["completed_at"])
    calls = control.log()["calls"][seen:]
    downloads = [c for c in calls if c.get("point") == "download" and c.get("method") == "GET"]
    timeline = _timeline(calls, float(times["completed_at"]))
    saved = max(Path(comfy.output_dir).rglob("*.mp4"), key=lambda p: p.stat().st_mtime)
    _free(comfy)  # the decode alone needs the memory the node's frames held
    download = _download_alone(sandbox_url, downloads[0]["path"], OUT / "download-alone.mp4")
    tagging = _tags_alone(OUT / "download-alone.mp4")
    decoded = _decode_alone(saved)
    if "error" in decoded:
        raise RuntimeError(f"decode alone failed: {decoded['error']}")
    tensor = decoded["tensor_bytes"]
    return {"done_to_frames": done_to_frames, "download": download, "decode": decoded["seconds"], "tags": tagging,
            "peak_x": (peak.peak - before) / tensor, "bytes": saved.stat().st_size,
            "rss_before_mib": before / 2**20, "rss_peak_mib": peak.peak / 2**20, **timeline}


def _timeline(calls: list[dict[str, Any]], completed_at: float) -> dict[str, float]:
    """Where the time after COMPLETED went, seen from the sandbox: when (s after COMPLETED) the result read, the
    download and the second download GET (the Range request for a trailing moov) arrived; -1 when absent."""
    after = [c for c in calls if float(c.get("time", 0)) >= completed_at - 0.05]
    result = [c for c in after if c.get("point") == "result" and c.get("method") == "GET"]
    status = [c for c in after if c.get("point") == "status" and c.get("method") == "GET"]
    gets = [c for c in after if c.get("point") == "download" and c.get("method") == "GET"]

    def at(found: list[dict[str, Any]], index: int = 0) -> float:
        return float(found[index]["time"]) - completed_at if len(found) > index else -1.0

    return {"t_result": at(result), "t_download": at(gets), "t_tail": at(gets, 1), "status_reads": float(len(status))}


def _host(sandbox: Any, name: str, streaming: bool) -> ComfyHost:
    folder = OUT / name
    env = {} if streaming else {"LUMA_FAL_STREAM_DECODE": "0"}
    options = ComfyOptions(name=f"bench-{name}", output_dir=folder / "output", input_dir=folder / "input",
                           user_dir=folder / "user", temp_dir=folder / "temp", log_dir=OUT / "logs", extra_env=env)
    return start_host(options, sandbox)


def run_done_to_frames(line: Any, runs: int = 0, clips: list[str] | None = None) -> list[dict[str, Any]]:
    """``clips``: a subset of CLIPS by their names without the space (540p5s, 1080p10s)."""
    names = {c.replace(" ", ""): c for c in CLIPS}
    unknown = sorted(set(clips or []) - set(names))
    if unknown:
        raise SystemExit(f"--done-to-frames: unknown clip(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    wanted = [c for name, c in names.items() if clips is None or name in clips]
    shutil.rmtree(OUT, ignore_errors=True)  # a fresh journal: no earlier result is reused
    OUT.mkdir(parents=True)
    sandbox = start_sandbox(log_dir=OUT / "logs")
    seeds = random.Random(time.time()).sample(range(1, 2**31 - 1), 200)
    rows: list[dict[str, Any]] = []
    try:
        control = SandboxControl(sandbox.url)
        for mode, streaming in (("streaming", True), ("download-then-decode", False)):
            comfy = _host(sandbox, "on" if streaming else "off", streaming)
            try:
                control.configure(queue_seconds=0.2, download_bytes_per_second=None)
                _one(comfy, control, sandbox.url, seeds.pop(), "540p 5s")  # warm-up: imports, decoder
                _free(comfy)
                _BASE_RSS[comfy.server.process.pid] = rss_bytes(comfy.server.process.pid)
                for clip in wanted:
                    for link, rate in LINKS.items():
                        control.configure(download_bytes_per_second=rate)
                        samples = [_one(comfy, control, sandbox.url, seeds.pop(), clip)
                                   for _ in range(runs or RUNS[clip])]
                        row = {"mode": mode, "clip": clip, "link": link, "runs": len(samples),
                               **{k: statistics.median(s[k] for s in samples) for k in samples[0]}}
                        row["max"] = max(row["download"], row["decode"])
                        row["sum"] = row["download"] + row["decode"]
                        row["over_max"] = row["done_to_frames"] / row["max"]
                        rows.append(row)
                        line(f"{mode} {clip} {link}", _text(row))
            finally:
                comfy.stop()
    finally:
        sandbox.stop()
    table = _table(rows)
    (OUT / "done_to_frames.md").write_text(table + "\n", encoding="utf-8")
    print(table, flush=True)
    line("table", str((OUT / "done_to_frames.md").relative_to(REPO)))
    return rows


def _text(row: dict[str, Any]) -> str:
    return (f"done->frames {row['done_to_frames']:.2f} s, download {row['download']:.2f} s, decode "
            f"{row['decode']:.2f} s (max {row['max']:.2f}, sum {row['sum']:.2f}), {row['over_max']:.2f}x max, "
            f"provenance tags alone {row['tags'] * 1000:.0f} ms, "
            f"peak {row['peak_x']:.2f}x tensor (RSS {row['rss_before_mib']:.0f} -> {row['rss_peak_mib']:.0f} MiB), "
            f"{row['bytes'] / 2**20:.1f} MiB file, median of {row['runs']}; after COMPLETED: result read at "
            f"{row['t_result']:.2f} s, download GET at {row['t_download']:.2f} s, tail GET at {row['t_tail']:.2f} s, "
            f"{row['status_reads']:.0f} status reads")


def _table(rows: list[dict[str, Any]]) -> str:
    off = {(r["clip"], r["link"]): r for r in rows if r["mode"] != "streaming"}
    out = ["| clip | link | done->frames streaming | download-then-decode | gain | download alone | decode alone "
           "| max | sum | streaming / max | tags alone | peak / tensor | runs |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in (r for r in rows if r["mode"] == "streaming"):
        other = off.get((row["clip"], row["link"]))
        before = f"{other['done_to_frames']:.2f} s" if other else "-"
        gain = f"{other['done_to_frames'] / row['done_to_frames']:.2f}x" if other else "-"
        target = f" (target <= {TARGET_OVERLAP})" if row["link"] != "unthrottled" else ""
        out.append(f"| {row['clip']} | {row['link']} | {row['done_to_frames']:.2f} s | {before} | {gain} | "
                   f"{row['download']:.2f} s | {row['decode']:.2f} s | {row['max']:.2f} s | {row['sum']:.2f} s | "
                   f"{row['over_max']:.2f}x{target} | {row['tags'] * 1000:.0f} ms | {row['peak_x']:.2f}x | {row['runs']} |")
    return "\n".join(out)
