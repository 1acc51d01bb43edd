"""Today's spend: THE one seam the spend limits read (``spent_today``) and write (``record_spend``).

For now an in-process tally of the estimates of runs that finished today (local date) in this
ComfyUI; it starts at zero when ComfyUI starts. The request journal (sqlite, built on another branch)
will replace the body of these two functions, nothing else: every limit check calls ``spent_today()``.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

_lock = threading.Lock()
_tally: dict[str, float] = {}


def _today() -> str:
    return time.strftime("%Y-%m-%d")


def spent_today() -> float:
    """USD spent today: the sum of the estimates of today's finished paid runs."""
    with _lock:
        return round(_tally.get(_today(), 0.0), 6)


def record_spend(usd: float | None, *, endpoint_id: str, request_id: str) -> None:
    """A paid run finished (fal bills successful outputs): add its estimate to today's spend."""
    if usd is None:
        log.info("luma-fal: request %s (%s) finished; its price is unknown, so today's spend does not include it",
                 request_id, endpoint_id)
        return
    with _lock:
        day = _today()
        _tally[day] = _tally.get(day, 0.0) + usd
