"""Synthetic H.264 test clips for the benchmarks: 24 fps, moving textured content, cached in bench/out/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "out"
FPS = 24


@dataclass(frozen=True)
class ClipSpec:
    name: str  # e.g. "1080p10s"
    width: int
    height: int
    frames: int

    @property
    def path(self) -> Path:
        return OUT_DIR / f"clip_{self.name}.mp4"


# Ray 3.2 delivers 121 frames for 5 s and 241 for 10 s at 24 fps.
RESOLUTIONS = {"540p": (960, 540), "720p": (1280, 720), "1080p": (1920, 1080)}
DURATIONS = {"5s": 121, "10s": 241}
ALL_CLIPS = {
    f"{res}{dur}": ClipSpec(f"{res}{dur}", *RESOLUTIONS[res], DURATIONS[dur])
    for res in RESOLUTIONS
    for dur in DURATIONS
}
QUICK_CLIPS = ("540p5s", "720p5s")


def ensure_clip(spec: ClipSpec) -> Path:
    """Write the clip unless a complete one is cached (written to a temporary name, then renamed)."""
    if spec.path.is_file() and spec.path.stat().st_size > 0:
        return spec.path
    import av
    import numpy as np

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    partial = spec.path.with_suffix(".partial.mp4")
    rng = np.random.default_rng(7)
    texture = _texture(spec.width, spec.height, rng)
    # Film-grain-like noise that changes every frame keeps the bitrate near a real generation's.
    grain = [rng.integers(-5, 6, (spec.height, spec.width, 3), dtype=np.int16) for _ in range(5)]
    with av.open(str(partial), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        # preset "fast", crf 17: about 13 Mbit/s at 1080p (6 at 720p), in the range of delivered generations.
        stream.options = {"preset": "fast", "crf": "17"}
        for index in range(spec.frames):
            frame = av.VideoFrame.from_ndarray(_frame(texture, grain[index % len(grain)], index, spec), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.rename(spec.path)
    return spec.path


def _texture(width: int, height: int, rng):
    """A textured canvas larger than the frame, so panning over it moves every pixel."""
    import numpy as np

    big_h, big_w = height + 256, width + 512
    y, x = np.mgrid[0:big_h, 0:big_w].astype(np.float32)
    red = 0.5 + 0.35 * np.sin(x / 41.0) * np.cos(y / 67.0)
    green = 0.5 + 0.35 * np.sin((x + y) / 89.0)
    blue = 0.5 + 0.35 * np.cos(x / 23.0 - y / 57.0)
    canvas = np.stack([red, green, blue], axis=-1)
    canvas += rng.normal(0.0, 0.03, canvas.shape).astype(np.float32)
    return (np.clip(canvas, 0.0, 1.0) * 255).astype(np.uint8)


def _frame(texture, grain, index: int, spec: ClipSpec):
    import numpy as np

    dx, dy = (index * 2) % 512, (index // 2) % 256
    frame = texture[dy : dy + spec.height, dx : dx + spec.width].copy()
    size = spec.height // 5
    left = (index * 9) % (spec.width - size)
    top = spec.height // 2 - size // 2
    frame[top : top + size, left : left + size] = (240, 200, 40)
    return np.clip(frame + grain, 0, 255).astype(np.uint8)
