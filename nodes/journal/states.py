"""The states a journaled request moves through, and which of them are final.

    preparing ──> submitting ──> queued ──> running ──> completed ──> done
        │             │            │           │            │
        v             v            v           v            v
  not_submitted  unknown_submit  cancelled / failed / expired

* ``preparing``: written before anything is encoded or uploaded; fal has not been asked yet.
* ``submitting``: the submit is about to be sent. Found with no request id after a crash, fal may or
  may not have accepted it: it becomes ``unknown_submit`` and is never re-sent silently.
* ``queued`` / ``running``: fal accepted it (the request id is known); it can be followed again.
* ``completed``: fal finished and its result JSON is stored; the files are not all on disk yet.
* ``done``: the files are saved (``files``); a re-run reuses them.
* ``expired``: fal no longer has the result (retention passed) before it was saved.
"""

from __future__ import annotations

PREPARING = "preparing"
SUBMITTING = "submitting"
QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
UNKNOWN_SUBMIT = "unknown_submit"
NOT_SUBMITTED = "not_submitted"
EXPIRED = "expired"

ALL_STATES = (PREPARING, SUBMITTING, QUEUED, RUNNING, COMPLETED, DONE, FAILED, CANCELLED, UNKNOWN_SUBMIT,
              NOT_SUBMITTED, EXPIRED)
# fal holds (or may hold) the request: following it again costs nothing and may save its result.
FOLLOWABLE = (QUEUED, RUNNING, COMPLETED)
# Not finished: a process was working on it (or was, before it stopped).
IN_FLIGHT = (PREPARING, SUBMITTING, *FOLLOWABLE)
FINAL = (DONE, FAILED, CANCELLED, UNKNOWN_SUBMIT, NOT_SUBMITTED, EXPIRED)
# What may end up on fal's bill: finished, in flight, or submitted without a recorded answer. The spend
# limits count these (a reservation whose run never reached fal, ``not_submitted`` or ``failed``, is released).
MAY_BILL = (DONE, COMPLETED, *IN_FLIGHT, UNKNOWN_SUBMIT)
