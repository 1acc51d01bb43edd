"""A separate process writing to a journal, for the crash and two-process tests (not a test module).

argv: journal path, tag, count. For each entry: create, then walk it to "done"; prints
"<tag> <id> <state>" after each committed write (flushed), so the parent knows what was committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nodes.journal.config import open_journal  # noqa: E402
from nodes.journal.store import NewEntry  # noqa: E402


def main() -> None:
    path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_journal(f"sqlite:///{path}")
    for n in range(count):
        entry = store.create(NewEntry(identity=f"{tag}-{n}", endpoint_id="luma/agent/ray/v3.2/text-to-video",
                                      payload={"prompt": f"{tag} {n}"}, inputs={}, output_kind="video",
                                      stem="t", node_name="writer", owner=tag))
        print(f"{tag} {entry.id} preparing", flush=True)
        for state, extra in (("queued", {"request_id": f"req-{tag}-{n}"}), ("running", {}),
                             ("completed", {"result": {"video": {"url": "http://x/v.mp4"}}}),
                             ("done", {"files": {"video": [f"/out/{tag}-{n}.mp4"]}})):
            store.update(entry.id, state=state, **extra)
            print(f"{tag} {entry.id} {state}", flush=True)


if __name__ == "__main__":
    main()
