"""Uni-1 image nodes: text-to-image and image edit (uni-1 or uni-1 max)."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ...luma import constants as C
from ..run.job import FalJob
from ..run.limits import node_time_limits
from ..outputs.values import image_takes_output, one_call_fans_out
from .schema import CATEGORY_IMAGE, image_outputs, prompt_input, request_node_schema

_MODEL_TOOLTIP = "uni-1, or uni-1 max for higher quality at a higher price."


def _style_and_format() -> list[io.Input]:
    return [
        io.Combo.Input("style", options=list(C.UNI1_STYLES), default="auto", tooltip="auto, or a manga look."),
        io.Combo.Input("output_format", options=list(C.UNI1_OUTPUT_FORMATS), default="png",
                       tooltip="File format fal returns and the pack saves."),
    ]


class LumaFalUni1TextToImage(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return request_node_schema(
            node_id="LumaFalUni1TextToImage",
            display_name="Luma Uni-1 Text to Image (fal)",
            category=CATEGORY_IMAGE,
            description="Generate an image from a prompt (and up to 9 reference images) with Luma Uni-1 on fal.ai.",
            search_aliases=["luma", "uni-1", "text to image", "fal"],
            inputs=[
                prompt_input("The image to make."),
                io.Combo.Input("model", options=list(C.UNI1_MODELS), default="uni-1", tooltip=_MODEL_TOOLTIP),
                io.Combo.Input("aspect_ratio", options=list(C.UNI1_ASPECT_RATIOS), default="1:1",
                               tooltip="Shape of the image (width:height)."),
                *_style_and_format(),
                io.Boolean.Input("web_search", default=False,
                                 tooltip="Let the model look things up on the web before drawing."),
                io.Image.Input("references", optional=True,
                               tooltip=f"Up to {C.UNI1_MAX_REFERENCES_TEXT_TO_IMAGE} reference images (an IMAGE "
                                       "batch); each is uploaded to fal storage."),
            ],
            outputs=image_outputs(takes=True),
            frames=False,
        )

    @classmethod
    @one_call_fans_out
    async def execute(cls, prompt: str, model: str, aspect_ratio: str, style: str, output_format: str,
                      web_search: bool, seed: int, references: Any = None, **kwargs: Any) -> io.NodeOutput:
        job = FalJob(C.UNI1_TEXT_TO_IMAGE, cls, stem="uni1", seed=seed, names={"reference_image_urls": "references"})
        fields: dict[str, Any] = dict(model=model, prompt=prompt, aspect_ratio=aspect_ratio, style=style,
                                      output_format=output_format, enable_web_search=web_search)
        if references is not None:
            fields["reference_image_urls"] = job.image_batch("references", references)
        result = await job.run(fields, node_time_limits(kwargs.get("max_queue_wait"), kwargs.get("max_total_time")),
                             kwargs)
        return await image_takes_output(result)


class LumaFalUni1ImageEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return request_node_schema(
            node_id="LumaFalUni1ImageEdit",
            display_name="Luma Uni-1 Image Edit (fal)",
            category=CATEGORY_IMAGE,
            description="Edit an image by prompt (with up to 8 reference images) with Luma Uni-1 on fal.ai.",
            search_aliases=["luma", "uni-1", "image edit", "fal"],
            inputs=[
                io.Image.Input("image", tooltip="The image to edit (one image)."),
                prompt_input("What to change."),
                io.Combo.Input("model", options=list(C.UNI1_MODELS), default="uni-1", tooltip=_MODEL_TOOLTIP),
                *_style_and_format(),
                io.Image.Input("references", optional=True,
                               tooltip=f"Up to {C.UNI1_MAX_REFERENCES_EDIT} reference images (an IMAGE batch)."),
            ],
            outputs=image_outputs(takes=True),
            frames=False,
        )

    @classmethod
    @one_call_fans_out
    async def execute(cls, image: Any, prompt: str, model: str, style: str, output_format: str, seed: int,
                      references: Any = None, **kwargs: Any) -> io.NodeOutput:
        job = FalJob(C.UNI1_EDIT, cls, stem="uni1-edit", seed=seed,
                     names={"reference_image_urls": "references", "image_url": "image"})
        fields: dict[str, Any] = dict(model=model, prompt=prompt, style=style, output_format=output_format)
        fields["image_url"] = job.single_image("image", image)
        if references is not None:
            fields["reference_image_urls"] = job.image_batch("references", references)
        result = await job.run(fields, node_time_limits(kwargs.get("max_queue_wait"), kwargs.get("max_total_time")),
                             kwargs)
        return await image_takes_output(result)


NODES = [LumaFalUni1TextToImage, LumaFalUni1ImageEdit]
