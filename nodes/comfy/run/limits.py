"""How long a run may wait: the nodes' max_queue_wait / max_total_time, their defaults, and the one
``TimeLimits`` built from them.

Its own module because the node schema, the job, start-up recovery and reconciliation all read these
defaults, and none of them may import the others for it.
"""

from __future__ import annotations

from typing import Any

from ...fal.deadline import TimeLimits

DEFAULT_QUEUE_WAIT_S = 600  # the nodes' max_queue_wait / max_total_time defaults, and the recovery's bound
DEFAULT_TOTAL_TIME_S = 1800


def node_time_limits(max_queue_wait: Any, max_total_time: Any) -> TimeLimits:
    """The node's two limit inputs (empty or 0: the defaults), built once and carried down whole."""
    return TimeLimits(float(max_queue_wait or DEFAULT_QUEUE_WAIT_S), float(max_total_time or DEFAULT_TOTAL_TIME_S))
