"""One measurement in a fresh process: `python bench/methods.py METHOD CLIP` prints one JSON line.

Started only through ``run_worker`` (bench/run.py once per method and clip, bench/stream.py for its decode
alone), so every method starts from the same clean interpreter and its peak memory is its own. Peak = VmHWM
after decoding minus VmRSS before it (the kernel's high-water mark is reset through /proc/self/clear_refs
after the imports).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_COMFYUI_DIR = str(REPO / ".testhost" / "comfyui")  # built by `make env`


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


# ------------------------------------------------------------------------------------------- methods
# Each prepare_* does the imports (outside the timed part) and returns the function to time.


def prepare_ours():
    sys.path.insert(0, str(REPO))
    from nodes.media.video_decode import decode_frames
    from nodes.media.video_plan import DecodeOptions

    return lambda path: decode_frames(path, DecodeOptions())


def prepare_core():
    comfy_dir = Path(os.environ.get("COMFYUI_DIR", DEFAULT_COMFYUI_DIR))
    if not (comfy_dir / "comfy_api").is_dir():
        raise SkipMethod(f"ComfyUI tree not found at {comfy_dir} (set COMFYUI_DIR)")
    sys.path.insert(0, str(comfy_dir))
    sys.argv.append("--cpu")  # ComfyUI parses argv at import; without --cpu it probes for a GPU
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    from comfy_api.input_impl import VideoFromFile

    return lambda path: VideoFromFile(str(path)).get_components().images


def prepare_vhs():
    """VideoHelperSuite's ffmpeg loader, re-created: ffmpeg pipes rgba64le, each frame becomes a float
    array (÷65535, alpha sliced off) in a generator, and np.fromiter builds the array in one pass."""
    import numpy as np
    import torch

    ffmpeg = _ffmpeg_exe()
    if ffmpeg is None:
        return prepare_vhs_pyav()

    def load(path):
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height

        def frames():
            command = [ffmpeg, "-v", "error", "-an", "-i", str(path), "-pix_fmt", "rgba64le", "-f", "rawvideo", "-"]
            frame_bytes = width * height * 8
            with subprocess.Popen(command, stdout=subprocess.PIPE) as proc:
                buffer = bytearray(frame_bytes)
                view = memoryview(buffer)
                while True:
                    filled = 0
                    while filled < frame_bytes:
                        got = proc.stdout.readinto(view[filled:])
                        if not got:
                            break
                        filled += got
                    if filled < frame_bytes:
                        return
                    rgba = np.frombuffer(buffer, dtype="<u2").reshape(height, width, 4) / (2**16 - 1)
                    yield rgba[:, :, :3]

        return torch.from_numpy(np.fromiter(frames(), np.dtype((np.float32, (height, width, 3)))))

    return load


def prepare_vhs_pyav():
    """Fallback when no ffmpeg binary exists: the same generator + np.fromiter shape, frames from PyAV."""
    import av
    import numpy as np
    import torch

    def load(path):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height

            def frames():
                for frame in container.decode(stream):
                    yield np.array(frame.to_ndarray(format="rgb24"), dtype=np.float32) / 255.0

            return torch.from_numpy(np.fromiter(frames(), np.dtype((np.float32, (height, width, 3)))))

    return load


def prepare_floor():
    import av

    def decode_only(path):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_type = "AUTO"
            stream.codec_context.thread_count = 0
            return sum(1 for _ in container.decode(stream))

    return decode_only


def _ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


class SkipMethod(Exception):
    pass


PREPARE = {
    "ours": prepare_ours,
    "core": prepare_core,
    "vhs": prepare_vhs,
    "vhs_pyav": prepare_vhs_pyav,
    "floor": prepare_floor,
}


def _warm_up() -> None:
    """What a running ComfyUI has already done: torch, numpy and PyAV imported, torch's thread pool up."""
    import av  # noqa: F401
    import numpy as np
    import torch

    small = torch.empty((4, 8, 8, 3), dtype=torch.float32)
    small[0].copy_(torch.from_numpy(np.zeros((8, 8, 3), np.uint8))).div_(255.0)


def _back_memory(clip: Path) -> None:
    """Touch and free as much memory as the hungriest method needs (3x the tensor) just before timing.

    On this project's virtual machines, memory a process frees is handed back to the host within
    seconds, and touching it again costs ~2 s per GB of system time whichever process does it. Left
    alone, that turns every 1080p measurement into a measure of the host. Every method gets the same
    warm memory, which is also what a long-running ComfyUI sees.
    """
    import av
    import numpy as np

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        nbytes = 3 * stream.frames * stream.codec_context.width * stream.codec_context.height * 12
    block = np.empty(nbytes // 4, np.float32)
    block[::1024] = 0
    del block


def measure_decode(method: str, clip: Path) -> dict:
    _warm_up()
    try:
        run = PREPARE[method]()
    except SkipMethod as reason:
        return {"method": method, "skipped": str(reason)}
    label = method
    if method == "vhs" and _ffmpeg_exe() is None:
        label = "vhs_pyav"
    import gc

    gc.collect()
    import resource

    _back_memory(clip)

    def cpu_seconds() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    _reset_peak()
    rss_before = _status_kib("VmRSS")
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    result = run(clip)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    peak = _status_kib("VmHWM") - rss_before
    record = {"method": label, "clip": clip.name, "seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak * 1024}
    if isinstance(result, int):
        record["frames"] = result
    else:
        record["frames"] = int(result.shape[0])
        record["shape"] = list(result.shape)
        record["dtype"] = str(result.dtype)
        record["tensor_bytes"] = result.numel() * result.element_size()
    record["child_peak_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return record


def measure_encode(size: str) -> dict:
    """encode_reference (its own choice) vs Pillow's PNG default, on a photo-like frame."""
    import io

    import numpy as np
    import torch
    from PIL import Image

    sys.path.insert(0, str(REPO))
    from nodes.media.images import encode_reference

    width, height = {"1080p": (1920, 1080), "4k": (3840, 2160)}[size]
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    photo = np.stack([0.5 + 0.4 * np.sin(x / 71), 0.5 + 0.4 * np.cos(y / 53), (x + y) / (width + height)], -1)
    photo = np.clip(photo + rng.normal(0, 0.02, photo.shape).astype(np.float32), 0, 1).astype(np.float32)
    image = torch.from_numpy(photo)
    encode_reference(image)  # warm-up: plugin imports

    def best_of(fn, runs: int = 3) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return min(times)

    chosen = encode_reference(image)
    ours = best_of(lambda: encode_reference(image))

    def png_default() -> bytes:
        array = (image * 255).round().to(torch.uint8).numpy()
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        return buffer.getvalue()

    png_size = len(png_default())
    png = best_of(png_default)
    return {
        "size": size, "chosen": chosen.content_type, "chosen_seconds": ours, "chosen_bytes": len(chosen.data),
        "png_default_seconds": png, "png_default_bytes": png_size,
    }


def run_worker(arguments: list[str]) -> dict:
    """``python bench/methods.py ARGUMENTS...`` in a fresh interpreter: its JSON record, or ``{"error": ...}``."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *arguments],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def main() -> None:
    if sys.argv[1] == "encode":
        print(json.dumps(measure_encode(sys.argv[2])))
        return
    print(json.dumps(measure_decode(sys.argv[1], Path(sys.argv[2]))))


if __name__ == "__main__":
    main()
