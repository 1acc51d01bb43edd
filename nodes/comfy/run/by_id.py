"""Fetch one fal request by its id, never submitting anything.

Used by the Result-by-Request-ID node and the inbox's "Download again". In this order:

* the id must look like fal's (a UUID) and the endpoint must be one of the pack's: refused before
  anything else, with no network call;
* the journal knows the request and its saved files are on disk: those files, no network at all;
* someone in this process already follows it (a node, the start-up recovery, the inbox): wait for
  that follower;
* the journal has it queued/running/completed: re-attach exactly as a re-queued generating node does
  (``decide.start_following``);
* anything else (its files are gone, or it ended failed/cancelled/expired, or this ComfyUI never
  saw it): ask fal (status, result) and download, through the same runner, save path, provenance
  tags, receipts and journal recording as a generating node. A request this ComfyUI never saw gets
  a journal entry of its own (identity ``by-id:<request id>``).

fal answers 404 for an unknown id and for an expired one alike; messages say which is likelier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...fal.deadline import TimeLimits
from ...fal.errors import ResultExpired
from ...journal import states
from ...journal.store import JournalEntry, JournalStore, NewEntry
from ...luma import constants as C
from . import fleet, followers
from .. import host
from ..host.journaling import RunRecorder, journal, owner_alive, owner_token
from .decide import start_following
from .fal_bridge import call_all, check_key, new_runner, record_completed
from .fetching import FollowerRun
from .reconciling import DASHBOARD, local_time
from .saving import Generated, save_result

# fal's request ids are UUIDs (what its queue returns on submit and its dashboard shows).
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
BY_ID_PREFIX = "by-id:"
# Following a request someone else started: give up (and cancel at fal) only after a day.
FOLLOW_LIMITS = TimeLimits(queue_wait=None, total=86_400.0)
RETENTION_TEXT = ("fal keeps a request's result for 6 minutes to 1 hour after it finishes (its media files "
                  "up to 30 days when payload storage is on)")


class FetchRefused(ValueError):
    """The id or endpoint cannot be fetched; nothing was sent to fal."""


class ResultKindMismatch(RuntimeError):
    """fal's result is a video where the chosen endpoint makes images, or the other way round."""


def parse_request_id(raw: Any, input_name: str = "request_id") -> str:
    """fal's request id from what a person pasted (surrounding spaces dropped), lower-cased."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not _UUID.match(text):
        shown = repr(raw) if len(repr(raw)) <= 80 else repr(raw)[:77] + "..."
        raise FetchRefused(
            f"{input_name}: {shown} is not a fal request id. fal's ids are UUIDs such as "
            "3f2b6c1e-8d4a-4b7e-9c0d-1a2b3c4d5e6f: copy one from a node's request_id output, the Luma fal "
            f"inbox or {DASHBOARD}.")
    return text.lower()


def output_kind_of(endpoint_id: str, input_name: str = "endpoint") -> str:
    if endpoint_id in C.RAY32_ENDPOINTS:
        return "video"
    if endpoint_id in C.UNI1_ENDPOINTS:
        return "images"
    raise FetchRefused(f"{input_name}: {endpoint_id!r} is not one of this pack's endpoints "
                       f"({', '.join(C.ALL_ENDPOINTS)}).")


def result_kind(result: Any) -> str | None:
    """What fal's result JSON holds: "video", "images", or None when neither is there."""
    if isinstance(result, dict):
        if isinstance(result.get("video"), dict):
            return "video"
        if isinstance(result.get("images"), list):
            return "images"
    return None


@dataclass(frozen=True)
class Saved:
    """The journal's saved files of the request: handed back without any network call."""

    entry: JournalEntry
    files: dict[str, list[Path]]


class FetchRecorder(RunRecorder):
    """A recorder for fetching a request that had already ended (done, failed, cancelled, expired).

    A failed attempt leaves such an entry's state as it was (with a note and the message): fetching by id
    must never turn a finished request into something a generating node would treat differently. Once fal
    has handed over a fresh result (state ``completed``), failures mean what they mean for any run.
    """

    def __init__(self, store: JournalStore, entry: JournalEntry) -> None:
        super().__init__(store, entry)
        self._ended_as = entry.state if entry.state in states.FINAL else None

    def failed(self, exc: BaseException) -> None:
        if self._ended_as is not None and self.state == self._ended_as:
            text = str(exc) or type(exc).__name__
            self.set(note=f"fetch by request id failed: {text}", message=text)
        else:
            super().failed(exc)


def _new_by_id_entry(store: JournalStore, endpoint_id: str, request_id: str, node_name: str,
                     node_id: str | None) -> JournalEntry:
    entry = store.create(NewEntry(
        identity=f"{BY_ID_PREFIX}{request_id}", endpoint_id=endpoint_id, payload={}, inputs={},
        output_kind=output_kind_of(endpoint_id), stem="fal-by-id", node_name=node_name, owner=owner_token(),
        node_id=node_id, prompt_id=host.current_prompt_id(), price_source="unknown: fetched by request id",
        state=states.QUEUED,
    ))
    return store.update(entry.id, note="fetching a request by its id (not submitted from here)",
                        request_id=request_id)


