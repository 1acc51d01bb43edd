"""How long a run may wait: the nodes' max_queue_wait / max_total_time and their defaults.

Its own module because the node schema, the job, start-up recovery and reconciliation all read these
defaults, and none of them may import the others for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_QUEUE_WAIT_S = 600  # the nodes' max_queue_wait / max_total_time defaults, and the recovery's bound
DEFAULT_TOTAL_TIME_S = 1800


@dataclass(frozen=True)
class Limits:
    queue_wait: float
    total: float

    @classmethod
    def from_inputs(cls, queue_wait: Any, total: Any) -> Limits:
        return cls(float(queue_wait or DEFAULT_QUEUE_WAIT_S), float(total or DEFAULT_TOTAL_TIME_S))
