"""Fixtures for the fal transport tests: a clean environment pointing at the sandbox, a fast runner."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.fal.config import FalConfig
from nodes.fal.runner import FalRunner
from nodes.fal.storage import clear_token_cache
from tests.fal.support import ENV_NAMES, TEST_KEY, make_runner


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    clear_token_cache()
    return monkeypatch


@pytest.fixture
def fal_env(sandbox: Any, clean_env: pytest.MonkeyPatch) -> Any:
    clean_env.setenv("LUMA_FAL_BASE_URL", sandbox.url)
    clean_env.setenv("FAL_KEY", TEST_KEY)
    return sandbox


@pytest.fixture
def runner(fal_env: Any) -> FalRunner:
    return make_runner(config=FalConfig.from_env())
