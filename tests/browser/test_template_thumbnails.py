"""The template browser shows every example of the pack with its thumbnail, on every frontend: the dialog
opened as a user opens it (the Templates command), the pack's own category chosen, each card scrolled into
view (older frontends keep only the cards in view); the page fetched example_workflows/<name>.jpg from
ComfyUI's template route, which serves the file as committed, and drew it, 400 x 400, on the card."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.browser.conftest import ComfyPage
from tools.layout import PACK_DIR_NAME, REPO
from tools.make_thumbnails import THUMBNAIL_SIZE

EXAMPLES = sorted(p.stem for p in (REPO / "example_workflows").glob("*.json"))

# The image of the card whose title is exactly ``name``: the nearest ancestor of the title holding an img.
_CARD_IMAGE_SIZE = """(name) => {
    const dialog = [...document.querySelectorAll('[role=dialog]')].pop();
    const titles = [...dialog.querySelectorAll('*')].filter(e => e.children.length === 0 && e.textContent.trim() === name);
    for (const title of titles) {
        for (let card = title.parentElement; card && card !== dialog; card = card.parentElement) {
            const image = card.querySelector('img');
            if (image) return image.complete && image.naturalWidth ? [image.naturalWidth, image.naturalHeight] : null;
        }
    }
    return null;
}"""


def test_every_example_card_shows_its_thumbnail(comfy_page: ComfyPage) -> None:
    page = comfy_page.page
    page.evaluate("() => window.app.extensionManager.command.execute('Comfy.BrowseTemplates')")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(PACK_DIR_NAME, exact=True).last.click(timeout=60_000)
    drawn = {}
    for name in EXAMPLES:
        dialog.get_by_text(name, exact=True).first.scroll_into_view_if_needed(timeout=30_000)
        # The size the image had when it was first seen loaded (the grid may re-render the card afterwards).
        size = page.wait_for_function(_CARD_IMAGE_SIZE, arg=name, timeout=30_000).json_value()
        drawn[name] = tuple(size)
    comfy_page.screenshot("template-browser-thumbnails")
    assert drawn == {name: THUMBNAIL_SIZE for name in EXAMPLES}

    statuses: dict[str, list[int]] = {}
    for response in comfy_page.recorder.responses:
        statuses.setdefault(urlparse(response.url).path, []).append(response.status)
    for name in EXAMPLES:
        path = f"/api/workflow_templates/{PACK_DIR_NAME}/{name}.jpg"
        assert 200 in statuses.get(path, []), f"the template browser did not load {path}: {sorted(statuses)}"
        served = comfy_page.host.client.get(path)
        assert served.headers["content-type"] == "image/jpeg"
        assert served.content == (REPO / "example_workflows" / f"{name}.jpg").read_bytes()
