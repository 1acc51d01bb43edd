"""Today's spend: THE one seam the spend limits read (``spent_today``), from the request journal.

Counted: today's (local date) journaled requests fal finished, those still in flight and those whose
submit is in doubt (they may be billed), at their estimate. A running prompt's own unfinished nodes are
left out here because the limit check reserves them itself (``money.check_spend``), so nothing counts twice.
"""

from __future__ import annotations

import time

from .ledger import local_midnight


def spent_today(*, running_prompt: str | None = None) -> float:
    """USD of today's requests that are or may be billed, at their estimates: one SUM in the journal (shared
    by a fleet of workers on PostgreSQL), not a read of every entry."""
    from .journaling import journal

    return journal().spent_since(local_midnight(time.time()), leave_out_prompt=running_prompt)
