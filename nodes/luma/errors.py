"""Problems found in a request, and the one exception that carries all of them.

Standard library only, so the transport and the glue can catch ``RequestInvalid`` without loading pydantic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field as dc_field

Loc = tuple[str | int, ...]


def field_path(loc: Loc) -> str:
    """``("keyframes", 2)`` -> ``"keyframes[2]"``; ``("controls", "pose")`` -> ``"controls.pose"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def parse_field(field: str) -> Loc:
    """The inverse of ``field_path``: ``"keyframes[2]"`` -> ``("keyframes", 2)``."""
    return tuple(int(index) if index else name
                 for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request.

    ``field`` names the input (fal's field name, dotted/indexed for nested values, "" for the whole
    request), ``message`` explains the rule to a ComfyUI user without repeating the field, ``code`` is a
    stable machine code. ``loc`` is the fal/pydantic location (defaults to the field as one part) and
    ``fal_type``/``fal_msg`` are what fal's 422 body would say, when that differs from ours.
    """

    field: str
    message: str
    code: str
    loc: Loc = ()
    fal_type: str = "value_error"
    fal_msg: str | None = None
    # Fields a cross-field rule read: lets the catalogue drop rule findings that stem from an input
    # which was itself invalid. Not part of equality, so tests compare on what users see.
    involves: frozenset[str] = dc_field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.loc and self.field:
            object.__setattr__(self, "loc", parse_field(self.field))

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class RequestInvalid(ValueError):
    """A request broke one or more rules; ``problems`` lists every one found, not just the first."""

    def __init__(self, problems: Iterable[Problem], endpoint_id: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        self.endpoint_id = endpoint_id
        super().__init__(self._text())

    def _text(self) -> str:
        if not self.problems:
            return "the request is invalid"
        return "\n".join(str(p) for p in self.problems)

    def __str__(self) -> str:
        return self._text()

    def fields(self) -> list[str]:
        return [p.field for p in self.problems]
