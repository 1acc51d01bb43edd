"""A path typed into Video to Frames reads only files inside ComfyUI's input, output and temp folders
(or folders listed in LUMA_FAL_EXTRA_READ_DIRS), and every refusal reads the same, so the node never
tells whether a file outside exists, is a directory, or is unreadable.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.media.video_encode import encode_mp4
from tests.e2e.pack_helpers import EXTRA_READ_DIR
from tools.layout import TEST_OUTPUT

FRAMES = 6
OUTSIDE = TEST_OUTPUT / "comfy" / "outside-every-folder"


def write_clip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return encode_mp4(torch.rand(FRAMES, 32, 48, 3), 24, path)


def frames_prompt(path_text: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "LumaFalVideoToFrames",
              "inputs": {"path": path_text, "start_frame": 0, "frame_cap": 0, "every_nth": 1, "height": 0}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 2]}},
    }


def frame_count(comfy: Any, path_text: str) -> str:
    result = comfy.run(frames_prompt(path_text))
    assert result.ok, result.describe()
    return result.outputs["2"]["text"][0]


def refusal(comfy: Any, path_text: str) -> str:
    """The node's message for ``path_text``, with the path itself (echoed as given) replaced."""
    result = comfy.run(frames_prompt(path_text))
    assert result.status == "error", result.describe()
    assert result.error["node_type"] == "LumaFalVideoToFrames"
    message = result.error["exception_message"]
    assert repr(path_text.strip()) in message, message
    return message.replace(repr(path_text.strip()), "<path>")


@pytest.fixture(scope="module")
def folders(comfy) -> dict[str, Path]:
    """Files and links in and around the plain ComfyUI's folders (made once for this module)."""
    # ComfyUI keeps its temp files in a "temp" folder inside --temp-directory.
    inp, out, tmp = comfy.input_dir, comfy.output_dir, comfy.server.temp_dir / "temp"
    made = {
        "input_clip": write_clip(inp / "paths-clip.mp4"),
        "output_clip": write_clip(out / "paths-sub" / "clip.mp4"),
        "temp_clip": write_clip(tmp / "paths-clip.mp4"),
        "outside_clip": write_clip(OUTSIDE / "clip.mp4"),
        "beside_input": write_clip(inp.parent / "paths-beside-input.mp4"),
    }
    links = {
        "link_out": (inp / "paths-link-out.mp4", made["outside_clip"]),
        "link_inside": (inp / "paths-link-inside.mp4", made["output_clip"]),
        "link_dangling": (inp / "paths-link-dangling.mp4", OUTSIDE / "gone.mp4"),
    }
    for name, (link, target) in links.items():
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        made[name] = link
    made["directory"] = inp / "paths-a-directory.mp4"
    made["directory"].mkdir(exist_ok=True)
    made["fifo"] = inp / "paths-fifo.mp4"
    if not made["fifo"].exists():
        os.mkfifo(made["fifo"])
    return made


@pytest.mark.parametrize("form", ["absolute-input", "relative-input", "annotated-input", "annotated-output",
                                  "annotated-temp", "absolute-output", "link-to-output"])
def test_files_in_comfyui_folders_are_read(comfy, folders, form) -> None:
    text = {
        "absolute-input": str(folders["input_clip"]),
        "relative-input": "paths-clip.mp4",
        "annotated-input": "paths-clip.mp4 [input]",
        "annotated-output": "paths-sub/clip.mp4 [output]",
        "annotated-temp": "paths-clip.mp4 [temp]",
        "absolute-output": str(folders["output_clip"]),
        "link-to-output": str(folders["link_inside"]),
    }[form]
    assert frame_count(comfy, text) == str(FRAMES)


REFUSED = {
    "etc-passwd": lambda f: "/etc/passwd",
    "dotdot-relative": lambda f: "../../../../../../../../etc/passwd",
    "dotdot-annotated": lambda f: "../paths-beside-input.mp4 [input]",
    "absolute-annotated": lambda f: "/etc/passwd [output]",
    "existing-outside": lambda f: str(f["outside_clip"]),
    "missing-outside": lambda f: str(OUTSIDE / "never-there.mp4"),
    "missing-inside": lambda f: str(f["input_clip"].parent / "never-there.mp4"),
    "symlink-out-of-input": lambda f: str(f["link_out"]),
    "dangling-symlink": lambda f: "paths-link-dangling.mp4 [input]",
    "directory": lambda f: str(f["directory"]),
    "input-folder-itself": lambda f: str(f["input_clip"].parent),
    "fifo": lambda f: str(f["fifo"]),
    "nul-byte": lambda f: "paths-clip.mp4\x00.txt",
}


def test_every_refusal_reads_the_same(comfy, folders) -> None:
    messages = {name: refusal(comfy, make(folders)) for name, make in REFUSED.items()}
    canonical = messages["missing-outside"]
    different = {name: m for name, m in messages.items() if m != canonical}
    assert not different, f"not the same text as {canonical!r}: {different}"
    assert canonical.startswith("Video to Frames: path: <path> is not a readable file in ComfyUI's input, output "
                                "or temp folder."), canonical
    assert "LUMA_FAL_EXTRA_READ_DIRS" in canonical
    for hint in ("exist", "ermission", "denied", "No such", "directory", "Errno"):
        assert hint not in canonical, hint


def test_a_file_outside_reads_the_same_present_or_removed(comfy) -> None:
    clip = write_clip(OUTSIDE / "comes-and-goes.mp4")
    present = refusal(comfy, str(clip))
    clip.unlink()
    assert refusal(comfy, str(clip)) == present


def test_extra_read_dirs_widen_the_rule(comfy, comfy_guarded) -> None:
    allowed = write_clip(EXTRA_READ_DIR / "extra-clip.mp4")
    beside = write_clip(EXTRA_READ_DIR.parent / "not-listed" / "extra-clip.mp4")
    assert frame_count(comfy_guarded, str(allowed)) == str(FRAMES)
    canonical = refusal(comfy, str(OUTSIDE / "never-there.mp4"))
    assert refusal(comfy, str(allowed)) == canonical  # the plain ComfyUI has no extra folder
    assert refusal(comfy_guarded, str(beside)) == canonical
    assert refusal(comfy_guarded, str(EXTRA_READ_DIR / ".." / "not-listed" / "extra-clip.mp4")) == canonical


def teardown_module() -> None:
    shutil.rmtree(OUTSIDE, ignore_errors=True)
