"""Saving a finished request's files: their names, the downloads, provenance tags and JSON receipts.

A save is written into the journal before its first byte is downloaded, so one cut short (even by kill -9)
resumes into the same names and leaves no empty or partial file under another name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...fal.errors import DownloadFailed, ResultExpired, naming_request
from ...journal.reconcile import sent_payload
from ...journal.receipts import build_receipt, write_receipt
from ...journal.states import DONE
from ...journal.store import JournalEntry
from ...media.metadata import tag_file
from ...version import PACK_VERSION
from .. import host
from ..host.journaling import RunRecorder
from .billing_records import bill_later
from .fetching import FollowerRun
from .stream_frames import LiveDownload, live_download

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generated:
    """A finished request: what fal returned and where its files were saved. ``from_memory``: saved files of an
    identical earlier request handed back (nothing was paid or waited for)."""

    endpoint_id: str
    request_id: str
    result: dict[str, Any]
    files: dict[str, list[Path]]
    from_memory: bool = False


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


async def save_result(run: FollowerRun, recorder: RunRecorder, result: dict[str, Any], *,
                      response_url: str | None = None, fresh_names: bool = False) -> Generated:
    """Download every file of a finished request, tag it, record it, and write its receipt.
    ``fresh_names``: never into the names recorded earlier (downloading a saved result again)."""
    runner, deadline = run.runner, run.deadline
    entry = recorder.entry
    sent = sent_payload(entry)
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
                # A node decoding this video's frames as they land (stream_frames.py) reads the .part file.
                live = live_download(run, name, request_id, url, dest, size)
                fetch = {"on_event": run.follower.emit, "should_stop": run.follower.should_stop, "request_id": request_id,
                         "deadline": deadline, "response_url": response_url,
                         "on_written": live.on_written if live is not None else None}
                try:
                    await runner.download(url, dest, expected_size=size, **fetch)
                except ResultExpired:
                    # The media URL lapsed while we waited: fal may still hold the result, so ask for fresh URLs once.
                    result = await runner.fetch_result(endpoint_id, request_id, deadline=deadline)
                    recorder.set(note="media URL expired; fetched fresh URLs", result=result)
                    _, url, _, size = output_files(result, entry.output_kind)[index]
                    if live is not None:
                        live.begin(url)
                    await _download_or_fail(runner, url, dest, size, fetch, live)
                except DownloadFailed as exc:
                    # The direct media link is the quickest way back to a paid result: say it too.
                    exc.message = f"{exc.message}\nIts {name} can still be downloaded for a while from {url}"
                    exc.args = (exc.message,)
                    if live is not None:
                        live.failed(exc)
                    raise
                except BaseException as exc:
                    if live is not None:
                        live.failed(exc)
                    raise
                if live is not None:
                    live.finished()
                files.setdefault(name, []).append(dest)
    except BaseException:
        _discard(reserved)
        raise
    await asyncio.to_thread(_tag_files, files, endpoint_id, request_id)
    done = recorder.done_fields(files, time.monotonic() - started)
    # The receipt before the journal's "done": whoever sees "done" (a test, the inbox, another worker) finds
    # the receipt on disk; a process killed between the two leaves the request unfinished, not done without it.
    await asyncio.to_thread(_write_receipts, replace(recorder.entry, state=DONE, **done), files, sent)
    recorder.saved(done)
    bill_later(recorder.entry)  # what fal billed, in the background (never holds the run up)
    return Generated(endpoint_id, request_id, result, files)


async def _download_or_fail(runner: Any, url: str, dest: Path, size: int | None, fetch: dict[str, Any],
                            live: LiveDownload | None) -> None:
    try:
        await runner.download(url, dest, expected_size=size, **fetch)
    except BaseException as exc:
        if live is not None:
            live.failed(exc)
        raise


def _destinations(entry: JournalEntry, outputs: list[tuple[str, str, str, int | None]],
                  fresh: bool = False) -> list[Path]:
    """Where each output goes: the names an interrupted save of this entry reserved, else fresh ones."""
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
    tags = {"fal_endpoint": endpoint_id, "fal_request_id": request_id,
            "comment": f"Luma via fal.ai: {endpoint_id}, request {request_id}"}
    for path in (p for paths in files.values() for p in paths):
        try:
            tag_file(path, tags)
        except Exception:  # provenance is a courtesy: the receipt still says it, the paid file stays
            log.warning("luma-fal: could not write provenance tags into %s", path, exc_info=True)


def _write_receipts(entry: JournalEntry, files: dict[str, list[Path]], sent: dict[str, Any]) -> None:
    named = {name: [str(p) for p in paths] for name, paths in files.items()}
    receipt = build_receipt(entry, named, sent_payload=sent, pack_version=PACK_VERSION)
    for path in (p for paths in files.values() for p in paths):
        try:
            write_receipt(path, receipt)
        except OSError:
            log.warning("luma-fal: could not write the receipt next to %s", path, exc_info=True)


def _discard(paths: list[Path]) -> None:
    """Remove names reserved for downloads that did not finish, so no empty or partial file is left."""
    for path in paths:
        try:
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        except OSError:
            pass
