"""What one paid request is, as the glue passes it down whole: its inputs to upload, its limits, its hooks.

A node's ``FalJob`` builds one ``RunSpec`` per take; ``decide.run_once`` takes it to the journal, the
follower and the fal runner; what comes back is a ``saving.Generated``. The story of a run is told once,
in docs/design.md ("One paid run").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...fal.deadline import TimeLimits
from ...fal.transfers import Upload
from .saving import Generated
from .fetching import StreamConsumer


@dataclass(frozen=True)
class PendingUpload:
    """A node input that becomes a file on fal storage: the payload's ``placeholder`` for its URL, the input's
    ``label`` (for messages), its content ``identity`` (for the journal), and ``produce``, which encodes it
    (CPU work, run in a worker thread, at most once however many takes share it)."""

    placeholder: str
    label: str
    identity: str
    produce: Callable[[], Upload] = field(repr=False)


class TakeHooks(StreamConsumer, Protocol):
    """What a node does around its takes (outputs.take_frames.FramesAsTakesLand: frames decoded as takes land),
    carried down to the follower that downloads its video (``stream_started``)."""

    async def before_takes(self, count: int, request: Any) -> None:
        """Once, right before the takes are sent (all checks passed): how many, and the first's request.
        A MemoryError or ValueError refuses the run, with nothing sent."""

    async def after_take(self, index: int, count: int, generated: Generated, reporter: Any) -> None:
        """Each take of a fan-out as soon as its files are saved, while the other takes still run: its index
        in the plan, how many takes there are, what it made, and its status line (a take_status.TakeReporter)."""


@dataclass(frozen=True)
class RunSpec:
    """One take of a node run: the request with upload placeholders, what identifies it in the journal, and
    what its run needs (limits, hooks, the estimate)."""

    identity: str
    endpoint_id: str
    payload: dict[str, Any]  # with upload placeholders
    uploads: tuple[PendingUpload, ...]
    output_kind: str
    stem: str
    seed: int
    node_id: str | None
    node_name: str
    price_usd: float | None
    price_source: str
    limits: TimeLimits
    hooks: TakeHooks | None = None  # the node's, when it decodes frames as its video downloads
