"""Today's spend: THE one seam the spend limits read (``spent_today``), from the request journal.

Counted: today's (local date) journaled requests fal finished, those still in flight and those whose
submit is in doubt (they may be billed), at their estimate. A running prompt's own unfinished nodes are
left out here because the limit check reserves them itself (``money.check_spend``), so nothing counts twice.
"""

from __future__ import annotations

import time

from ..journal import states
from .ledger import local_midnight, read_all

# What may end up on fal's bill: finished, in flight, or submitted without a recorded answer.
_MAY_BILL = (states.DONE, states.COMPLETED, *states.IN_FLIGHT, states.UNKNOWN_SUBMIT)


def spent_today(*, running_prompt: str | None = None) -> float:
    """USD of today's requests that are or may be billed: fal's billed figure where known, else the estimate."""
    from .journaling import journal

    midnight = local_midnight(time.time())
    total = 0.0
    for entry in read_all(journal()):
        cost = entry.billed_usd if entry.billed_usd is not None else entry.price_usd  # fal's bill when known
        if entry.created_at < midnight or entry.state not in _MAY_BILL or cost is None:
            continue
        if running_prompt is not None and entry.prompt_id == running_prompt and entry.state in states.IN_FLIGHT:
            continue  # reserved by the limit check as part of the running prompt
        total += cost
    return round(total, 6)
