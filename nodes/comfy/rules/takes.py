"""Many takes in one node run: which requests a fan-out makes and what it reports (how its progress
shows on the node: run/take_status.py).

ComfyUI runs one queued prompt at a time, so eight queued prompts wait for eight fal runs in a row.
A node with ``takes`` > 1 (and/or ``prompt_variants``) instead sends every request of the fan-out at
once, each its own journaled request (the take index is part of its identity; take 0 keeps the
identity a single run always had), all through the transport's in-flight cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_TAKES = 16
MAX_PROMPTS = 64
# Prompts x takes in one node run: beyond this a typo (a long list wired in, takes left at 16) would queue
# hundreds of paid requests behind one Run button.
MAX_REQUESTS = 128
_PROMPT_SHOWN = 40


@dataclass(frozen=True)
class Take:
    """One request of a fan-out: ``number`` counts from 1 across the node; ``identity_take`` is the
    take index in the request identity (0 for the first request of each distinct prompt)."""

    number: int
    prompt_number: int  # 1-based line of prompt_variants, or 0 for the node's own prompt
    prompt: str
    identity_take: int

    @property
    def label(self) -> str:
        return f"take {self.number}" + (f" (prompt {self.prompt_number}: {short(self.prompt)!r})"
                                         if self.prompt_number else "")


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _PROMPT_SHOWN else text[: _PROMPT_SHOWN - 1] + "…"


def variant_prompts(variants: Any) -> list[str]:
    """One prompt per non-empty line of ``prompt_variants`` (a STRING; a list from upstream is taken
    item by item, each item split into lines too). Empty = no variants: the node's ``prompt`` is used."""
    items = variants if isinstance(variants, (list, tuple)) else [variants]
    return [line.strip() for item in items if isinstance(item, str) for line in item.splitlines() if line.strip()]


def plan_takes(prompt: str, variants: Any, takes: Any) -> list[Take]:
    """Every request of the fan-out, variants outermost: (p1 t1, p1 t2, p2 t1, p2 t2, ...).
    A prompt that appears twice gets further take indexes, so no two requests share an identity."""
    count = int(takes or 1)
    lines = variant_prompts(variants)
    prompts = [(i + 1, text) for i, text in enumerate(lines)] if lines else [(0, prompt)]
    seen: dict[str, int] = {}
    plan = []
    for prompt_number, text in prompts:
        for _ in range(count):
            index = seen.get(text, 0)
            seen[text] = index + 1
            plan.append(Take(len(plan) + 1, prompt_number, text, index))
    return plan


def check_plan(node_name: str, variants: Any, takes: Any) -> str | None:
    """A refusal for a fan-out that is too large or malformed (None = fine)."""
    count = takes if takes is not None else 1
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_TAKES:
        return f"takes: must be a whole number from 1 to {MAX_TAKES}, got {count!r}."
    lines = variant_prompts(variants)
    if len(lines) > MAX_PROMPTS:
        return f"prompt_variants: at most {MAX_PROMPTS} prompts (one per line), got {len(lines)}."
    if len(lines) * count > MAX_REQUESTS:
        return (f"prompt_variants x takes: at most {MAX_REQUESTS} requests in one run of a node, got "
                f"{len(lines)} prompts x {count} takes = {len(lines) * count}. Use fewer takes, or split the "
                f"prompts over several nodes.")
    return None


def takes_count(inputs: Mapping[str, Any]) -> int:
    """How many requests a queued node (API-format inputs) fans out to; linked inputs count as unknown = 1
    per take, since a linked list's length is known only when it arrives."""
    takes = inputs.get("takes")
    count = takes if isinstance(takes, int) and not isinstance(takes, bool) and takes >= 1 else 1
    variants = inputs.get("prompt_variants")
    prompts = len(variant_prompts(variants)) if isinstance(variants, str) else 0
    return count * max(1, prompts)


# -- what a fan-out returns -------------------------------------------------------------------------

@dataclass(frozen=True)
class TakeFailure:
    take: Take
    reason: str
    request_id: str | None


def failure_of(take: Take, exc: BaseException) -> TakeFailure:
    return TakeFailure(take, str(exc) or type(exc).__name__, getattr(exc, "request_id", None))


def report_text(succeeded: list[tuple[Take, str]], failed: list[TakeFailure]) -> str:
    """The node's ``report`` output: every take, in order, with its request id or why it failed."""
    total = len(succeeded) + len(failed)
    lines = [f"{len(succeeded)} of {total} takes done" + (f", {len(failed)} failed" if failed else "")]
    rows: list[tuple[int, str]] = [(t.number, f"{t.label}: done, request {rid}") for t, rid in succeeded]
    rows += [(f.take.number, f"{f.take.label}: FAILED" + (f" (request {f.request_id})" if f.request_id else "")
              + f": {f.reason}") for f in failed]
    return "\n".join(lines + [text for _, text in sorted(rows)])
