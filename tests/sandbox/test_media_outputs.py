"""The fake models produce real media: MP4s PyAV decodes with the promised frames, size and rate;
images PIL opens at the promised size; edits visibly derived from their sources; a real EXR."""

from __future__ import annotations

import base64
import io
import struct
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from nodes.luma import constants as C
from sandbox.exr import read_exr_header
from tests.sandbox.helpers import TEST_KEY, run_to_result


def _decode(data: bytes) -> tuple[list[np.ndarray], float, str]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, float(stream.average_rate), stream.codec_context.name


def _output(api: httpx.Client, endpoint_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = run_to_result(api, endpoint_id, payload)
    assert response.status_code == 200, response.text
    return response.json()


def _upload(sandbox: Any, data: bytes, content_type: str, name: str) -> str:
    key = {"Authorization": f"Key {TEST_KEY}"}
    token = httpx.post(f"{sandbox.url}/storage/auth/token", json={}, headers=key).json()["token"]
    return httpx.post(f"{sandbox.url}/files/upload", content=data,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": content_type,
                               "X-Fal-File-Name": name}).json()["access_url"]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue: easy to find again in a derived output."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:, : width // 2] = (220, 30, 30)
    array[:, width // 2:] = (30, 30, 220)
    return Image.fromarray(array)


@pytest.mark.parametrize(("aspect", "resolution", "duration"), [("16:9", "540p", "5s"), ("9:16", "720p", "5s"),
                                                                ("16:9", "1080p", "10s")])
def test_text_to_video_is_real_h264(api: httpx.Client, aspect: str, resolution: str, duration: str) -> None:
    video = _output(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "a paper boat on a river", "aspect_ratio": aspect,
                                                 "resolution": resolution, "duration": duration})["video"]
    assert video["content_type"] == "video/mp4" and video["file_name"].endswith(".mp4")
    data = api.get(video["url"]).content
    assert len(data) == video["file_size"]
    frames, fps, codec = _decode(data)
    assert (codec, fps, len(frames)) == ("h264", 24.0, C.RAY_FRAME_COUNT[duration])
    width, height = C.ray_video_size(aspect, resolution)
    assert frames[0].shape == (height, width, 3)
    assert np.abs(frames[0].astype(int) - frames[len(frames) // 2].astype(int)).mean() > 5  # it moves


def test_image_to_video_shows_the_start_image(api: httpx.Client, sandbox: Any) -> None:
    url = _upload(sandbox, _png(_halves(640, 360)), "image/png", "start.png")
    video = _output(api, C.RAY32_IMAGE_TO_VIDEO, {"prompt": "pan", "image_url": url})["video"]
    frames, _, _ = _decode(api.get(video["url"]).content)
    width, height = C.ray_video_size("16:9", "540p")
    assert len(frames) == 121 and frames[0].shape == (height, width, 3)
    row = frames[0][int(height * 0.85)]  # below the moving box, above the progress bar
    assert row[width // 8][0] > 150 and row[width // 8][2] < 90  # red on the left
    assert row[width * 7 // 8][2] > 150 and row[width * 7 // 8][0] < 90  # blue on the right


def test_image_to_video_accepts_a_data_uri(api: httpx.Client) -> None:
    uri = "data:image/png;base64," + base64.b64encode(_png(_halves(64, 36))).decode()
    video = _output(api, C.RAY32_IMAGE_TO_VIDEO, {"prompt": "inline", "image_url": uri})["video"]
    assert _decode(api.get(video["url"]).content)[0][0][400, 40][0] > 150


def test_source_outside_the_sandbox_is_a_clear_422(api: httpx.Client) -> None:
    response = run_to_result(api, C.RAY32_VIDEO_TO_VIDEO, {"prompt": "x", "video_url": "https://example.com/a.mp4"})
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", "video_url"] and "no network" in item["msg"]


def _source_clip(api: httpx.Client) -> tuple[str, list[np.ndarray]]:
    video = _output(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "source clip"})["video"]
    return video["url"], _decode(api.get(video["url"]).content)[0]


def test_video_to_video_is_derived_from_the_source(api: httpx.Client) -> None:
    url, source = _source_clip(api)
    video = _output(api, C.RAY32_VIDEO_TO_VIDEO, {"prompt": "warmer", "video_url": url})["video"]
    frames, fps, _ = _decode(api.get(video["url"]).content)
    assert fps == 24.0 and len(frames) == 121 and frames[0].shape == source[0].shape
    # Below the caption the edit is the source with green and blue turned down.
    src, out = source[60][300:500].astype(float), frames[60][300:500].astype(float)
    assert abs(out[..., 0].mean() - src[..., 0].mean()) < 8
    assert out[..., 2].mean() < src[..., 2].mean() * 0.7


def test_reframe_places_the_source_in_the_new_aspect(api: httpx.Client) -> None:
    url, source = _source_clip(api)
    box = {"x_norm": 0.0, "y_norm": 0.25, "w_norm": 1.0, "h_norm": 0.3}
    video = _output(api, C.RAY32_REFRAME, {"prompt": "tall", "video_url": url, "aspect_ratio": "9:16",
                                           "source_position": box})["video"]
    frames, fps, _ = _decode(api.get(video["url"]).content)
    width, height = C.ray_video_size("9:16", "540p")
    assert fps == 24.0 and frames[0].shape == (height, width, 3) and len(frames) == 121
    top = int(0.25 * height)
    inner = frames[30][top + 4: top + int(0.3 * height) - 4]
    expected = np.asarray(Image.fromarray(source[30]).resize((width, int(0.3 * height) // 2 * 2)))[4:-4]
    assert np.abs(inner.astype(float) - expected[: inner.shape[0]].astype(float)).mean() < 25
    assert frames[30][: top - 4].mean() < source[30].mean()  # the padding is darker generated content


def test_exr_export_returns_a_real_openexr_file(api: httpx.Client) -> None:
    output = _output(api, C.RAY32_TEXT_TO_VIDEO, {"prompt": "hdr sky", "resolution": "720p", "hdr": True,
                                                  "exr_export": True})
    exr = output["exr_file"]
    assert exr["file_name"].endswith(".exr") and exr["content_type"] == "image/x-exr"
    data = api.get(exr["url"]).content
    header = read_exr_header(data)
    assert header["dataWindow"] == (0, 0, 1279, 719) and header["compression"] == 0
    assert [c["name"] for c in header["channels"]] == ["B", "G", "R"]
    # First scanline block: y, byte count, then B, G, R half floats.
    (offset,) = struct.unpack_from("<Q", data, header["header_size"])
    y, size = struct.unpack_from("<ii", data, offset)
    line = np.frombuffer(data, dtype="<f2", count=3 * 1280, offset=offset + 8)
    assert (y, size) == (0, 3 * 1280 * 2) and np.isfinite(line).all() and 0 <= line.min() and line.max() <= 1


@pytest.mark.parametrize(("aspect", "fmt", "size"), [("1:1", "png", (1024, 1024)), ("16:9", "jpeg", (1360, 768)),
                                                     ("1:3", "png", (592, 1776))])
def test_uni1_text_to_image_sizes_and_formats(api: httpx.Client, aspect: str, fmt: str, size: tuple[int, int]) -> None:
    for endpoint in (C.UNI1_TEXT_TO_IMAGE, C.UNI1_MAX_TEXT_TO_IMAGE):
        (image,) = _output(api, endpoint, {"prompt": "a lantern", "aspect_ratio": aspect, "output_format": fmt})["images"]
        picture = Image.open(io.BytesIO(api.get(image["url"]).content))
        assert picture.format == fmt.upper() and picture.size == size
        assert image["content_type"] == f"image/{fmt}"


@pytest.mark.parametrize("endpoint", [C.UNI1_EDIT, C.UNI1_MAX_EDIT])
def test_uni1_edit_is_derived_from_the_source(api: httpx.Client, sandbox: Any, endpoint: str) -> None:
    url = _upload(sandbox, _png(_halves(800, 800)), "image/png", "source.png")
    (image,) = _output(api, endpoint, {"prompt": "cooler", "image_url": url, "aspect_ratio": "1:1"})["images"]
    picture = np.asarray(Image.open(io.BytesIO(api.get(image["url"]).content)).convert("RGB"))
    assert picture.shape == (1024, 1024, 3)
    assert picture[300, 200][0] > 120 and picture[300, 200][2] < 60  # red half survives, tinted
    assert picture[300, 800][2] > 180 and picture[300, 800][0] < 60
