"""The base every Luma request model shares: strict inputs, rules run after parsing, fal's JSON body."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from .rules import Check

OutputKind = Literal["video", "images"]


class LumaModel(BaseModel):
    """Field names are fal's JSON names. Unknown fields are refused (they are almost always a typo)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ENDPOINT: ClassVar[str]
    TITLE: ClassVar[str]                       # what the user calls it, used in messages
    output_kind: ClassVar[OutputKind]
    FILE_FIELDS: ClassVar[tuple[str, ...]] = ()   # fields holding file URLs (str or list[str])
    NOT_SENT: ClassVar[frozenset[str]] = frozenset()

    @property
    def endpoint_id(self) -> str:
        return self.ENDPOINT

    def to_payload(self) -> dict[str, Any]:
        """fal's JSON body: unset (None) values and empty lists/objects are left out."""
        body = self.model_dump(mode="json", exclude_none=True, exclude=set(self.NOT_SENT))
        return {k: v for k, v in body.items() if v != [] and v != {}}

    def check_rules(self, check: Check) -> None:
        """Subclasses add their rules here; every violation is reported, not just the first."""

    @model_validator(mode="after")
    def enforce_rules(self) -> LumaModel:
        check = Check()
        self.check_rules(check)
        check.raise_if_any()
        return self
