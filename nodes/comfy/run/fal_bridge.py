"""The glue between a node and the fal runner: key, uploads, the run, and what the user sees.

``submit_and_save`` and ``follow_and_save`` are a follower's work (see followers.py): they record
every step in the journal (host/journaling.RunRecorder), save the files (saving.py: provenance tags, a JSON
receipt), and report progress to whoever waits. ``wait_for_outcome`` is a node's side of that wait.

Progress and Cancel cross into the transport as plain callables (``on_event``, ``should_stop``), so
the transport never imports ComfyUI; this module decides how they show on the node.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import host
from .billing_records import units_billing
from .journal_notice import NotingEmit
from .saving import FalOutcome, save_result

if TYPE_CHECKING:
    from .followers import Follower
    from ..host.journaling import RunRecorder

    # (recorder, follower, deadline, total_time, the lost submit's error) -> the outcome found at fal
    LostSubmitHandler = Callable[[RunRecorder, Follower, Any, float, Exception], Awaitable[FalOutcome]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadItem:
    data: bytes = field(repr=False)
    content_type: str
    file_name: str
    sha256: str


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
    from ..host.keystore import key_file_path as path

    return path()


def upload_cache_path() -> Path:
    return host.user_directory() / "comfyui-luma-fal" / "upload-cache.json"


def substitute(value: Any, urls: dict[str, str]) -> Any:
    """The payload with every upload placeholder replaced by its fal URL."""
    from ...journal.reconcile import substitute as replace

    return replace(value, urls)


def check_key() -> None:
    """Raise ``MissingKeyError`` (saying how to set a key) before anything is journaled, encoded or sent."""
    from ...fal.config import FalConfig

    FalConfig.from_env(key_file=key_file_path()).require_credentials()


def new_runner() -> Any:
    from ...fal.config import FalConfig
    from ...fal.runner import FalRunner

    config = FalConfig.from_env(key_file=key_file_path())
    config.require_credentials()
    return FalRunner(config)


def call_all(*callbacks: Callable[[Any], None]) -> Callable[[Any], None]:
    def call(event: Any) -> None:
        for callback in callbacks:
            callback(event)

    return call


def record_completed(recorder: RunRecorder, completed: Any) -> None:
    """fal finished the request: its result, timings and what fal says it bills (its billable units)."""
    entry = recorder.entry
    recorder.completed(completed.result, completed.metrics,
                       units_billing(entry.endpoint_id, entry.price_usd, completed.billable_units))


async def submit_and_save(
    *,
    endpoint_id: str,
    payload: dict[str, Any],
    uploads: Sequence[tuple[str, str, Callable[[], UploadItem]]],
    recorder: RunRecorder,
    follower: Follower,
    queue_wait: float,
    total_time: float,
    on_lost_submit: LostSubmitHandler | None = None,
) -> FalOutcome:
    """Upload, submit, follow and save one request, recording each step in the journal first.

    ``on_lost_submit`` (``reconciling.find_lost_submit``, passed in by the caller so this module needs
    no import of it) takes over when fal's answer to the submit never arrived.

    ``total_time`` (the node's max_total_time) is one deadline for all of it, uploads to last byte.
    Once fal has accepted the request, any failure leaves naming its request id (``naming_request``),
    so a paid result can always be found again.
    """
    from ...fal.config import FalConfig
    from ...fal.deadline import Deadline
    from ...fal.upload_cache import UploadCache

    runner = new_runner()
    deadline = Deadline(total_time)
    try:
        storage = FalConfig.from_env(key_file=key_file_path()).hosts.rest
        urls = await _upload_all(runner, storage, uploads, UploadCache(upload_cache_path()), follower, deadline)
        if urls:
            recorder.uploaded(urls)
        sent = substitute(payload, urls)
        emit = NotingEmit(follower.emit)
        recorder.on_held = emit.held
        completed = await runner.run(
            endpoint_id, sent, on_event=call_all(recorder.on_event, emit), should_stop=follower.should_stop,
            queue_timeout=queue_wait, deadline=deadline, on_submitted=recorder.submitted,
        )
        record_completed(recorder, completed)
        return await save_result(runner, recorder, completed.result, sent, follower, deadline,
                           completed.handle.response_url)
    except BaseException as exc:
        recorder.failed(exc)
        from ...journal.states import UNKNOWN_SUBMIT

        if isinstance(exc, Exception) and recorder.state == UNKNOWN_SUBMIT and on_lost_submit is not None:
            return await on_lost_submit(recorder, follower, deadline, total_time, exc)
        raise


async def follow_and_save(*, recorder: RunRecorder, follower: Follower, queue_wait: float | None,
                          total_time: float) -> FalOutcome:
    """Follow a journaled request fal already has (after a restart, or a re-queue) and save its result."""
    from ...fal.deadline import Deadline
    from ...journal.states import COMPLETED

    runner = new_runner()
    deadline = Deadline(total_time)
    entry = recorder.entry
    assert entry.request_id, "only requests fal accepted can be followed"
    sent = substitute(entry.payload, {ph: info["url"] for ph, info in entry.inputs.items() if info.get("url")})
    emit = NotingEmit(follower.emit)
    recorder.on_held = emit.held
    recorder.following()
    try:
        result = entry.result
        if entry.state != COMPLETED or result is None:
            completed = await runner.follow(
                entry.endpoint_id, entry.request_id, on_event=call_all(recorder.on_event, emit),
                should_stop=follower.should_stop, queue_timeout=queue_wait, deadline=deadline,
            )
            record_completed(recorder, completed)
            result = completed.result
        return await save_result(runner, recorder, result, sent, follower, deadline, None)
    except BaseException as exc:
        recorder.failed(exc)
        raise


async def wait_for_outcome(follower: Follower, reporter: NodeReporter) -> FalOutcome:
    """A node's wait for a (possibly shared) follower: its status line, its Cancel, its final message."""
    from ...fal.errors import FalError, RequestCancelled, StopRequested

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


# Uploads under way on this process, by (storage base, content hash): the takes of one fan-out share them.
_UPLOADING: dict[tuple[str, str], asyncio.Future[str]] = {}


async def _upload_all(runner: Any, storage_base: str, uploads: Sequence[tuple[str, str, Callable[[], UploadItem]]],
                      cache: Any, follower: Follower, deadline: Any = None) -> dict[str, str]:
    """Every input made (encoded) and uploaded, each going up as soon as it is made while the rest are still
    encoded; identical bytes go up once, within this run (two equal references), across the takes of a fan-out
    (``_UPLOADING``) and across runs (the cache). All or nothing: nothing is submitted unless every URL is known."""
    if not uploads:
        return {}
    from ...fal.runner import UploadItem as FalUpload

    loop = asyncio.get_running_loop()
    hashes: dict[str, str] = {}  # placeholder -> content hash of its bytes
    cached: dict[str, str] = {}  # content hash -> URL already on fal (the cache)
    owned: dict[str, asyncio.Future[str]] = {}  # content hash -> the URL this run uploads
    theirs: dict[str, asyncio.Future[str]] = {}  # content hash -> the URL another take is uploading

    async def ready(placeholder: str, produce: Callable[[], UploadItem]) -> FalUpload | None:
        item = await _finished_thread(produce)  # encoding is CPU work: off the event loop
        sha = hashes[placeholder] = item.sha256
        url = cache.get(storage_base, sha)
        if url:
            cached[sha] = url
            return None
        uploading = _UPLOADING.get((storage_base, sha))
        if uploading is not None and uploading.get_loop() is loop and sha not in owned:
            theirs[sha] = uploading
        if sha in owned or sha in theirs:
            return None  # the same bytes are going up already: their URL comes from that upload
        owned[sha] = _UPLOADING[(storage_base, sha)] = loop.create_future()
        return FalUpload(item.data, item.content_type, item.file_name)

    making = [asyncio.ensure_future(ready(placeholder, produce)) for placeholder, _label, produce in uploads]
    try:
        sent = await runner.upload_many(making, on_event=follower.emit, should_stop=follower.should_stop,
                                        deadline=deadline)
        for (placeholder, _label, _produce), url in zip(uploads, sent, strict=True):
            if url is not None:
                cache.put(storage_base, hashes[placeholder], url)
                owned[hashes[placeholder]].set_result(url)
        urls = {placeholder: cached.get(sha) or (owned[sha].result() if sha in owned else
                                                  await asyncio.shield(theirs[sha]))
                for placeholder, sha in hashes.items()}
    except BaseException as exc:
        for future in owned.values():
            if not future.done():
                future.set_exception(RuntimeError(f"the upload by another take failed: {exc}"))
                future.exception()  # retrieved: a take nobody waits for must not log "never retrieved"
        raise
    finally:
        for task in making:  # made but never awaited when the upload stopped before it began
            task.cancel()
        await asyncio.gather(*making, return_exceptions=True)
        for sha, future in owned.items():
            if _UPLOADING.get((storage_base, sha)) is future:
                del _UPLOADING[(storage_base, sha)]
    log.info("luma-fal: %d input file(s): %d uploaded, the rest reused", len(uploads), len(owned))
    return urls


async def _finished_thread(produce: Callable[[], UploadItem]) -> UploadItem:
    """``produce()`` in a worker thread. Cancelled, it still waits for the thread to end (a running encode cannot
    be interrupted): nothing the run started keeps working after it has stopped."""
    work = asyncio.ensure_future(asyncio.to_thread(produce))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.gather(work, return_exceptions=True)
        raise
