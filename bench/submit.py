"""Run -> submitted benchmark: `python bench/run.py --run-to-submitted` (`make bench BENCH_ARGS=--run-to-submitted`).

In a real ComfyUI (the 0.3.75 test host) against the sandbox, with the sandbox's storage uplink throttled
(``upload_bytes_per_second`` with ``upload_link_shared``: every upload under way shares one link of that rate,
as a user's own uplink does). Cases (``--cases``, default all):
  v2v        video-to-video from IMAGE frames: the 1080p 10 s bench clip (241 frames) loaded by the pack's
             LumaFalVideoToFrames, into source_frames; asked at 1080p 10 s
  keyframes  image-to-video with 64 1080p keyframes (the clip's first 64 frames), asked at 720p 10 s
  t2v        text-to-video, nothing to upload (the control: what Run -> submitted costs with no upload)
at 20 Mbit/s, 50 Mbit/s and unthrottled (``--links``). The core nodes' outputs are cached by ComfyUI after a
warm-up run, so a timed run starts with the frames in memory, as after a user's own processing. Each run
clears the pack's upload cache first, so its inputs really go up. Per case and link:
  run->submitted   from POST /prompt (this process's clock) to the submit reaching the sandbox (its call log; the
                   same machine's clock)
  first upload     when the first upload request reached the sandbox (the encode and preparation before it)
  floor            the bytes the sandbox received / the link rate (none unthrottled), and the bytes a
                   right-sized upload would need (encoded at the requested resolution) / the rate
  encode alone     the same inputs encoded by the pack's media code in a fresh process, same run
  upload alone     the same bytes uploaded by this process to the same throttled sandbox, same run (4 at once for
                   many files, as the pack does)
  peak             ComfyUI's RSS gained during the run
Medians of ``--runs`` (default 2). Writes only under bench/out/submit/.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from clips import ALL_CLIPS, ensure_clip  # noqa: E402
from memory import PeakRss, rss_bytes  # noqa: E402

from tools.harness import start_host  # noqa: E402
from tools.procs import ComfyOptions, start_sandbox  # noqa: E402
from tools.sandbox_control import SandboxControl  # noqa: E402

OUT = HERE / "out" / "submit"
CLIP = "1080p10s"
KEYFRAMES = 64
CASES = {  # name: (pack node, requested resolution)
    "v2v": ("LumaFalRay32VideoToVideo", "1080p"),
    "keyframes": ("LumaFalRay32ImageToVideo", "720p"),
    "t2v": ("LumaFalRay32TextToVideo", "1080p"),
}
LINKS: dict[str, float | None] = {"20 Mbit/s": 20e6 / 8, "50 Mbit/s": 50e6 / 8, "unthrottled": None}
# x264 (preset, CRF) measured beside the pack's own choice: the same setting again, and the two faster presets.
TRADE_OFF = (("veryfast", 15), ("superfast", 17), ("ultrafast", 17))
PSNR_FRAMES = 48  # frames compared for the quality of each setting
TARGET = 1.25  # run->submitted / floor of the bytes the pack sends at 20 Mbit/s, for v2v and keyframes
UPLOAD_POINTS = ("/files/upload", "/storage/put/", "/multipart/")


# ---------------------------------------------------------------------------------------------- graphs
def _graph(case: str, seed: int, clip_name: str) -> dict[str, Any]:
    node, resolution = CASES[case]
    common = {"prompt": f"run to submitted bench {seed}", "seed": seed, "resolution": resolution, "duration": "10s",
              "hdr": False, "exr_export": False, "max_queue_wait": 600, "max_total_time": 1800, "takes": 1}
    # The pack's own loader (a frame tensor and nothing more in memory): the frames a processed clip gives.
    frames = {"class_type": "LumaFalVideoToFrames", "inputs": {
        "path": str(OUT / "comfy" / "input" / clip_name), "start_frame": 0, "every_nth": 1, "height": 0,
        "frame_cap": KEYFRAMES if case == "keyframes" else 0}}
    graph: dict[str, Any] = {"2": frames}
    if case == "v2v":
        inputs = {**common, "edit_strength": "auto", "controls": "auto", "source_frames": ["2", 0], "source_fps": 24.0}
    elif case == "keyframes":
        positions = ", ".join(str(i * 240 // (KEYFRAMES - 1)) for i in range(KEYFRAMES))
        inputs = {**common, "aspect_ratio": "16:9", "loop": False, "keyframes": ["2", 0],
                  "keyframe_positions": positions}
    else:
        graph = {}
        inputs = {**common, "aspect_ratio": "16:9", "loop": False}
    graph["9"] = {"class_type": node, "inputs": inputs}
    return graph


# ---------------------------------------------------------------------------------------------- alone
def _worker(case: str, clip: Path, out: Path, trade_off: bool) -> dict[str, Any]:
    """In a fresh process: the inputs of ``case`` made from the clip's frames by the pack's own media code,
    encode timed alone; writes the encoded files under ``out`` (and right-sized copies under out/right)."""
    import torch

    from nodes.media.images import encode_reference
    from nodes.media.video_decode import decode_frames
    from nodes.media.video_encode import encode_mp4, settings_for_uplink
    from nodes.media.video_plan import DecodeOptions

    frames = decode_frames(clip, DecodeOptions(frame_cap=KEYFRAMES if case == "keyframes" else 0))
    out.mkdir(parents=True, exist_ok=True)
    right = out / "right"
    right.mkdir(exist_ok=True)
    _, resolution = CASES[case]
    short = int(resolution.rstrip("p"))
    if case == "v2v":
        uplink = settings_for_uplink(None)  # the encoder settings the pack chooses for a broadband uplink
        chosen = {"preset": uplink.preset, "crf": uplink.crf}
        started = time.perf_counter()
        encode_mp4(frames, 24, out / "source.mp4", **chosen)
        seconds = time.perf_counter() - started
        if not trade_off:
            shutil.copy(out / "source.mp4", right / "source.mp4")
            return {"seconds": seconds}
        used = f"{chosen['preset']}@{chosen['crf']} (the pack's)"
        presets = {used: {"seconds": seconds, "bytes": (out / "source.mp4").stat().st_size,
                                         "psnr": _psnr(frames, out / "source.mp4")}}
        for preset, crf in TRADE_OFF:  # the encoder's speed/size trade-off on these frames
            began = time.perf_counter()
            trial = encode_mp4(frames, 24, out / "presets" / f"{preset}-{crf}.mp4", preset=preset, crf=crf)
            presets[f"{preset}@{crf}"] = {"seconds": time.perf_counter() - began, "bytes": trial.stat().st_size,
                                          "psnr": _psnr(frames, trial)}
            trial.unlink()
        if short < frames.shape[1]:  # (not for 1080p: the right-sized file is the one sent)
            small = torch.nn.functional.interpolate(frames.movedim(-1, 1), size=(short, short * 16 // 9),
                                                    mode="area").movedim(1, -1)
            encode_mp4(small, 24, right / "source.mp4")
        else:
            shutil.copy(out / "source.mp4", right / "source.mp4")
        (out / "presets").rmdir()
        return {"seconds": seconds, "presets": presets}
    started = time.perf_counter()
    for index in range(KEYFRAMES):
        encoded = encode_reference(frames[index])
        (out / f"keyframe-{index:02d}.{encoded.extension}").write_bytes(encoded.data)
    seconds = time.perf_counter() - started
    for index in range(KEYFRAMES):
        encoded = encode_reference(frames[index], max_side=short * 16 // 9)
        (right / f"keyframe-{index:02d}.{encoded.extension}").write_bytes(encoded.data)
    return {"seconds": seconds}


def _psnr(frames: Any, path: Path) -> float:
    """PSNR (dB) of the first PSNR_FRAMES frames of ``path`` decoded back, against the frames given."""
    import av
    import numpy as np

    errors = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= PSNR_FRAMES:
                break
            given = frames[index].clamp(0, 1).mul(255).round().numpy()
            errors.append(float(((frame.to_ndarray(format="rgb24").astype(np.float32) - given) ** 2).mean()))
    return float(10 * np.log10(255 ** 2 / np.mean(errors)))


def _encode_alone(case: str, clip: Path, trade_off: bool) -> tuple[dict[str, Any], list[Path], list[Path]]:
    folder = OUT / f"alone-{case}"
    shutil.rmtree(folder, ignore_errors=True)
    done = subprocess.run([sys.executable, __file__, "--worker", case, str(clip), str(folder),
                           "1" if trade_off else "0"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"encode alone ({case}) failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return json.loads(lines[-1]), files, sorted((folder / "right").iterdir())


def _upload_alone(sandbox_url: str, files: list[Path]) -> float:
    """The files uploaded by this process as the pack sends them (CDN token, single-shot, 4 at once)."""
    key = {"Authorization": "Key bench-key"}
    token = httpx.post(f"{sandbox_url}/storage/auth/token", json={}, headers=key, timeout=30).json()["token"]

    def one(path: Path) -> None:
        reply = httpx.post(f"{sandbox_url}/files/upload", content=path.read_bytes(), timeout=600, trust_env=False,
                           headers={"Authorization": f"Bearer {token}", "X-Fal-File-Name": path.name})
        reply.raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------- one run
def _one(comfy: Any, control: Any, case: str, seed: int, clip_name: str) -> dict[str, float]:
    for found in Path(comfy.user_dir).rglob("upload-cache.json"):  # every input really goes up
        found.unlink()
    seen = len(control.log()["calls"])
    pid = comfy.server.process.pid
    before = rss_bytes(pid)
    with PeakRss(pid) as peak:
        started = time.time()
        result = comfy.run(_graph(case, seed, clip_name), timeout=1800)
    if not result.ok:
        raise RuntimeError(result.describe())
    calls = control.log()["calls"][seen:]
    submits = [c for c in calls if c.get("point") == "submit" and c.get("method") == "POST"]
    if not submits:
        raise RuntimeError("no submit reached the sandbox")
    uploads = [c for c in calls if c.get("upload")]
    first_upload = min((float(c["time"]) for c in uploads), default=float("nan"))
    sent = sum(int(c["upload"]["size"]) for c in uploads if c["upload"]["flow"] in ("cdn", "rest", "cdn-multipart")
               and not (c["upload"]["flow"] == "cdn-multipart" and c["method"] == "POST"))
    return {"run_to_submitted": float(submits[0]["time"]) - started, "first_upload": first_upload - started,
            "bytes": float(sent), "uploads": float(len(uploads)), "peak_mib": (peak.peak - before) / 2**20}


def _host(sandbox: Any, host: str) -> Any:
    folder = OUT / "comfy"
    options = ComfyOptions(name="bench-submit", output_dir=folder / "output", input_dir=folder / "input",
                           user_dir=folder / "user", temp_dir=folder / "temp", log_dir=OUT / "logs", host=host)
    return start_host(options, sandbox)


def _busy() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def run_run_to_submitted(line: Any, runs: int = 0, cases: list[str] | None = None,
                         links: list[str] | None = None, trade_off: bool = True,
                         host: str = "0.3.75") -> list[dict[str, Any]]:
    wanted = cases or list(CASES)
    unknown = sorted(set(wanted) - set(CASES))
    if unknown:
        raise SystemExit(f"--run-to-submitted: unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    link_names = {name.split()[0] if name != "unthrottled" else name: name for name in LINKS}
    chosen_links = [link_names.get(name, name) for name in (links or list(LINKS))]
    if any(name not in LINKS for name in chosen_links):
        raise SystemExit(f"--links: choose from {', '.join(link_names)}")
    clip = ensure_clip(ALL_CLIPS[CLIP])
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "comfy" / "input").mkdir(parents=True)
    clip_name = f"bench-{CLIP}.mp4"
    shutil.copy(clip, OUT / "comfy" / "input" / clip_name)
    sandbox = start_sandbox(log_dir=OUT / "logs")
    seeds = random.Random(time.time()).sample(range(1, 2**31 - 1), 500)
    rows: list[dict[str, Any]] = []
    trade_offs: list[str] = []
    line("machine at start", f"{_busy()}; ComfyUI {host}")
    try:
        control = SandboxControl(sandbox.url)
        control.configure(queue_seconds=0.1, run_seconds=0.1, upload_link_shared=True, upload_bytes_per_second=None)
        comfy = _host(sandbox, host)
        try:
            for case in wanted:
                # The last case's frames out of ComfyUI's cache before this case's are made (memory is shared).
                httpx.post(f"{comfy.url}/free", json={"unload_models": True, "free_memory": True}, timeout=30)
                # Alone first: its process holds its own copy of the frames, ComfyUI not yet (memory is shared).
                alone, files, right_files = ({"seconds": 0.0}, [], []) if case == "t2v" else _encode_alone(case, clip, trade_off)
                _one(comfy, control, case, seeds.pop(), clip_name)  # warm-up: imports, the frames loaded and cached
                alone_encode = alone["seconds"]
                if alone.get("presets"):
                    trade_offs.append(_trade_off(line, alone["presets"]))
                right_bytes = sum(p.stat().st_size for p in right_files)
                for link in chosen_links:
                    rate = LINKS[link]
                    control.configure(upload_bytes_per_second=rate)
                    samples = [_one(comfy, control, case, seeds.pop(), clip_name) for _ in range(runs or 2)]
                    upload = statistics.median(_upload_alone(sandbox.url, files) for _ in range(runs or 2)) \
                        if files else 0.0
                    row: dict[str, Any] = {"case": case, "link": link, "runs": len(samples),
                                           **{k: statistics.median(s[k] for s in samples) for k in samples[0]},
                                           "all": [round(s["run_to_submitted"], 2) for s in samples],
                                           "encode": alone_encode, "upload": upload, "right_bytes": float(right_bytes)}
                    row["floor"] = row["bytes"] / rate if rate else None
                    row["right_floor"] = right_bytes / rate if rate else None
                    rows.append(row)
                    line(f"{case} {link}", _text(row))
        finally:
            comfy.stop()
    finally:
        sandbox.stop()
    line("machine at end", _busy())
    table = _table(rows) + "".join("\n\n" + t for t in trade_offs)
    (OUT / "run_to_submitted.md").write_text(table + "\n", encoding="utf-8")
    print(table, flush=True)
    line("table", str((OUT / "run_to_submitted.md").relative_to(REPO)))
    return rows


def _trade_off(line: Any, presets: dict[str, dict[str, float]]) -> str:
    """x264 settings on the v2v frames: encode time, bytes, quality, and per link the time to have it all
    uploaded, encoding then uploading (serial) and at best overlapped (the slower of the two)."""
    rates = [(name, rate) for name, rate in LINKS.items() if rate]
    out = ["| x264 preset@CRF | encode | MiB | PSNR | " + " | ".join(f"{n} serial / overlapped" for n, _ in rates)
           + " |", "|---|---|---|---|" + "---|" * len(rates)]
    for setting, record in presets.items():
        cells = [f"{record['seconds'] + record['bytes'] / rate:.1f} / {max(record['seconds'], record['bytes'] / rate):.1f} s"
                 for _, rate in rates]
        line(f"v2v encoder {setting}", f"{record['seconds']:.2f} s, {record['bytes'] / 2**20:.1f} MiB, PSNR "
             f"{record['psnr']:.2f} dB; " + ", ".join(f"{n}: serial / overlapped {c}" for (n, _), c in zip(rates, cells, strict=True)))
        out.append(f"| {setting} | {record['seconds']:.2f} s | {record['bytes'] / 2**20:.1f} | {record['psnr']:.2f} dB | "
                   + " | ".join(cells) + " |")
    return "\n".join(out)


def _seconds(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.2f} s"


def _text(row: dict[str, Any]) -> str:
    ratio = f", {row['run_to_submitted'] / row['floor']:.2f}x floor" if row["floor"] else ""
    return (f"run->submitted {row['run_to_submitted']:.2f} s (runs {row['all']}){ratio}, first upload at "
            f"{_seconds(row['first_upload'])}, {row['bytes'] / 2**20:.1f} MiB in {row['uploads']:.0f} upload call(s), "
            f"floor {_seconds(row['floor'])}, right-sized {row['right_bytes'] / 2**20:.1f} MiB "
            f"(floor {_seconds(row['right_floor'])}), encode alone {row['encode']:.2f} s, upload alone "
            f"{row['upload']:.2f} s, ComfyUI RSS +{row['peak_mib']:.0f} MiB")


def _table(rows: list[dict[str, Any]]) -> str:
    out = ["| case | link | run->submitted | / floor | floor (bytes sent) | MiB sent | right-sized MiB (floor) "
           "| encode alone | upload alone | first upload at | RSS gained | runs |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = "-"
        if row["floor"]:
            ratio = f"{row['run_to_submitted'] / row['floor']:.2f}x"
            if row["link"] == "20 Mbit/s" and row["case"] != "t2v":
                ratio += f" (target <= {TARGET})"
        out.append(f"| {row['case']} | {row['link']} | {row['run_to_submitted']:.2f} s | {ratio} | "
                   f"{_seconds(row['floor'])} | {row['bytes'] / 2**20:.1f} | {row['right_bytes'] / 2**20:.1f} "
                   f"({_seconds(row['right_floor'])}) | {row['encode']:.2f} s | {row['upload']:.2f} s | "
                   f"{_seconds(row['first_upload'])} | {row['peak_mib']:.0f} MiB | {row['runs']} |")
    return "\n".join(out)


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "--worker":
    print(json.dumps(_worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5] == "1")), flush=True)
