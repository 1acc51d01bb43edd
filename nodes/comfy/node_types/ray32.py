"""Ray 3.2 video nodes: text-to-video, image-to-video (start/end frame or keyframes), video-to-video, reframe."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ...fal.deadline import TimeLimits
from ...luma import constants as C
from ..run.job import FalJob
from ..run.limits import node_time_limits
from ..outputs.values import FrameOptions, VideoNode, one_call_fans_out, tracks_inputs, video_takes_output
from ..outputs.take_frames import frames_as_takes_land
from .schema import CATEGORY_VIDEO, prompt_input, request_node_schema, video_outputs


def _ray_common_inputs(*, aspect: bool = True, loop: bool = True, duration: bool = True) -> list[io.Input]:
    inputs: list[io.Input] = []
    if aspect:
        inputs.append(io.Combo.Input("aspect_ratio", options=list(C.RAY_ASPECT_RATIOS), default=C.RAY_DEFAULT_ASPECT_RATIO,
                                     tooltip="Shape of the video (width:height)."))
    inputs.append(io.Combo.Input("resolution", options=list(C.RAY_RESOLUTIONS), default=C.RAY_DEFAULT_RESOLUTION,
                                 tooltip="Lines of the short side. Price grows with resolution; HDR needs 720p or 1080p."))
    if duration:
        inputs.append(io.Combo.Input("duration", options=list(C.RAY_DURATIONS), default=C.RAY_DEFAULT_DURATION,
                                     tooltip="5s = 121 frames, 10s = 241 frames, at 24 fps. 10s costs twice as much."))
    if loop:
        inputs.append(io.Boolean.Input("loop", default=False,
                                       tooltip="Make the last frame flow back into the first. 5s, SDR only."))
    inputs += [
        io.Boolean.Input("hdr", default=False, tooltip="High dynamic range video (720p/1080p; needs HDR access on fal)."),
        io.Boolean.Input("exr_export", default=False,
                         tooltip="Also export EXR frames (needs hdr). Returned as a file path."),
    ]
    return inputs


def _keyframe_inputs() -> list[io.Input]:
    return [
        io.Image.Input("keyframes", optional=True,
                       tooltip=f"1 to {C.RAY_MAX_KEYFRAMES} images (an IMAGE batch) placed on the output timeline."),
        io.String.Input("keyframe_positions", default="", optional=True,
                        tooltip=("Where each keyframe sits, comma-separated, one per image: frame numbers at 24 fps "
                                 "(0-120 for 5s, 0-240 for 10s) or seconds with an s ('0, 2.5s, 5s'). "
                                 "Empty = spread evenly from first to last frame.")),
    ]


def _video_source_inputs() -> list[io.Input]:
    return [
        io.Video.Input("video", optional=True, tooltip="Source video (core VIDEO). Or connect frames + fps instead."),
        io.Image.Input("source_frames", optional=True,
                       tooltip="Source as IMAGE frames; encoded once to H.264 at source_fps for the upload."),
        io.Float.Input("source_fps", default=24.0, min=1.0, max=120.0, step=0.001, optional=True,
                       tooltip="Frame rate of source_frames (ignored for a VIDEO source)."),
    ]


def frame_options_of(kwargs: dict[str, Any]) -> FrameOptions:
    return FrameOptions(
        start=kwargs.get("frames_start") or 0,
        cap=kwargs.get("frames_cap") or 0,
        every_nth=kwargs.get("frames_every_nth") or 1,
        height=kwargs.get("frames_height") or 0,
        input_prefix="frames_",
    )


async def _run_video(job: FalJob, fields: dict[str, Any], hidden: Any, kwargs: dict[str, Any], *,
                     with_exr: bool) -> io.NodeOutput:
    """Run the node's takes and return its outputs; a fan-out's frames are decoded as each take lands."""
    options = frame_options_of(kwargs)
    landed = frames_as_takes_land(hidden, options)
    try:
        result = await job.run(fields, _limits(kwargs), kwargs, hooks=landed)
        return await video_takes_output(result, hidden, options, with_exr=with_exr, landed=landed)
    finally:
        if landed is not None:
            landed.close()  # frame memory prepared for takes that failed or were never decoded


def _limits(kwargs: dict[str, Any]) -> TimeLimits:
    return node_time_limits(kwargs.get("max_queue_wait"), kwargs.get("max_total_time"))


class LumaFalRay32TextToVideo(VideoNode, io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return request_node_schema(
            node_id="LumaFalRay32TextToVideo",
            display_name="Luma Ray 3.2 Text to Video (fal)",
            category=CATEGORY_VIDEO,
            description="Generate a video from a prompt with Luma Ray 3.2 on fal.ai, billed to your fal key.",
            search_aliases=["luma", "ray", "text to video", "fal"],
            inputs=[
                prompt_input("What the video shows and how the camera moves."),
                *_ray_common_inputs(),
                io.Image.Input("reference_images", optional=True,
                               tooltip="Optional reference images (an IMAGE batch); each is uploaded to fal storage."),
            ],
            outputs=video_outputs(with_exr=True, takes=True),
            frames=True,
        )

    @classmethod
    @tracks_inputs
    @one_call_fans_out
    async def execute(cls, prompt: str, aspect_ratio: str, resolution: str, duration: str, loop: bool, hdr: bool,
                      exr_export: bool, seed: int, reference_images: Any = None, **kwargs: Any) -> io.NodeOutput:
        job = FalJob(C.RAY32_TEXT_TO_VIDEO, cls, stem="ray32-t2v", seed=seed,
                     names={"reference_image_urls": "reference_images"})
        fields: dict[str, Any] = dict(prompt=prompt, aspect_ratio=aspect_ratio, resolution=resolution,
                                      duration=duration, loop=loop, hdr=hdr, exr_export=exr_export)
        if reference_images is not None:
            fields["reference_image_urls"] = job.image_batch("reference_images", reference_images)
        return await _run_video(job, fields, cls.hidden, kwargs, with_exr=True)


class LumaFalRay32ImageToVideo(VideoNode, io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return request_node_schema(
            node_id="LumaFalRay32ImageToVideo",
            display_name="Luma Ray 3.2 Image to Video (fal)",
            category=CATEGORY_VIDEO,
            description=("Animate a start frame and/or end frame, or place 1-64 keyframes on the timeline, "
                         "with Luma Ray 3.2 on fal.ai."),
            search_aliases=["luma", "ray", "image to video", "keyframes", "fal"],
            inputs=[
                prompt_input("What happens between the frames."),
                io.Image.Input("start_image", optional=True, tooltip="First frame of the video (one image)."),
                io.Image.Input("end_image", optional=True, tooltip="Last frame of the video (one image)."),
                *_keyframe_inputs(),
                *_ray_common_inputs(),
            ],
            outputs=video_outputs(with_exr=True, takes=True),
            frames=True,
        )

    @classmethod
    @tracks_inputs
    @one_call_fans_out
    async def execute(cls, prompt: str, aspect_ratio: str, resolution: str, duration: str, loop: bool, hdr: bool,
                      exr_export: bool, seed: int, start_image: Any = None, end_image: Any = None,
                      keyframes: Any = None, keyframe_positions: str = "", **kwargs: Any) -> io.NodeOutput:
        job = FalJob(C.RAY32_IMAGE_TO_VIDEO, cls, stem="ray32-i2v", seed=seed, names={"image_url": "start_image"})
        fields: dict[str, Any] = dict(prompt=prompt, aspect_ratio=aspect_ratio, resolution=resolution,
                                      duration=duration, loop=loop, hdr=hdr, exr_export=exr_export)
        if start_image is not None:
            fields["image_url"] = job.single_image("start_image", start_image)
        if end_image is not None:
            fields["end_image_url"] = job.single_image("end_image", end_image)
        if keyframes is not None:
            fields["keyframes"], fields["keyframe_indexes"] = job.keyframes(keyframes, keyframe_positions, duration)
        return await _run_video(job, fields, cls.hidden, kwargs, with_exr=True)


class LumaFalRay32VideoToVideo(VideoNode, io.ComfyNode):
    CONTROL_MODES = ("auto", "chosen", "off")

    @classmethod
    def define_schema(cls) -> io.Schema:
        return request_node_schema(
            node_id="LumaFalRay32VideoToVideo",
            display_name="Luma Ray 3.2 Video to Video (fal)",
            category=CATEGORY_VIDEO,
            description="Restyle or edit a source video with Luma Ray 3.2 on fal.ai.",
            search_aliases=["luma", "ray", "video to video", "edit", "restyle", "fal"],
            inputs=[
                prompt_input("How to change the source video."),
                *_video_source_inputs(),
                io.Combo.Input("edit_strength", options=["auto", *C.RAY_EDIT_STRENGTHS], default="auto",
                               tooltip="How far to move from the source: adhere (closest) < flex < reimagine."),
                io.Combo.Input("controls", options=list(cls.CONTROL_MODES), default="auto",
                               tooltip="Structure kept from the source: auto (fal decides), chosen (the switches "
                                       "below), or off."),
                *[io.Boolean.Input(f"control_{name}", default=False, optional=True,
                                   tooltip=f"With controls = chosen: keep the source's {name}.")
                  for name in C.RAY_CONTROLS],
                io.Image.Input("start_image", optional=True, tooltip="Optional image for the first frame."),
                *_keyframe_inputs(),
                *_ray_common_inputs(aspect=False, loop=False),
            ],
            outputs=video_outputs(with_exr=True, takes=True),
            frames=True,
        )

    @classmethod
    @tracks_inputs
    @one_call_fans_out
    async def execute(cls, prompt: str, edit_strength: str, controls: str, resolution: str, duration: str,
                      hdr: bool, exr_export: bool, seed: int, video: Any = None, source_frames: Any = None,
                      source_fps: float = 24.0, start_image: Any = None, keyframes: Any = None,
                      keyframe_positions: str = "", **kwargs: Any) -> io.NodeOutput:
        job = FalJob(C.RAY32_VIDEO_TO_VIDEO, cls, stem="ray32-v2v", seed=seed)
        fields: dict[str, Any] = dict(prompt=prompt, resolution=resolution, duration=duration, hdr=hdr,
                                      exr_export=exr_export)
        fields["video_url"] = job.video_source(video, source_frames, source_fps)
        if edit_strength != "auto":
            fields["edit_strength"] = edit_strength
        if controls == "auto":
            fields["auto_controls"] = True
        elif controls == "chosen":
            fields["controls"] = {name: bool(kwargs.get(f"control_{name}")) for name in C.RAY_CONTROLS}
        if start_image is not None:
            fields["start_image_url"] = job.single_image("start_image", start_image)
        if keyframes is not None:
            fields["keyframes"], fields["keyframe_indexes"] = job.keyframes(keyframes, keyframe_positions, duration)
        return await _run_video(job, fields, cls.hidden, kwargs, with_exr=True)


class LumaFalRay32Reframe(VideoNode, io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return request_node_schema(
            node_id="LumaFalRay32Reframe",
            display_name="Luma Ray 3.2 Reframe (fal)",
            category=CATEGORY_VIDEO,
            description="Extend a video to another aspect ratio (outpainting) with Luma Ray 3.2 on fal.ai.",
            search_aliases=["luma", "ray", "reframe", "outpaint", "aspect ratio", "fal"],
            inputs=[
                prompt_input("What fills the new space around the source."),
                *_video_source_inputs(),
                io.Combo.Input("aspect_ratio", options=list(C.RAY_ASPECT_RATIOS), default="9:16",
                               tooltip="Target shape of the reframed video."),
                io.Combo.Input("resolution", options=list(C.RAY_RESOLUTIONS), default=C.RAY_DEFAULT_RESOLUTION,
                               tooltip="Lines of the short side of the output."),
                io.Boolean.Input("place_source", default=False,
                                 tooltip="Off: fal places the source. On: put it at x, y with width w and height h "
                                         "(fractions of the output frame)."),
                *[io.Float.Input(f"source_{axis}", default=default, min=0.0, max=1.0, step=0.01, optional=True,
                                 tooltip=f"With place_source: {label} (0-1, fraction of the output frame).")
                  for axis, default, label in (("x", 0.0, "left edge"), ("y", 0.0, "top edge"),
                                               ("w", 1.0, "width"), ("h", 1.0, "height"))],
            ],
            outputs=video_outputs(with_exr=False, takes=True),
            frames=True,
        )

    @classmethod
    @tracks_inputs
    @one_call_fans_out
    async def execute(cls, prompt: str, aspect_ratio: str, resolution: str, place_source: bool, seed: int,
                      video: Any = None, source_frames: Any = None, source_fps: float = 24.0,
                      **kwargs: Any) -> io.NodeOutput:
        job = FalJob(C.RAY32_REFRAME, cls, stem="ray32-reframe", seed=seed)
        fields: dict[str, Any] = dict(prompt=prompt, aspect_ratio=aspect_ratio, resolution=resolution)
        fields["video_url"] = job.video_source(video, source_frames, source_fps)
        if place_source:
            fields["source_position"] = {
                "x_norm": kwargs.get("source_x", 0.0), "y_norm": kwargs.get("source_y", 0.0),
                "w_norm": kwargs.get("source_w", 1.0), "h_norm": kwargs.get("source_h", 1.0),
            }
        return await _run_video(job, fields, cls.hidden, kwargs, with_exr=False)


NODES = [LumaFalRay32TextToVideo, LumaFalRay32ImageToVideo, LumaFalRay32VideoToVideo, LumaFalRay32Reframe]
