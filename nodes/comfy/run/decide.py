"""Decide, per node run, whether to pay: reuse saved files, join or re-attach to a request fal already
has, refuse to re-send a submit whose outcome is unknown, or journal a new request and submit it.

The decision is taken under the followers' registry lock, so two runs of the same request in this
process (two identical nodes, or a node and the start-up recovery) never both pay or both download.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ...fal.deadline import TimeLimits
from ...journal import reconcile, states
from ...journal.store import Budget, JournalEntry, JournalStore, NewEntry
from . import fleet, followers
from .. import host
from ..host.journaling import RunRecorder, journal, owner_alive, owner_token, worker_name
from ..money.ledger import local_midnight
from ..money.settings import current_limits
from .fal_bridge import NodeReporter, follow_and_save, new_runner, run_kind, submit_and_save, wait_for_outcome
from .fetching import FollowerRun, StreamConsumer
from .reconciling import NotAcceptedAtFal, StillLooking, StillUnknown, find_lost_submit, start_finding
from .reconciling import DASHBOARD, local_time, reconcile_in_background, still_looking_text, still_unknown_message
from .reconciling import unknown_submit_message
from .saving import Generated
from .spec import RunSpec

log = logging.getLogger(__name__)


class NotSentAgain(RuntimeError):
    """An identical earlier request may already be paid for; it is not sent again silently."""


@dataclass(frozen=True)
class Reused:
    """Saved files of an identical earlier request: nothing to pay."""

    entry: JournalEntry
    files: dict[str, list[Path]]


def expired_message(node_name: str, entry: JournalEntry) -> str:
    return (f"{node_name}: fal request {entry.request_id} (same inputs and seed, submitted {local_time(entry.submitted_at)}) "
            f"can no longer be fetched: fal keeps a result for a limited time only (6 minutes to 1 hour after it "
            f"finishes), and it was not saved before ComfyUI stopped. Check {DASHBOARD} for request "
            f"{entry.request_id}; to run a new paid take, change the seed.")


def _saved_files(entry: JournalEntry) -> dict[str, list[Path]] | None:
    files = {name: [Path(p) for p in paths] for name, paths in entry.files.items()}
    paths = [p for group in files.values() for p in group]
    return files if paths and all(p.is_file() and p.stat().st_size > 0 for p in paths) else None


def _new_entry(spec: RunSpec) -> NewEntry:
    return NewEntry(
        identity=spec.identity, endpoint_id=spec.endpoint_id, payload=spec.payload,
        inputs={u.placeholder: {"label": u.label, "content": u.identity} for u in spec.uploads},
        output_kind=spec.output_kind, stem=spec.stem, node_name=spec.node_name, owner=owner_token(),
        seed=spec.seed, price_usd=spec.price_usd, price_source=spec.price_source, node_id=spec.node_id,
        prompt_id=host.current_prompt_id(),
    )


def _budget(spec: RunSpec) -> Budget | None:
    """The daily budget the new entry must fit in with everything the (shared) journal holds for today."""
    limit = current_limits().daily_budget_usd
    if limit is None or spec.price_usd is None:
        return None
    return Budget(since=local_midnight(time.time()), limit_usd=limit)


def _over_budget(spec: RunSpec, budget: Budget, spent: float) -> NotSentAgain:
    return NotSentAgain(
        f"{spec.node_name}: the daily budget of ${budget.limit_usd:.2f} is spent: ${spent:.2f} today is billed, in "
        f"flight or in doubt across every ComfyUI sharing this journal, and this run would add "
        f"${spec.price_usd:.2f}. Nothing was sent. Raise the budget (LUMA_FAL_DAILY_BUDGET_USD or the setting) "
        "or wait until tomorrow.")


def _decide(spec: RunSpec) -> followers.Follower | Reused:
    """Under the registry lock: the follower to wait for (started here if new), or saved files."""
    store = journal()
    with followers.registry() as active:
        running = active.get(spec.identity)
        if running is not None:
            log.info("luma-fal: %s: same inputs and seed as a request already being followed; waiting for it "
                     "(not billed again)", spec.node_name)
            return running
        for _ in range(8):  # another worker may journal the same identity between our read and our write
            entry = store.latest_for_identity(spec.identity)
            if entry is not None:
                verdict = _verdict_on(store, spec, entry)
                if isinstance(verdict, (followers.Follower, Reused)):
                    if isinstance(verdict, followers.Follower):
                        active[spec.identity] = verdict
                    return verdict
            budget = _budget(spec)
            created = store.create_guarded(_new_entry(spec), after_id=entry.id if entry else None, budget=budget)
            if created.entry is not None:
                break
            if created.spent_usd is not None and budget is not None:
                raise _over_budget(spec, budget, created.spent_usd)
        else:
            raise NotSentAgain(f"{spec.node_name}: other workers keep journaling this same request; run again")
        entry = created.entry
        follower = followers.Follower(spec.identity, entry.id, f"{spec.node_name} (journal entry {entry.id})")
        recorder = RunRecorder(store, entry)
        follower.start(lambda f: _pay(spec, recorder, FollowerRun(new_runner(), f, spec.limits.start(), spec.hooks)))
        active[spec.identity] = follower
        return follower


async def _pay(spec: RunSpec, recorder: RunRecorder, run: FollowerRun) -> Generated:
    """Submit and save a new paid request; when fal's answer to the submit never arrived, look for the request
    in fal's own records (within the node's limits) instead of sending it again."""
    try:
        return await submit_and_save(spec, recorder, run)
    except Exception as exc:
        if recorder.state != states.UNKNOWN_SUBMIT:
            raise
        return await find_lost_submit(recorder, run, exc)


def _other_worker(token: str) -> bool:
    """Whether ``token`` names a process of another worker of the fleet (``LUMA_FAL_WORKER_NAME``/host)."""
    return token.rsplit("/", 2)[0] != worker_name()


def _verdict_on(store: JournalStore, spec: RunSpec, entry: JournalEntry) -> followers.Follower | Reused | None:
    """What an earlier entry of the same identity means; None = pay for a new request."""
    mine = entry.owner == owner_token()
    if entry.state == states.DONE:
        files = _saved_files(entry)
        if files is not None and entry.result and not fleet.shared_files(entry) and _other_worker(entry.owner):
            return fleet.watch(store, entry, spec.limits, spec.hooks)  # its files: not in our output folder
        if files is not None:
            log.info("luma-fal: %s: same inputs and seed as request %s; reusing its saved result (not billed "
                     "again)", spec.node_name, entry.request_id)
            return Reused(entry, files)
        log.info("luma-fal: %s: the saved files of request %s are gone; running it again", spec.node_name,
                 entry.request_id)
        return None
    live_elsewhere = not mine and owner_alive(entry.owner)
    if entry.state in states.IN_FLIGHT and live_elsewhere:
        # Another live worker sends or follows it: follow along without paying or writing its entry.
        return fleet.watch(store, entry, spec.limits, spec.hooks)
    if entry.state in states.FOLLOWABLE and entry.request_id:
        if not mine and not store.claim(entry.id, entry.owner, owner_token()):
            return fleet.watch(store, store.get(entry.id) or entry, spec.limits, spec.hooks)  # taken
        log.info("luma-fal: %s: same inputs and seed as request %s (%s); following it instead of paying again",
                 spec.node_name, entry.request_id, entry.state)
        return start_following(store, store.get(entry.id) or entry, spec.limits, spec.hooks)
    if entry.state == states.PREPARING:
        store.update(entry.id, state=states.NOT_SUBMITTED, note="stopped before it was submitted; nothing was sent")
        return None
    if entry.state == states.SUBMITTING:  # killed or stopped mid-submit, with no answer recorded
        entry = store.update(entry.id, state=states.UNKNOWN_SUBMIT, submitted_at=reconcile.submitted_around(entry),
                             note="stopped while submitting, before fal's answer was recorded")
    if entry.state == states.UNKNOWN_SUBMIT:
        # fal's answer never arrived: look for it in fal's own records (this node waits for that, within
        # its limits); only fal's records showing no such request make a new submit safe.
        log.info("luma-fal: %s: same inputs and seed as a submit whose answer was lost; looking for the "
                 "request at fal", spec.node_name)
        return start_finding(store, entry, spec.limits, frames_to=spec.hooks)
    if entry.state == states.EXPIRED:
        raise NotSentAgain(expired_message(spec.node_name, entry))
    return None  # failed, cancelled, not submitted: a new paid request


def start_following(store: JournalStore, entry: JournalEntry, limits: TimeLimits,
                    frames_to: StreamConsumer | None = None) -> followers.Follower:
    """A follower (started on the running loop) that follows ``entry`` at fal and saves its result.
    The caller registers it (under the registry lock)."""
    follower = followers.Follower(entry.identity, entry.id, f"request {entry.request_id} ({entry.node_name})")
    recorder = RunRecorder(store, entry)
    follower.start(lambda f: follow_and_save(recorder, FollowerRun(new_runner(), f, limits.start(), frames_to)))
    return follower


def will_pay(identity: str) -> bool:
    """Whether a run of ``identity`` would submit a new paid request (nothing saved, followed or in
    doubt), so the spend limits apply to it. The decision itself is retaken under the lock by ``run_once``."""
    if followers.active(identity) is not None:
        return False
    entry = journal().latest_for_identity(identity)
    if entry is None:
        return True
    if entry.state == states.DONE:
        return _saved_files(entry) is None
    return not (entry.state in states.FOLLOWABLE and entry.request_id)


async def run_once(spec: RunSpec, reporter: NodeReporter | None = None) -> Generated:
    """What ``spec`` made, paying only when nothing identical is saved, in flight or unknown (``from_memory``:
    saved files handed back, nothing waited for). ``reporter`` shows the wait (a take's share of a fan-out's
    status, a take_status.TakeReporter with NodeReporter's interface); default: the node's own line."""
    verdict = _decide(spec)
    if isinstance(verdict, Reused):
        if reporter is not None:
            reporter.request_id = verdict.entry.request_id
            reporter.finish("done", f"reused request {verdict.entry.request_id}")
        return Generated(spec.endpoint_id, str(verdict.entry.request_id), verdict.entry.result or {}, verdict.files,
                         from_memory=True)
    reporter = reporter or NodeReporter(spec.node_id, run_kind(spec.endpoint_id, spec.payload))
    try:
        if verdict.kind == "reconcile" and verdict.background:
            # The background search goes on to the window; this node waits for it no longer than its own
            # search would (reconcile.lost_wait), then says so again.
            wait = verdict.lost_wait or reconcile.LostWait(reconcile.DEFAULT_LOST_WAIT_S, None, 0)
            try:
                return await asyncio.wait_for(wait_for_outcome(verdict, reporter), wait.seconds)
            except asyncio.TimeoutError:
                raise StillLooking(wait) from None
        return await wait_for_outcome(verdict, reporter)
    except NotAcceptedAtFal:
        if verdict.kind != "reconcile":
            raise  # this run's own submit never arrived: it says so; the next run submits
        log.info("luma-fal: %s: fal's records show the earlier submit never arrived; submitting it now",
                 spec.node_name)
    except StillUnknown as why:
        entry = journal().get(verdict.entry_id)
        if entry is None:
            raise
        if not isinstance(why, StillLooking):
            raise NotSentAgain(still_unknown_message(spec.node_name, entry)) from None
        if not verdict.background:
            reconcile_in_background([entry.id], after=verdict)
        text = f"{unknown_submit_message(spec.node_name, entry)}\n{still_looking_text(entry, why.wait)}"
        reporter.finish("error", text)
        raise NotSentAgain(text) from None
    return await run_once(spec, reporter)
