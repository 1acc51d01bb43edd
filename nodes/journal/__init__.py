"""The request journal: every paid fal request, written down before it is sent and followed to the end.

Knows nothing of ComfyUI or HTTP (standard library only). Modules: ``states`` (the states),
``identity`` (what makes two runs the same request), ``reconcile`` (matching a submit whose answer was
lost with fal's own request records), ``schema`` (tables, migrations), ``store`` (the ``JournalStore``
interface and portable SQL), ``fleet_sql`` (guarded creates, the day's spend, heartbeats), ``sqlite`` (the
default file store), ``postgres`` (the store a fleet of workers shares), ``config`` (settings,
``open_journal``), ``receipts`` (the JSON receipt written next to each saved result).

The store's calls (all synchronous, thread- and process-safe) are those of ``store.JournalStore``; the glue
keeps one store per process (``nodes.comfy.host.journaling.journal()``). The entry's fields are
``store.JournalEntry``'s; its states are listed in ``states``. How the journal is used: docs/journal.md.

The key never enters the journal: it holds payloads (with fal's field names), URLs, fal's result
JSON and paths, never request headers.
"""
