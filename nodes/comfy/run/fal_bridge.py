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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...fal.config import FalConfig
from ...fal.errors import FalError, RequestCancelled, StopRequested
from ...fal.follow import Completed
from ...fal.runner import FalRunner
from ...fal.transfers import Upload
from ...fal.upload_cache import UploadCache
from ...journal.reconcile import substitute
from ...journal.states import COMPLETED
from .. import host
from ..host.journaling import RunRecorder
from ..host.keystore import key_file_path
from .billing_records import units_billing
from .fetching import FollowerRun
from .followers import Follower
from .journal_notice import NotingEmit
from .saving import Generated, save_result
from .spec import PendingUpload, RunSpec

log = logging.getLogger(__name__)


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


def upload_cache_path() -> Path:
    return host.user_directory() / "comfyui-luma-fal" / "upload-cache.json"


def check_key() -> None:
    """Raise ``MissingKeyError`` (saying how to set a key) before anything is journaled, encoded or sent."""
    FalConfig.from_env(key_file=key_file_path()).require_credentials()


def new_runner() -> FalRunner:
    config = FalConfig.from_env(key_file=key_file_path())
    config.require_credentials()
    return FalRunner(config)


def call_all(*callbacks: Callable[[Any], None]) -> Callable[[Any], None]:
    def call(event: Any) -> None:
        for callback in callbacks:
            callback(event)

    return call


def record_completed(recorder: RunRecorder, completed: Completed) -> None:
    """fal finished the request: its result, timings and what fal says it bills (its billable units)."""
    entry = recorder.entry
    recorder.completed(completed.result, completed.metrics,
                       units_billing(entry.endpoint_id, entry.price_usd, completed.billable_units))


async def submit_and_save(spec: RunSpec, recorder: RunRecorder, run: FollowerRun) -> Generated:
    """Upload, submit, follow and save one request, recording each step in the journal first.

    ``run.deadline`` (the node's max_total_time) bounds all of it, uploads to last byte. Once fal has accepted
    the request, any failure leaves naming its request id (``naming_request``), so a paid result can always be
    found again; a submit whose answer never arrived leaves the entry UNKNOWN_SUBMIT for the caller to look for.
    """
    try:
        storage = FalConfig.from_env(key_file=key_file_path()).hosts.rest
        urls = await _upload_all(run, storage, spec.uploads, UploadCache(upload_cache_path()))
        if urls:
            recorder.uploaded(urls)
        emit = NotingEmit(run.follower.emit)
        recorder.on_held = emit.held
        completed = await run.runner.run(
            spec.endpoint_id, substitute(spec.payload, urls), on_event=call_all(recorder.on_event, emit),
            should_stop=run.follower.should_stop, deadline=run.deadline, on_submitted=recorder.submitted,
        )
        record_completed(recorder, completed)
        return await save_result(run, recorder, completed.result, response_url=completed.handle.response_url)
    except BaseException as exc:
        recorder.failed(exc)
        raise


async def follow_and_save(recorder: RunRecorder, run: FollowerRun) -> Generated:
    """Follow a journaled request fal already has (after a restart, or a re-queue) and save its result."""
    entry = recorder.entry
    assert entry.request_id, "only requests fal accepted can be followed"
    emit = NotingEmit(run.follower.emit)
    recorder.on_held = emit.held
    recorder.following()
    try:
        result = entry.result
        if entry.state != COMPLETED or result is None:
            completed = await run.runner.follow(
                entry.endpoint_id, entry.request_id, on_event=call_all(recorder.on_event, emit),
                should_stop=run.follower.should_stop, deadline=run.deadline,
            )
            record_completed(recorder, completed)
            result = completed.result
        return await save_result(run, recorder, result)
    except BaseException as exc:
        recorder.failed(exc)
        raise


async def wait_for_outcome(follower: Follower, reporter: NodeReporter) -> Generated:
    """A node's wait for a (possibly shared) follower: its status line, its Cancel, its final message."""
    started = time.monotonic()
    try:
        outcome: Generated = await follower.wait(reporter, host.interrupted)
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


async def _upload_all(run: FollowerRun, storage_base: str, uploads: Sequence[PendingUpload],
                      cache: UploadCache) -> dict[str, str]:
    """Every input made (encoded) and uploaded, each going up as soon as it is made while the rest are still
    encoded; identical bytes go up once, within this run (two equal references), across the takes of a fan-out
    (``_UPLOADING``) and across runs (the cache). All or nothing: nothing is submitted unless every URL is known."""
    if not uploads:
        return {}
    loop = asyncio.get_running_loop()
    hashes: dict[str, str] = {}  # placeholder -> content hash of its bytes
    cached: dict[str, str] = {}  # content hash -> URL already on fal (the cache)
    owned: dict[str, asyncio.Future[str]] = {}  # content hash -> the URL this run uploads
    theirs: dict[str, asyncio.Future[str]] = {}  # content hash -> the URL another take is uploading

    async def ready(upload: PendingUpload) -> Upload | None:
        item = await _finished_thread(upload.produce)  # encoding is CPU work: off the event loop
        sha = hashes[upload.placeholder] = item.sha256
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
        return item

    making = [asyncio.ensure_future(ready(upload)) for upload in uploads]
    try:
        sent = await run.runner.upload_many(making, on_event=run.follower.emit, should_stop=run.follower.should_stop,
                                            deadline=run.deadline)
        for upload, url in zip(uploads, sent, strict=True):
            if url is not None:
                cache.put(storage_base, hashes[upload.placeholder], url)
                owned[hashes[upload.placeholder]].set_result(url)
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


async def _finished_thread(produce: Callable[[], Upload]) -> Upload:
    """``produce()`` in a worker thread. Cancelled, it still waits for the thread to end (a running encode cannot
    be interrupted): nothing the run started keeps working after it has stopped."""
    work = asyncio.ensure_future(asyncio.to_thread(produce))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.gather(work, return_exceptions=True)
        raise
