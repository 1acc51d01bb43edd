"""The glue between a node and the fal runner: key, uploads, the run, downloads, and what the user sees.

Progress and Cancel cross into the transport as plain callables (``on_event``, ``should_stop``), so
the transport never imports ComfyUI; this module decides how they show on the node.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import host

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadItem:
    data: bytes = field(repr=False)
    content_type: str
    file_name: str
    sha256: str


@dataclass(frozen=True)
class FalOutcome:
    request_id: str
    result: dict[str, Any]
    files: dict[str, list[Path]]


# Seconds the last run of each kind (endpoint, resolution, duration) spent running on fal: the
# basis of the "~N s left" estimate. Only this process's own runs count; fal publishes no timings.
_RUN_SECONDS: dict[str, float] = {}


def run_kind(endpoint_id: str, payload: dict[str, Any]) -> str:
    return "|".join(str(x) for x in (endpoint_id, payload.get("resolution"), payload.get("duration"), payload.get("hdr")))


class NodeReporter:
    """Shows a run's progress on its node: ``luma_fal.status`` events (drawn by web/status.js) and the progress bar.

    ComfyUI's own progress text is not used: the extension's status line shows the same and clears when
    the run ends, so the node would otherwise show the status twice.
    """

    def __init__(self, node_id: str | None, kind: str = "") -> None:
        self.node_id = node_id
        self.kind = kind
        self.prompt_id = host.current_prompt_id()
        self.request_id: str | None = None
        self._bar = host.ProgressBar(node_id)

    def __call__(self, event: Any) -> None:
        self.request_id = event.request_id or self.request_id
        text = event.text()
        typical = _RUN_SECONDS.get(self.kind)
        if event.phase == "running" and typical and event.elapsed_running is not None:
            text += f" · ~{max(1, round(typical - event.elapsed_running))} s left (last run took {typical:.0f} s)"
        if event.phase == "completed" and event.elapsed_running:
            _RUN_SECONDS[self.kind] = event.elapsed_running
        payload = {
            "node": self.node_id, "prompt_id": self.prompt_id, "phase": event.phase, "text": text,
            "queue_position": event.queue_position, "elapsed_queue": event.elapsed_in_queue,
            "elapsed_run": event.elapsed_running, "logs": list(event.new_logs), "fraction": event.fraction,
            "request_id": self.request_id,
        }
        host.send_status(payload)
        if event.fraction is not None:
            self._bar.set_fraction(event.fraction)

    def finish(self, phase: str, text: str) -> None:
        host.send_status({"node": self.node_id, "prompt_id": self.prompt_id, "phase": phase, "text": text,
                          "request_id": self.request_id, "logs": []})


def key_file_path() -> Path:
    from .keystore import key_file_path as path

    return path()


def upload_cache_path() -> Path:
    return host.user_directory() / "comfyui-luma-fal" / "upload-cache.json"


def substitute(value: Any, urls: dict[str, str]) -> Any:
    """The payload with every upload placeholder replaced by its fal URL."""
    if isinstance(value, str):
        return urls.get(value, value)
    if isinstance(value, list):
        return [substitute(v, urls) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, urls) for k, v in value.items()}
    return value


def output_files(result: dict[str, Any], output_kind: str) -> list[tuple[str, str, str, int | None]]:
    """(output name, URL, extension, size) for every file in a model result, refusing anything that is not a URL."""
    wanted: list[tuple[str, Any]] = []
    if output_kind == "video":
        wanted.append(("video", result.get("video")))
        if result.get("exr_file"):
            wanted.append(("exr_file", result["exr_file"]))
    else:
        images = result.get("images")
        if not isinstance(images, list) or not images:
            raise RuntimeError("fal's result has no images")
        wanted += [("images", item) for item in images]
    files = []
    for name, item in wanted:
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise RuntimeError(f"fal's result has no usable URL for {name} (got {str(item)[:200]!r})")
        size = item.get("file_size")
        files.append((name, url, _extension(item, name), size if isinstance(size, int) and size > 0 else None))
    return files


def _extension(item: dict[str, Any], name: str) -> str:
    file_name = str(item.get("file_name") or "")
    if "." in file_name:
        return file_name.rsplit(".", 1)[1].lower()[:8]
    content_type = str(item.get("content_type") or "")
    return {"video/mp4": "mp4", "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
            "application/zip": "zip", "image/x-exr": "exr"}.get(content_type, "mp4" if name == "video" else "bin")


async def run_request_on_fal(
    *,
    endpoint_id: str,
    payload: dict[str, Any],
    uploads: Sequence[tuple[str, str, Callable[[], UploadItem]]],
    output_kind: str,
    stem: str,
    node_id: str | None,
    node_name: str,
    queue_wait: float,
    total_time: float,
) -> FalOutcome:
    """Upload, submit, follow and download one request; every phase stops within a second of Cancel.

    ``total_time`` (the node's max_total_time) is one deadline for all of it, uploads to last byte.
    Once fal has accepted the request, any failure leaves naming its request id (``naming_request``),
    so a paid result can always be found again.
    """
    from ..fal.config import FalConfig
    from ..fal.deadline import Deadline
    from ..fal.errors import DownloadFailed, FalError, RequestCancelled, ResultExpired, StopRequested, naming_request
    from ..fal.runner import FalRunner
    from ..fal.upload_cache import UploadCache

    config = FalConfig.from_env(key_file=key_file_path())
    config.require_credentials()  # a missing key fails here, before anything is encoded or sent
    deadline = Deadline(total_time)
    runner = FalRunner(config)
    reporter = NodeReporter(node_id, run_kind(endpoint_id, payload))
    started = time.monotonic()
    reserved: list[Path] = []
    try:
        urls = await _upload_all(runner, config.hosts.rest, uploads, UploadCache(upload_cache_path()), reporter,
                                 deadline)
        completed = await runner.run(
            endpoint_id, substitute(payload, urls), on_event=reporter, should_stop=host.interrupted,
            queue_timeout=queue_wait, deadline=deadline,
        )
        rid, response_url = completed.request_id, completed.handle.response_url
        with naming_request(rid, response_url):
            result = completed.result
            files: dict[str, list[Path]] = {}
            for index, (name, url, ext, size) in enumerate(output_files(result, output_kind)):
                dest = host.new_output_path(stem, ext, rid)
                reserved.append(dest)
                fetch = {"on_event": reporter, "should_stop": host.interrupted, "request_id": rid,
                         "deadline": deadline, "response_url": response_url}
                try:
                    await runner.download(url, dest, expected_size=size, **fetch)
                except ResultExpired:
                    # The media URL lapsed while we waited: fal still holds the result, so ask for fresh URLs once.
                    result = await runner.fetch_result(endpoint_id, rid, deadline=deadline)
                    _, url, _, size = output_files(result, output_kind)[index]
                    await runner.download(url, dest, expected_size=size, **fetch)
                except DownloadFailed as exc:
                    # The direct media link is the quickest way back to a paid result: say it too.
                    exc.message = f"{exc.message}\nIts {name} can still be downloaded for a while from {url}"
                    exc.args = (exc.message,)
                    raise
                files.setdefault(name, []).append(dest)
    except (RequestCancelled, StopRequested) as exc:
        _discard(reserved)
        reporter.finish("cancelled", str(exc))
        raise host.interrupt_exception(str(exc)) from None
    except FalError as exc:
        _discard(reserved)
        reporter.finish("error", str(exc))
        raise
    except BaseException as exc:
        _discard(reserved)
        reporter.finish("error", f"{type(exc).__name__}: {exc}")
        raise
    seconds = time.monotonic() - started
    reporter.finish("done", f"Done in {seconds:.0f} s · request {rid}")
    return FalOutcome(rid, result, files)


def _discard(paths: list[Path]) -> None:
    """Remove names reserved for downloads that did not finish, so no empty or partial file is left."""
    for path in paths:
        try:
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        except OSError:
            pass


async def _upload_all(runner: Any, storage_base: str, uploads: Sequence[tuple[str, str, Callable[[], UploadItem]]],
                      cache: Any, reporter: NodeReporter, deadline: Any = None) -> dict[str, str]:
    if not uploads:
        return {}
    # Encoding (JPEG/PNG, or H.264 for frame sources) is CPU work: keep it off the event loop.
    items = await asyncio.gather(*(asyncio.to_thread(produce) for _, _, produce in uploads))
    urls: dict[str, str] = {}
    # Identical bytes go up once: within this run (two equal references) and across runs (the cache).
    waiting: dict[str, list[str]] = {}
    unique: dict[str, UploadItem] = {}
    for (placeholder, _label, _), item in zip(uploads, items, strict=True):
        cached = cache.get(storage_base, item.sha256)
        if cached:
            urls[placeholder] = cached
        else:
            waiting.setdefault(item.sha256, []).append(placeholder)
            unique.setdefault(item.sha256, item)
    if unique:
        from ..fal.runner import UploadItem as FalUpload

        sent = await runner.upload_many(
            [FalUpload(item.data, item.content_type, item.file_name) for item in unique.values()],
            on_event=reporter, should_stop=host.interrupted, deadline=deadline,
        )
        for sha, url in zip(unique, sent, strict=True):
            cache.put(storage_base, sha, url)
            for placeholder in waiting[sha]:
                urls[placeholder] = url
    log.info("luma-fal: %d input file(s): %d uploaded, the rest reused", len(uploads), len(unique))
    return urls
