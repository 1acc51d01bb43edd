"""Provenance written into the files the pack saves: which fal endpoint and request made them.

* MP4 (and MOV): container tags through a stream-copy remux with PyAV: packets are copied as they
  are, nothing is decoded or encoded, so it takes a fraction of a second and the video bytes stay
  identical. ``movflags=use_metadata_tags`` keeps custom keys; ``comment`` is set too, which every
  player shows.
* PNG: ``tEXt`` chunks inserted before ``IEND`` straight into the byte stream (the PNG format lets
  text chunks sit there): the image data is not re-encoded, and Pillow reads them as ``image.text``.
* Other formats (JPEG, EXR, ...): nothing is written into the file; the JSON receipt next to it
  carries the same facts.

Both writers work on a temporary file in the same folder and replace the original atomically, so a
crash leaves the original or the tagged file, never half of one.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TAGGED_SUFFIXES = (".mp4", ".mov", ".m4v", ".png")


def tag_file(path: str | os.PathLike[str], tags: Mapping[str, str]) -> bool:
    """Write ``tags`` into ``path`` when its format has room for them; False when it has not."""
    suffix = Path(path).suffix.lower()
    if suffix in (".mp4", ".mov", ".m4v"):
        tag_mp4(path, tags)
        return True
    if suffix == ".png":
        tag_png(path, tags)
        return True
    return False


def _temp_beside(path: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(handle)
    return Path(name)


def tag_mp4(path: str | os.PathLike[str], tags: Mapping[str, str]) -> None:
    """Add container tags by copying every packet into a new MP4 (no re-encode)."""
    # Lazy: PyAV loads FFmpeg's libraries: only when a video is read or written.
    import av

    source = Path(path)
    temp = _temp_beside(source)
    try:
        with av.open(str(source)) as inp, av.open(str(temp), "w", format="mp4",
                                                   options={"movflags": "use_metadata_tags"}) as out:
            out.metadata.update({k: v for k, v in inp.metadata.items() if k not in ("major_brand", "minor_version",
                                                                                     "compatible_brands")})
            out.metadata.update(dict(tags))
            mapping = {}
            for stream in inp.streams:
                if stream.type in ("video", "audio"):
                    mapping[stream.index] = out.add_stream_from_template(stream)
            for packet in inp.demux(*[inp.streams[i] for i in mapping]):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
        os.replace(temp, source)
    finally:
        temp.unlink(missing_ok=True)


def read_mp4_tags(path: str | os.PathLike[str]) -> dict[str, str]:
    # Lazy: PyAV loads FFmpeg's libraries: only when a video is read or written.
    import av

    with av.open(str(path)) as container:
        return dict(container.metadata)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def tag_png(path: str | os.PathLike[str], texts: Mapping[str, str]) -> None:
    """Insert one ``tEXt`` chunk per entry before ``IEND``; keys are Latin-1, 1-79 characters."""
    source = Path(path)
    data = source.read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError(f"{source.name} is not a PNG file")
    end = data.rfind(b"IEND")
    if end < 12:
        raise ValueError(f"{source.name} has no IEND chunk")
    start_of_iend = end - 4  # the length field before the chunk type
    extra = b"".join(_chunk(b"tEXt", key.encode("latin-1")[:79] + b"\0" + value.encode("latin-1", "replace"))
                     for key, value in texts.items())
    temp = _temp_beside(source)
    try:
        temp.write_bytes(data[:start_of_iend] + extra + data[start_of_iend:])
        os.replace(temp, source)
    finally:
        temp.unlink(missing_ok=True)
