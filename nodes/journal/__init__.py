"""The request journal: every paid fal request, written down before it is sent and followed to the end.

Knows nothing of ComfyUI or HTTP (standard library only). Modules: ``states`` (the states),
``identity`` (what makes two runs the same request), ``reconcile`` (matching a submit whose answer was
lost with fal's own request records), ``schema`` (tables, migrations), ``store`` (the ``JournalStore``
interface and portable SQL), ``fleet_sql`` (guarded creates, the day's spend, heartbeats), ``sqlite`` (the
default file store), ``postgres`` (the store a fleet of workers shares), ``config`` (settings,
``open_journal``), ``receipts`` (the JSON receipt written next to each saved result).

API summary (all synchronous, thread- and process-safe; the glue keeps one store per process,
``nodes.comfy.host.journaling.journal()``):

    from nodes.journal.config import open_journal, journal_url, retention_days
    store = open_journal("sqlite:////path/journal.sqlite3", prune_days=30)

    store.list_entries(limit=50, before_id=None, states=None) -> list[JournalEntry]   # newest first;
        # next page: before_id=page[-1].id
    store.get(entry_id) -> JournalEntry | None
    store.get_by_request_id(request_id) -> JournalEntry | None                      # newest with that id
    store.latest_for_identity(identity) -> JournalEntry | None
    store.in_flight() -> list[JournalEntry]          # preparing/submitting/queued/running/completed
    store.events(entry_id) -> list[JournalEvent]     # every state change, oldest first (at, state, note)
    store.create(NewEntry(...)) -> JournalEntry
    store.update(entry_id, state=..., note=..., request_id=..., result=..., files=..., timings=...,
                 inputs=..., message=..., submitted_at=..., finished_at=..., owner=...) -> JournalEntry
    store.create_guarded(NewEntry(...), after_id=latest id or None, budget=Budget(since, limit_usd) | None)
        -> Created(entry | None, latest, spent_usd)   # one transaction: one entry per identity, in budget
    store.spent_since(since, leave_out_prompt=None) -> float   # USD that is or may be billed (MAY_BILL)
    store.beat(owner, info); store.workers() -> {owner: last heartbeat}
    store.claim(entry_id, expected_owner, new_owner) -> bool
    store.prune(older_than_seconds) -> int

    JournalEntry: id, identity, endpoint_id, state, request_id, seed, payload (placeholders),
        inputs ({placeholder: {label, content, url}}), output_kind ("video"|"images"), stem,
        price_usd, price_source, node_id, node_name, prompt_id, owner, created_at, updated_at,
        submitted_at, finished_at (UNIX seconds), result (fal's raw result JSON or None),
        files ({output name: [absolute paths]}: the saved files once ``done``; while saving, the
        names reserved for them), timings ({queue_seconds, run_seconds, download_seconds, ...}),
        message (last error or note), billed_usd (what fal's billing events say, or None), fal_records
        (JSON: reconciliation evidence, billing); .finished, .saved_paths()

    states (``states``): preparing, submitting, queued, running, completed (fal done, files not all
        saved), done (files saved), failed, cancelled, unknown_submit, not_submitted, expired.
        FOLLOWABLE = queued/running/completed; IN_FLIGHT; FINAL.

The key never enters the journal: it holds payloads (with fal's field names), URLs, fal's result
JSON and paths, never request headers.
"""
