"""The pack's version is pyproject.toml's, read once at import (nodes/version.py), on Python 3.11+ with
tomllib and on 3.10 without it; everything that reports a version reports that one."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from nodes import version
from nodes.fal.http import USER_AGENT
from nodes.journal.receipts import build_receipt
from nodes.journal.sqlite import SqliteJournal
from nodes.journal.store import NewEntry
from tools.layout import REPO

PYPROJECT_TEXT = (REPO / "pyproject.toml").read_text(encoding="utf-8")
EXPECTED = tomllib.loads(PYPROJECT_TEXT)["project"]["version"]


def test_the_pack_version_is_pyproject_s() -> None:
    assert version.PYPROJECT == REPO / "pyproject.toml"
    assert version.PACK_VERSION == EXPECTED != version.UNKNOWN


def test_without_tomllib_the_same_version_is_read() -> None:
    # Python 3.10 has no tomllib: the [project] table's version line gives the same answer.
    assert version.project_version_from_lines(PYPROJECT_TEXT) == EXPECTED


@pytest.mark.parametrize("reader", [version.project_version, version.project_version_from_lines])
@pytest.mark.parametrize(("text", "expected"), [
    # Only [project]'s version counts, wherever the table stands and whatever the quotes.
    ('[tool.other]\nversion = "9.9.9"\n\n[project]\nname = "x"\nversion = "1.2.3"\n', "1.2.3"),
    ("[project]\nversion = '2.0.0b1'  # release candidate\n[tool.comfy]\nversion = \"0\"\n", "2.0.0b1"),
    ('[project]\nname = "x"\n[project.urls]\nversion = "no"\n', "unknown"),
    ('[tool.comfy]\nPublisherId = "x"\n', "unknown"),
    ("", "unknown"),
])
def test_both_readers_agree_on_every_layout(reader, text: str, expected: str) -> None:
    assert reader(text) == expected


def test_a_broken_or_missing_pyproject_says_unknown(tmp_path: Path) -> None:
    assert version._read_pack_version(tmp_path / "absent.toml") == version.UNKNOWN
    broken = tmp_path / "pyproject.toml"
    broken.write_text('[project\nversion = "1"\n')
    assert version._read_pack_version(broken) == version.UNKNOWN


def test_the_user_agent_and_the_receipt_carry_it(tmp_path: Path) -> None:
    assert USER_AGENT.startswith(f"comfyui-luma-fal/{EXPECTED} ")
    store = SqliteJournal(tmp_path / "journal.sqlite3")
    entry = store.create(NewEntry(
        identity="i", endpoint_id="luma/agent/uni-1/v1/text-to-image", payload={"prompt": "p"}, inputs={},
        output_kind="image", stem="s", node_name="Luma Uni-1 Text to Image (fal)", owner="me", seed=1,
        price_usd=0.04, price_source="prices.json", node_id="1", prompt_id="p-1"))
    receipt = build_receipt(entry, {}, sent_payload={"prompt": "p"}, pack_version=version.PACK_VERSION)
    assert receipt["pack"] == {"name": "comfyui-luma-fal", "version": EXPECTED}