def start_fetch(endpoint_id: str, request_id: str, *, node_name: str, node_id: str | None = None,
                force: bool = False) -> followers.Follower | Saved:
    """The saved files of ``request_id``, or the follower (joined or started here) that fetches it.

    ``force`` re-downloads even when the saved files are on disk (the inbox's "Download again").
    Raises ``FetchRefused`` for a bad id or endpoint and ``MissingKeyError`` when fal must be asked
    but no key is set; neither sends anything.
    """
    kind = output_kind_of(endpoint_id)
    request_id = parse_request_id(request_id)
    store = journal()
    with followers.registry() as active:
        entry = store.get_by_request_id(request_id)
        if entry is not None and entry.endpoint_id != endpoint_id:
            if not entry.identity.startswith(BY_ID_PREFIX):
                raise FetchRefused(
                    f"endpoint: request {request_id} was made on {entry.endpoint_id} (this ComfyUI's journal, "
                    f"{entry.node_name}), not {endpoint_id}; choose {entry.endpoint_id}.")
            entry = None  # an earlier fetch by id with another endpoint chosen: a record of its own
        if entry is not None:
            running = active.get(entry.identity)
            if running is not None:
                return running
            if entry.state == states.DONE and not force:
                # Only files in this ComfyUI's output folder (another worker's may be elsewhere): else fetched again.
                files = fleet.shared_files(entry)
                if files is not None:
                    return Saved(entry, files)
        check_key()  # fal must be asked from here on: a missing key fails before anything is sent
        if entry is None:
            entry = _new_by_id_entry(store, endpoint_id, request_id, node_name, node_id)
        if entry.state in states.FOLLOWABLE and entry.owner != owner_token() and owner_alive(entry.owner):
            follower = fleet.watch(store, entry, FOLLOW_LIMITS)  # another live worker follows it
        elif entry.state in states.FOLLOWABLE and not entry.identity.startswith(BY_ID_PREFIX):
            follower = start_following(store, entry, FOLLOW_LIMITS)
        else:
            follower = _start_refetch(store, entry, kind)
        active[entry.identity] = follower
        return follower


def _start_refetch(store: JournalStore, entry: JournalEntry, kind: str) -> followers.Follower:
    follower = followers.Follower(entry.identity, entry.id, f"request {entry.request_id} (fetch by id)")
    recorder = FetchRecorder(store, entry)
    follower.start(lambda f: _refetch(recorder, f, kind))
    return follower


async def _refetch(recorder: FetchRecorder, follower: followers.Follower, kind: str) -> Generated:
    """Status and result from fal, then the same save path as a generating node. When fal no longer has
    the result JSON but the journal kept it, the media URLs in it may still work (fal keeps media longer)."""
    run = FollowerRun(new_runner(), follower, FOLLOW_LIMITS.start())  # one clock for following and saving
    entry = recorder.entry
    stored = entry.result
    recorder.following()
    try:
        try:
            completed = await run.runner.follow(
                entry.endpoint_id, str(entry.request_id), on_event=call_all(recorder.on_event, follower.emit),
                should_stop=follower.should_stop, deadline=run.deadline,
            )
        except ResultExpired:
            if result_kind(stored) != kind:
                raise
            recorder.set(note="fal no longer has the result; downloading from the URLs the journal kept")
            result = stored
        else:
            result = completed.result
            found = result_kind(result)
            if found is not None and found != kind:
                returned = "a video" if found == "video" else "images"
                message = (f"endpoint: request {entry.request_id} returned {returned}, "
                           f"but {entry.endpoint_id} makes {kind}; choose a "
                           f"{'Ray 3.2' if found == 'video' else 'Uni-1'} endpoint. Nothing was downloaded.")
                recorder.set(states.FAILED if recorder._ended_as is None else None, message, message=message)
                raise ResultKindMismatch(message)
            record_completed(recorder, completed)
        # A result saved before ("Download again") goes to new files, never over the recorded ones; an
        # interrupted fetch by id resumes into the names it reserved.
        return await save_result(run, recorder, result, fresh_names=recorder._ended_as == states.DONE)
    except ResultKindMismatch:
        raise
    except BaseException as exc:
        recorder.failed(exc)
        raise


def expired_text(node_name: str, request_id: str, entry: JournalEntry | None) -> str:
    """Why fal answered 404: an expired result when this ComfyUI made the request, else that or a wrong id."""
    if entry is not None and not entry.identity.startswith(BY_ID_PREFIX):
        return (f"{node_name}: request {request_id} ({entry.endpoint_id}, submitted {local_time(entry.submitted_at)} "
                f"by {entry.node_name}) can no longer be fetched: its saved files are gone and fal no longer has "
                f"its result; {RETENTION_TEXT}. Look for it at {DASHBOARD}.")
    return (f"{node_name}: fal does not know request {request_id}: either the id is wrong or its result has "
            f"expired; {RETENTION_TEXT}. Check the id at {DASHBOARD}.")
