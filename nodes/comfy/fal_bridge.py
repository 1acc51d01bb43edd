"""The glue between a node and the fal runner: key, uploads, the run, downloads, and what the user sees.

``submit_and_save`` and ``follow_and_save`` are a follower's work (see followers.py): they record
every step in the journal (journaling.RunRecorder), save the files with provenance tags and a JSON
receipt, and report progress to whoever waits. ``wait_for_outcome`` is a node's side of that wait.

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
from typing import TYPE_CHECKING, Any

from . import host

if TYPE_CHECKING:
    from .followers import Follower
    from .journaling import RunRecorder

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


def check_key() -> None:
    """Raise ``MissingKeyError`` (saying how to set a key) before anything is journaled, encoded or sent."""
    from ..fal.config import FalConfig

    FalConfig.from_env(key_file=key_file_path()).require_credentials()


def _runner() -> Any:
    from ..fal.config import FalConfig
    from ..fal.runner import FalRunner

    config = FalConfig.from_env(key_file=key_file_path())
    config.require_credentials()
    return FalRunner(config)


def _both(*callbacks: Callable[[Any], None]) -> Callable[[Any], None]:
    def call(event: Any) -> None:
        for callback in callbacks:
            callback(event)

    return call


async def submit_and_save(
    *,
    endpoint_id: str,
    payload: dict[str, Any],
    uploads: Sequence[tuple[str, str, Callable[[], UploadItem]]],
    recorder: RunRecorder,
    follower: Follower,
    queue_wait: float,
    total_time: float,
) -> FalOutcome:
    """Upload, submit, follow and save one request, recording each step in the journal first.

    ``total_time`` (the node's max_total_time) is one deadline for all of it, uploads to last byte.
    Once fal has accepted the request, any failure leaves naming its request id (``naming_request``),
    so a paid result can always be found again.
    """
    from ..fal.config import FalConfig
    from ..fal.deadline import Deadline
    from ..fal.upload_cache import UploadCache

    runner = _runner()
    deadline = Deadline(total_time)
    try:
        storage = FalConfig.from_env(key_file=key_file_path()).hosts.rest
        urls = await _upload_all(runner, storage, uploads, UploadCache(upload_cache_path()), follower, deadline)
        if urls:
            recorder.uploaded(urls)
        sent = substitute(payload, urls)
        completed = await runner.run(
            endpoint_id, sent, on_event=_both(recorder.on_event, follower.emit), should_stop=follower.should_stop,
            queue_timeout=queue_wait, deadline=deadline, on_submitted=recorder.submitted,
        )
        recorder.completed(completed.result, completed.metrics)
        return await _save(runner, recorder, completed.result, sent, follower, deadline,
                           completed.handle.response_url)
    except BaseException as exc:
        recorder.failed(exc)
        raise


async def follow_and_save(*, recorder: RunRecorder, follower: Follower, queue_wait: float | None,
                          total_time: float) -> FalOutcome:
    """Follow a journaled request fal already has (after a restart, or a re-queue) and save its result."""
    from ..fal.deadline import Deadline
    from ..journal.states import COMPLETED

    runner = _runner()
    deadline = Deadline(total_time)
    entry = recorder.entry
    assert entry.request_id, "only requests fal accepted can be followed"
    sent = substitute(entry.payload, {ph: info["url"] for ph, info in entry.inputs.items() if info.get("url")})
    recorder.following()
    try:
        result = entry.result
        if entry.state != COMPLETED or result is None:
            completed = await runner.follow(
                entry.endpoint_id, entry.request_id, on_event=_both(recorder.on_event, follower.emit),
                should_stop=follower.should_stop, queue_timeout=queue_wait, deadline=deadline,
            )
            recorder.completed(completed.result, completed.metrics)
            result = completed.result
        return await _save(runner, recorder, result, sent, follower, deadline, None)
    except BaseException as exc:
        recorder.failed(exc)
        raise


async def _save(runner: Any, recorder: RunRecorder, result: dict[str, Any], sent: dict[str, Any],
                follower: Follower, deadline: Any, response_url: str | None, *,
                fresh_names: bool = False) -> FalOutcome:
    """Download every file of a finished request, tag it, record it, and write its receipt.
    ``fresh_names``: never into the names recorded earlier (downloading a saved result again)."""
    from ..fal.errors import DownloadFailed, ResultExpired, naming_request

    entry = recorder.entry
    request_id, endpoint_id = str(entry.request_id), entry.endpoint_id
    started = time.monotonic()
    with naming_request(request_id, response_url):  # a result without usable files still names its request
        outputs = output_files(result, entry.output_kind)
    reserved = _destinations(entry, outputs, fresh_names)
    # Written before downloading: a save cut short (even by kill -9) is resumed into the same names,
    # so no empty or partial file is left behind under another name.
    recorder.set(note="saving the result", files=_grouped(outputs, reserved))
    files: dict[str, list[Path]] = {}
    try:
        with naming_request(request_id, response_url):
            for index, ((name, url, _ext, size), dest) in enumerate(zip(outputs, reserved, strict=True)):
                fetch = {"on_event": follower.emit, "should_stop": follower.should_stop, "request_id": request_id,
                         "deadline": deadline, "response_url": response_url}
                try:
                    await runner.download(url, dest, expected_size=size, **fetch)
                except ResultExpired:
                    # The media URL lapsed while we waited: fal may still hold the result, so ask for fresh URLs once.
                    result = await runner.fetch_result(endpoint_id, request_id, deadline=deadline)
                    recorder.set(note="media URL expired; fetched fresh URLs", result=result)
                    _, url, _, size = output_files(result, entry.output_kind)[index]
                    await runner.download(url, dest, expected_size=size, **fetch)
                except DownloadFailed as exc:
                    # The direct media link is the quickest way back to a paid result: say it too.
                    exc.message = f"{exc.message}\nIts {name} can still be downloaded for a while from {url}"
                    exc.args = (exc.message,)
                    raise
                files.setdefault(name, []).append(dest)
    except BaseException:
        _discard(reserved)
        raise
    await asyncio.to_thread(_tag_files, files, endpoint_id, request_id)
    recorder.saved(files, time.monotonic() - started)
    await asyncio.to_thread(_write_receipts, recorder.entry, files, sent)
    return FalOutcome(request_id, result, files)


def _destinations(entry: Any, outputs: list[tuple[str, str, str, int | None]], fresh: bool = False) -> list[Path]:
    """Where each output goes: the names an interrupted save of this entry reserved, else fresh ones."""
    from ..journal.states import DONE

    folder = (host.output_directory() / host.PACK_FOLDER).resolve()
    earlier = {} if fresh or entry.state == DONE else entry.files
    # A fresh copy never takes a name recorded for an earlier one (the receipt and journal name it).
    recorded = {Path(p) for paths in (entry.files or {}).values() for p in paths} if fresh else set()
    seen: dict[str, int] = {}
    paths = []
    for name, _url, ext, _size in outputs:
        n = seen[name] = seen.get(name, -1) + 1
        before = earlier.get(name) or []
        old = Path(before[n]) if n < len(before) else None
        if old is not None and old.suffix == f".{ext}" and old.parent.resolve() == folder:
            paths.append(old)
        else:
            paths.append(host.new_output_path(entry.stem, ext, str(entry.request_id), avoid=recorded))
    return paths


def _grouped(outputs: list[tuple[str, str, str, int | None]], paths: list[Path]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for (name, *_), path in zip(outputs, paths, strict=True):
        grouped.setdefault(name, []).append(str(path))
    return grouped


def _tag_files(files: dict[str, list[Path]], endpoint_id: str, request_id: str) -> None:
    from ..media.metadata import tag_file

    tags = {"fal_endpoint": endpoint_id, "fal_request_id": request_id,
            "comment": f"Luma via fal.ai: {endpoint_id}, request {request_id}"}
    for path in (p for paths in files.values() for p in paths):
        try:
            tag_file(path, tags)
        except Exception:  # provenance is a courtesy: the receipt still says it, the paid file stays
            log.warning("luma-fal: could not write provenance tags into %s", path, exc_info=True)


def _write_receipts(entry: Any, files: dict[str, list[Path]], sent: dict[str, Any]) -> None:
    from ..journal.receipts import build_receipt, write_receipt
    from .journaling import pack_version

    named = {name: [str(p) for p in paths] for name, paths in files.items()}
    receipt = build_receipt(entry, named, sent_payload=sent, pack_version=pack_version())
    for path in (p for paths in files.values() for p in paths):
        try:
            write_receipt(path, receipt)
        except OSError:
            log.warning("luma-fal: could not write the receipt next to %s", path, exc_info=True)


async def wait_for_outcome(follower: Follower, reporter: NodeReporter) -> FalOutcome:
    """A node's wait for a (possibly shared) follower: its status line, its Cancel, its final message."""
    from ..fal.errors import FalError, RequestCancelled, StopRequested

    started = time.monotonic()
    try:
        outcome: FalOutcome = await follower.wait(reporter, host.interrupted)
    except (RequestCancelled, StopRequested) as exc:
        reporter.finish("cancelled", str(exc))
        raise host.interrupt_exception(str(exc)) from None
    except FalError as exc:
        reporter.finish("error", str(exc))
        raise
    except BaseException as exc:
        reporter.finish("error", f"{type(exc).__name__}: {exc}")
        raise
    reporter.request_id = outcome.request_id
    reporter.finish("done", f"Done in {time.monotonic() - started:.0f} s · request {outcome.request_id}")
    return outcome


def _discard(paths: list[Path]) -> None:
    """Remove names reserved for downloads that did not finish, so no empty or partial file is left."""
    for path in paths:
        try:
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        except OSError:
            pass


# Uploads under way on this process, by (storage base, content hash): the takes of one fan-out share them.
_UPLOADING: dict[tuple[str, str], asyncio.Future[str]] = {}


async def _upload_all(runner: Any, storage_base: str, uploads: Sequence[tuple[str, str, Callable[[], UploadItem]]],
                      cache: Any, follower: Follower, deadline: Any = None) -> dict[str, str]:
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
    # A file another take of the same fan-out (same loop) is uploading right now: wait for its URL instead.
    loop = asyncio.get_running_loop()
    theirs = {sha: f for sha in unique if (f := _UPLOADING.get((storage_base, sha))) is not None and f.get_loop() is loop}
    mine = {sha: item for sha, item in unique.items() if sha not in theirs}
    owned = {sha: loop.create_future() for sha in mine}
    for sha, future in owned.items():
        _UPLOADING.setdefault((storage_base, sha), future)
    found: dict[str, str] = {}
    try:
        if mine:
            from ..fal.runner import UploadItem as FalUpload

            sent = await runner.upload_many(
                [FalUpload(item.data, item.content_type, item.file_name) for item in mine.values()],
                on_event=follower.emit, should_stop=follower.should_stop, deadline=deadline,
            )
            for sha, url in zip(mine, sent, strict=True):
                cache.put(storage_base, sha, url)
                owned[sha].set_result(url)
                found[sha] = url
        for sha, future in theirs.items():
            found[sha] = await asyncio.shield(future)
    except BaseException as exc:
        for future in owned.values():
            if not future.done():
                future.set_exception(RuntimeError(f"the upload by another take failed: {exc}"))
                future.exception()  # retrieved: a take nobody waits for must not log "never retrieved"
        raise
    finally:
        for sha, future in owned.items():
            if _UPLOADING.get((storage_base, sha)) is future:
                del _UPLOADING[(storage_base, sha)]
    for sha, url in found.items():
        for placeholder in waiting[sha]:
            urls[placeholder] = url
    log.info("luma-fal: %d input file(s): %d uploaded, the rest reused", len(uploads), len(unique))
    return urls
