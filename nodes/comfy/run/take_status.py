"""What a fan-out (several takes in one node run) shows on its node while its requests run at fal."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .. import host
from ..rules.takes import Take


@dataclass
class _TakeState:
    take: Take
    phase: str = "waiting"
    text: str = "waiting"
    queue_position: int | None = None
    request_id: str | None = None


_FINAL = {"done", "error", "cancelled"}


@dataclass
class TakesReporter:
    """One status line for a fan-out: "n of m done" and each unfinished take's phase and queue position,
    sent as the node's ``luma_fal.status`` event with a ``takes`` list (web/status.js draws it)."""

    node_id: str | None
    plan: list[Take]
    prompt_id: str | None = field(default_factory=host.current_prompt_id)
    states: list[_TakeState] = field(init=False)
    _last_sent: float = field(default=0.0, init=False)
    _last_shape: tuple[Any, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        self.states = [_TakeState(t) for t in self.plan]
        self._bar = host.ProgressBar(self.node_id)

    def for_take(self, index: int, hold_done: bool = False) -> TakeReporter:
        return TakeReporter(self, index, hold_done)

    @property
    def finished(self) -> int:
        return sum(1 for s in self.states if s.phase in _FINAL)

    def summary(self) -> str:
        done = sum(1 for s in self.states if s.phase == "done")
        failed = sum(1 for s in self.states if s.phase in ("error", "cancelled"))
        return f"{done} of {len(self.states)} takes done" + (f", {failed} failed" if failed else "")

    def take_lines(self) -> list[str]:
        """One line per unfinished take (its phase and queue position), drawn under the summary."""
        return [f"take {s.take.number}: {s.text}" for s in self.states if s.phase not in _FINAL]

    def update(self, index: int, phase: str, text: str, queue_position: int | None, request_id: str | None,
               logs: list[str] | None = None) -> None:
        state = self.states[index]
        state.phase, state.text = phase, text
        state.queue_position = queue_position if phase == "in_queue" else None
        state.request_id = request_id or state.request_id
        self._bar.set_fraction(self.finished / len(self.states))
        now = time.monotonic()
        # Many takes each send events: a change of any take's phase or queue position is always sent;
        # mere clock ticks at most 5 times a second.
        shape = tuple((s.phase, s.queue_position) for s in self.states)
        if shape == self._last_shape and now - self._last_sent < 0.2:
            return
        self._last_sent, self._last_shape = now, shape
        self.send("running", logs or [])

    def send(self, phase: str, logs: list[str], text: str | None = None) -> None:
        positions = [s.queue_position for s in self.states if s.queue_position is not None]
        host.send_status({
            "node": self.node_id, "prompt_id": self.prompt_id, "phase": phase, "text": text or self.summary(),
            "queue_position": min(positions) if positions else None, "logs": logs,
            "take_lines": self.take_lines() if phase == "running" else [],
            "fraction": self.finished / len(self.states), "request_id": None,
            "done": sum(1 for s in self.states if s.phase == "done"), "total": len(self.states),
            "takes": [{"take": s.take.number, "prompt": s.take.prompt_number, "phase": s.phase,
                       "queue_position": s.queue_position, "request_id": s.request_id} for s in self.states],
        })


class TakeReporter:
    """A take's side of ``TakesReporter``, with ``NodeReporter``'s interface (see fal_bridge.wait_for_outcome)."""

    def __init__(self, parent: TakesReporter, index: int, hold_done: bool = False) -> None:
        self.parent = parent
        self.index = index
        self.request_id: str | None = None
        # With work to do after fal (decoding frames), fal's "done" shows as "saved" until release(), so the
        # count of done takes never goes back down.
        self.hold_done = hold_done
        self._done_text = "done"

    def __call__(self, event: Any) -> None:
        self.request_id = event.request_id or self.request_id
        self.parent.update(self.index, event.phase, event.text(), event.queue_position, self.request_id,
                           list(event.new_logs))

    def show(self, phase: str, text: str) -> None:
        self.parent.update(self.index, phase, text.splitlines()[0] if text else phase, None, self.request_id)

    def finish(self, phase: str, text: str) -> None:
        """The last phase of the take's wait at fal (NodeReporter's interface)."""
        if phase == "done" and self.hold_done:
            self._done_text = text
            phase, text = "saved", "saved"
        self.show(phase, text)

    def release(self) -> None:
        """The work after fal has ended: a take not shown as failed or cancelled by then is done."""
        if self.hold_done and self.parent.states[self.index].phase not in _FINAL:
            self.show("done", self._done_text)
        self.hold_done = False
