"""tools/update_fal_snapshot.py writes fal's current documents (here: the drifted sandbox) as the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nodes.luma import constants as C
from tests.sandbox.helpers import TEST_KEY
from tools import update_fal_snapshot


def test_snapshot_takes_fals_current_schema_and_prices(sandbox: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMA_FAL_BASE_URL", sandbox.url)
    monkeypatch.setenv("FAL_KEY", TEST_KEY)
    sandbox.platform(enum_drift={C.RAY32_REFRAME: {"aspect_ratio": ["9:16"]}},
                     prices={C.RAY32_TEXT_TO_VIDEO: {"unit_price": 0.2, "unit": "video_second"},
                             C.UNI1_EDIT: {"unit_price": 1.0, "unit": "token"}})
    assert update_fal_snapshot.main(["--out", str(tmp_path), "--as-of", "2027-01"]) == 0
    bundle = json.loads((tmp_path / "bundled" / "fal_openapi.json").read_text())
    schema = bundle["endpoints"][C.RAY32_REFRAME]["components"]["schemas"]["Ray32ReframeInput"]
    assert bundle["as_of"] == "2027-01" and schema["properties"]["aspect_ratio"]["enum"] == ["9:16"]
    table = json.loads((tmp_path / "prices.json").read_text())
    assert table["endpoints"][C.RAY32_TEXT_TO_VIDEO]["unit_price"] == 1.0       # 5 s x $0.20
    assert table["endpoints"][C.UNI1_EDIT]["unit_price"] == 0.042               # a unit it cannot convert
    assert table["endpoints"][C.RAY32_IMAGE_TO_VIDEO]["unit_price"] == 0.15
