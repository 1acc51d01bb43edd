"""What one follower's work fetches with, passed whole: the fal runner, the follower, the run's one deadline,
and the node that decodes a video's frames as it downloads (if any)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ...fal.deadline import Deadline
from ...fal.runner import FalRunner
from .followers import Follower


class StreamConsumer(Protocol):
    def stream_started(self, request_id: str, dest: Path, live: Any, deadline: Deadline) -> bool:
        """A video of ``request_id`` started downloading to ``dest``; ``live`` is its GrowingFile.
        True when the consumer decodes from it (the downloader then keeps ``live`` informed)."""


@dataclass(frozen=True)
class FollowerRun:
    """``runner`` talks to fal; ``follower`` carries progress to every waiter and their Cancel back;
    ``deadline`` is the run's one clock (``TimeLimits.start()``); ``frames_to`` is the node decoding its video
    as it lands, when the node that started this request wants that (a request followed on someone else's
    behalf has none)."""

    runner: FalRunner
    follower: Follower
    deadline: Deadline
    frames_to: StreamConsumer | None = None
