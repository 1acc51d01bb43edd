"""The key never appears in a log record, an error message, a repr, or a file other than the key file."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from nodes.fal.config import FalConfig
from nodes.fal.errors import FalError
from nodes.fal.transfers import Upload
from tests.fal.support import TEST_KEY, make_runner

T2V = "luma/agent/ray/v3.2/text-to-video"
SECRET_PARTS = (TEST_KEY, TEST_KEY.split(":")[1])


def test_key_never_logged_or_shown(fal_env: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    fal_env.configure(queue_seconds=0.1, run_seconds=0.3)
    runner = make_runner(config=FalConfig.from_env())
    messages: list[str] = []

    async def scenario() -> None:
        url = (await runner.upload_many([Upload(b"\x89PNG fake", "image/png", "ref.png")]))[0]
        messages.append(url)
        done = await runner.run(T2V, {"prompt": "fox"}, on_event=lambda e: messages.append(e.text()))
        messages.append(repr(done))
        await runner.download(done.result["video"]["url"], tmp_path / "clip.mp4")
        # Failures too: the key is refused, then a retried fault.
        fal_env.configure(required_key="another-key")
        try:
            await runner.run(T2V, {"prompt": "fox"})
        except FalError as exc:
            messages.extend([str(exc), repr(exc), repr(exc.detail)])
        fal_env.configure(required_key=None)
        fal_env.inject({"point": "submit", "kind": "drop", "times": 1})
        try:
            await runner.run(T2V, {"prompt": "fox"})
        except FalError as exc:
            messages.extend([str(exc), repr(exc)])

    asyncio.run(scenario())

    records = [f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    assert any("<redacted>" in r for r in records)  # request headers were logged, with the key hidden
    assert any("Authorization" in r or "authorization" in r for r in records)
    for text in records + messages + [repr(runner.config)]:
        for secret in SECRET_PARTS:
            assert secret not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes()
