"""Every example workflow has its template-browser thumbnail: example_workflows/<name>.jpg (what frontend
1.58.1 looks for beside each template), a real JPEG of THUMBNAIL_SIZE, made from the workflow file as it is
now (its comment names the workflow's sha256; `make thumbnails` writes them, tools/make_thumbnails.py).
The checker is also shown refusing each kind of bad thumbnail."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from tools.make_thumbnails import COMMENT_PREFIX, EXAMPLES, THUMBNAIL_SIZE, thumbnail_path, workflow_digest

WORKFLOWS = sorted(EXAMPLES.glob("*.json"))
REMAKE = "run `make thumbnails` (after tools/make_examples.py)"


def thumbnail_problems(workflow_file: Path) -> list[str]:
    """What is wrong with the thumbnail of one example workflow (nothing: an empty list)."""
    path = thumbnail_path(workflow_file)
    if not path.is_file():
        return [f"{path.name} is missing: {REMAKE}"]
    if not path.read_bytes().startswith(b"\xff\xd8\xff"):
        return [f"{path.name} is not a JPEG file"]
    problems = []
    with Image.open(path) as image:
        if image.format != "JPEG":
            problems.append(f"{path.name} is {image.format}, not JPEG")
        if image.size != THUMBNAIL_SIZE:
            width, height = THUMBNAIL_SIZE
            problems.append(f"{path.name} is {image.size[0]}x{image.size[1]}, not {width}x{height}")
        comment = image.info.get("comment", b"").decode("utf-8", "replace")
        if comment != COMMENT_PREFIX + workflow_digest(workflow_file):
            problems.append(f"{path.name} was not made from {workflow_file.name} as it is now: {REMAKE}")
        # A screenshot of a graph, not a flat card: many colours and real contrast.
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 16) or range(1 << 16)  # None: more than that
        if len(colours) < 64 or max(ImageStat.Stat(rgb).stddev) < 8:
            problems.append(f"{path.name} is (nearly) one flat colour")
    return problems


def test_there_are_examples() -> None:
    assert len(WORKFLOWS) >= 9, WORKFLOWS


@pytest.mark.parametrize("workflow_file", WORKFLOWS, ids=lambda p: p.stem)
def test_every_example_has_its_thumbnail(workflow_file: Path) -> None:
    problems = thumbnail_problems(workflow_file)
    assert not problems, "\n".join(problems)


def test_no_thumbnail_without_its_example() -> None:
    strays = sorted(p.name for p in EXAMPLES.glob("*.jpg") if not p.with_suffix(".json").is_file())
    assert not strays, f"thumbnails of no example (the template browser shows none of them): {strays}"


def test_the_checker_refuses_each_kind_of_bad_thumbnail(tmp_path: Path) -> None:
    source = WORKFLOWS[0]
    workflow = tmp_path / source.name
    shutil.copyfile(source, workflow)
    good = thumbnail_path(workflow)
    shutil.copyfile(thumbnail_path(source), good)
    assert thumbnail_problems(workflow) == []

    def problems_with(save: Callable[[Image.Image, bytes], None]) -> list[str]:
        with Image.open(thumbnail_path(source)) as original:
            image = original.convert("RGB")
            comment = original.info["comment"]
        save(image, comment)
        return thumbnail_problems(workflow)

    good.unlink()
    assert "missing" in " ".join(thumbnail_problems(workflow))
    assert "not a JPEG" in " ".join(problems_with(lambda im, c: im.save(good, "PNG")))
    smaller = problems_with(lambda im, c: im.resize((300, 300)).save(good, "JPEG", comment=c))
    assert "is 300x300, not 400x400" in " ".join(smaller)
    assert "flat colour" in " ".join(problems_with(
        lambda im, c: Image.new("RGB", THUMBNAIL_SIZE, (30, 30, 30)).save(good, "JPEG", comment=c)))
    # The workflow changed after its thumbnail was made (tools/make_examples.py rewrote it).
    shutil.copyfile(thumbnail_path(source), good)
    workflow.write_text(source.read_text() + "\n")
    assert "as it is now" in " ".join(thumbnail_problems(workflow))
