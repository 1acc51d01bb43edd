"""Uni-1 image requests on fal (protocol notes §11.1).

``model`` is ours, not fal's: it picks the endpoint (standard or max) and is never sent.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from . import constants as C
from . import rules
from .base import LumaModel
from .rules import Check

Uni1Model = Literal[C.UNI1_MODELS]  # type: ignore[valid-type]
Uni1AspectRatio = Literal[C.UNI1_ASPECT_RATIOS]  # type: ignore[valid-type]
Uni1Style = Literal[C.UNI1_STYLES]  # type: ignore[valid-type]
Uni1OutputFormat = Literal[C.UNI1_OUTPUT_FORMATS]  # type: ignore[valid-type]

MAX_MODEL = "uni-1 max"


class _Uni1Base(LumaModel):
    output_kind: ClassVar[Literal["images"]] = "images"
    NOT_SENT: ClassVar[frozenset[str]] = frozenset({"model"})
    STANDARD_ENDPOINT: ClassVar[str]
    MAX_ENDPOINT: ClassVar[str]

    model: Uni1Model = C.UNI1_DEFAULT_MODEL
    prompt: str | None = None
    aspect_ratio: Uni1AspectRatio | None = None
    style: Uni1Style | None = None
    output_format: Uni1OutputFormat | None = None
    reference_image_urls: list[str] | None = None

    @property
    def endpoint_id(self) -> str:
        return self.MAX_ENDPOINT if self.model == MAX_MODEL else self.STANDARD_ENDPOINT


class Uni1TextToImageRequest(_Uni1Base):
    ENDPOINT: ClassVar[str] = C.UNI1_TEXT_TO_IMAGE
    STANDARD_ENDPOINT: ClassVar[str] = C.UNI1_TEXT_TO_IMAGE
    MAX_ENDPOINT: ClassVar[str] = C.UNI1_MAX_TEXT_TO_IMAGE
    TITLE: ClassVar[str] = "Uni-1 text-to-image"
    FILE_FIELDS: ClassVar[tuple[str, ...]] = ("reference_image_urls",)

    enable_web_search: bool | None = None

    def check_rules(self, check: Check) -> None:
        rules.prompt(check, self.prompt)
        rules.references(check, self.reference_image_urls, C.UNI1_MAX_REFERENCES_TEXT_TO_IMAGE)


class Uni1EditRequest(_Uni1Base):
    """Edits ``image_url``. aspect_ratio is optional: the notes list edit's inputs as text-to-image's plus
    the source image (only web search is text-to-image only); left unset, it is not sent."""

    ENDPOINT: ClassVar[str] = C.UNI1_EDIT
    STANDARD_ENDPOINT: ClassVar[str] = C.UNI1_EDIT
    MAX_ENDPOINT: ClassVar[str] = C.UNI1_MAX_EDIT
    TITLE: ClassVar[str] = "Uni-1 image edit"
    FILE_FIELDS: ClassVar[tuple[str, ...]] = ("image_url", "reference_image_urls")

    image_url: str | None = None

    def check_rules(self, check: Check) -> None:
        rules.prompt(check, self.prompt)
        rules.required_file(check, "image_url", self.image_url, "the image to edit")
        rules.references(check, self.reference_image_urls, C.UNI1_MAX_REFERENCES_EDIT,
                         " besides the image being edited")
