"""The fake Luma apps: validate the input like the catalogue does, then make real media files.

Outputs are cached by (endpoint, input) so repeated demo and test runs do not re-encode.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import av
from PIL import Image

from nodes.luma import constants as C

from . import images, video
from .exr import srgb_to_linear, write_exr
from .jobs import Job, ModelReply
from .sources import SourceFetcher, SourceUnavailable
from .store import FileStore, StoredFile
from .validation import problems_for

log = logging.getLogger(__name__)

Outputs = dict[str, StoredFile | list[StoredFile]]


class LumaModels:
    """The job runner for every endpoint in ``constants.ALL_ENDPOINTS``."""

    def __init__(self, store: FileStore, fetcher: SourceFetcher,
                 served_schema: Callable[[str], Any] | None = None,
                 video_bitrate: Callable[[], float | None] | None = None) -> None:
        self._store = store
        self._video_bitrate = video_bitrate or (lambda: None)
        # The input schema the sandbox currently serves for an endpoint (None: none): fal validates
        # against its own current schema, so a drifted enum or a new required field is a 422 here too.
        self._served_schema = served_schema
        self._fetcher = fetcher
        self._cache: dict[str, Outputs] = {}
        self._lock = threading.Lock()

    async def __call__(self, job: Job) -> ModelReply:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.run, job.endpoint_id, job.payload, job.cdn_base)

    def run(self, endpoint_id: str, payload: Any, cdn_base: str) -> ModelReply:
        if endpoint_id not in C.ALL_ENDPOINTS:
            return ModelReply(404, {"detail": f"Application {endpoint_id!r} not found"})
        # fal validates inside the app, after queueing: the submit was a 200, and a bad input ends as a
        # COMPLETED request without gateway error fields whose result is 422 (protocol notes §4.3, §13.4).
        problems = problems_for(endpoint_id, payload, self._served_schema(endpoint_id) if self._served_schema else None)
        if problems:
            return ModelReply(422, {"detail": problems})
        bitrate = self._video_bitrate()
        key = hashlib.sha256((endpoint_id + json.dumps(payload, sort_keys=True) + str(bitrate)).encode()).hexdigest()
        with self._lock:
            made = self._cache.get(key)
        if made is None:
            try:
                made = self._generate(endpoint_id, payload, bitrate)
            except SourceUnavailable as exc:
                item = {"loc": ["body", exc.field], "msg": str(exc), "type": "file_download_error"}
                return ModelReply(422, {"detail": [item]})
            with self._lock:
                self._cache[key] = made
        outputs, produced = made
        body = _render(outputs, cdn_base)
        if endpoint_id not in C.UNI1_ENDPOINTS:
            body.setdefault("exr_file", None)  # fal's Ray results always carry it: null when not asked
        return ModelReply(200, body, produced=produced)

    def _generate(self, endpoint_id: str, p: dict[str, Any],
                  bitrate: float | None = None) -> tuple[Outputs, dict[str, Any]]:
        """The outputs and what was really produced (the billed quantities: video seconds, images)."""
        if endpoint_id in C.UNI1_ENDPOINTS:
            outputs = self._uni1(endpoint_id, p)
            inputs = len(p.get("reference_image_urls") or []) + (1 if p.get("image_url") else 0)
            return outputs, {"images": len(outputs["images"]), "input_images": inputs}
        resolution = p.get("resolution") or C.RAY_DEFAULT_RESOLUTION
        count = C.RAY_FRAME_COUNT.get(p.get("duration") or C.RAY_DEFAULT_DURATION, C.RAY_FRAME_COUNT["5s"])
        prompt = str(p.get("prompt", ""))
        if endpoint_id in (C.RAY32_TEXT_TO_VIDEO, C.RAY32_IMAGE_TO_VIDEO):
            width, height = C.ray_video_size(p.get("aspect_ratio") or C.RAY_DEFAULT_ASPECT_RATIO, resolution)
            start = self._start_image(p)
            clip = (video.text_to_video(prompt, width, height, count, bitrate) if start is None
                    else video.image_to_video(start, prompt, width, height, count, bitrate))
        else:
            source = self._fetcher.fetch("video_url", p.get("video_url"))
            src_size = _video_size("video_url", source)
            if endpoint_id == C.RAY32_VIDEO_TO_VIDEO:
                width, height = _short_side_scaled(src_size, int(resolution.rstrip("p")))
                clip = video.video_to_video(source, prompt, width, height, count)
            else:
                width, height = C.ray_video_size(p.get("aspect_ratio") or C.RAY_DEFAULT_ASPECT_RATIO, resolution)
                clip = video.reframe(source, prompt, width, height, _box(p.get("source_position")))
        outputs: Outputs = {"video": self._store.put(clip.mp4, "video/mp4", "output.mp4")}
        if p.get("exr_export"):
            exr = write_exr(srgb_to_linear(clip.sample_frame))
            outputs["exr_file"] = self._store.put(exr, "image/x-exr", "output.exr")
        return outputs, {"video_seconds": round(clip.frame_count / C.RAY_FPS, 3)}

    def _start_image(self, p: dict[str, Any]) -> Image.Image | None:
        for field in ("image_url", "end_image_url"):
            if p.get(field):
                return _open_image(field, self._fetcher.fetch(field, p[field]))
        keyframes = p.get("keyframes")
        if isinstance(keyframes, list) and keyframes:
            return _open_image("keyframes", self._fetcher.fetch("keyframes", keyframes[0]))
        return None

    def _uni1(self, endpoint_id: str, p: dict[str, Any]) -> Outputs:
        prompt = str(p.get("prompt", ""))
        if endpoint_id in (C.UNI1_EDIT, C.UNI1_MAX_EDIT):
            source = _open_image("image_url", self._fetcher.fetch("image_url", p.get("image_url")))
            image = images.edit_image(source, prompt, p.get("aspect_ratio"))
        else:
            image = images.text_to_image(prompt, p.get("aspect_ratio") or "1:1", p.get("style") or "auto")
        data, content_type, ext = images.encode_image(image, p.get("output_format") or "png")
        return {"images": [self._store.put(data, content_type, f"image.{ext}")]}


def _render(outputs: Outputs, cdn_base: str) -> dict[str, Any]:
    def file(stored: StoredFile) -> dict[str, Any]:
        return {"url": cdn_base + stored.path, "content_type": stored.content_type,
                "file_name": stored.file_name, "file_size": stored.size}

    return {name: [file(f) for f in value] if isinstance(value, list) else file(value)
            for name, value in outputs.items()}


def _open_image(field: str, data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError) as exc:
        raise SourceUnavailable(field, f"{field}: not a readable image ({exc})") from exc
    return image


def _video_size(field: str, data: bytes) -> tuple[int, int]:
    try:
        return video.probe_size(data)
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise SourceUnavailable(field, f"{field}: not a readable video ({exc})") from exc


def _short_side_scaled(size: tuple[int, int], short: int) -> tuple[int, int]:
    width, height = size
    scale = short / min(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _box(position: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(position, dict):
        return None
    try:
        return tuple(float(position[k]) for k in ("x_norm", "y_norm", "w_norm", "h_norm"))  # type: ignore[return-value]
    except (KeyError, TypeError, ValueError):
        return None
