"""Everything one running sandbox holds, shared by its route handlers."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from .calllog import CallLog
from .config import SandboxConfig
from .faults import FaultBook
from .jobs import JobBook
from .models import LumaModels
from .platform_docs import PlatformDocs
from .sources import SourceFetcher
from .store import FileStore


@dataclass
class SandboxState:
    config: SandboxConfig = field(default_factory=SandboxConfig)
    faults: FaultBook = field(default_factory=FaultBook)
    calls: CallLog = field(default_factory=CallLog)
    store: FileStore = field(default_factory=FileStore)
    # Host names this sandbox has been called by; URLs on them count as its own files.
    own_hosts: set[str] = field(default_factory=set)
    cdn_tokens: set[str] = field(default_factory=set)
    # Set by the server runner: opens (once) a second listener serving this same app on another port of
    # the same host, and returns its base URL. Another origin for tests of where a client sends its key.
    open_second_origin: Callable[[], Awaitable[str]] | None = None
    platform: PlatformDocs = field(default_factory=PlatformDocs)
    jobs: JobBook = field(init=False)
    models: LumaModels = field(init=False)

    def __post_init__(self) -> None:
        self.models = LumaModels(self.store, SourceFetcher(self.store, self.own_hosts),
                                 lambda endpoint_id: self.platform.current_schema(endpoint_id),
                                 lambda: self.config.video_bitrate)
        self.jobs = JobBook(lambda: self.config, self.models)

    def issue_cdn_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self.cdn_tokens.add(token)
        return token

    def reset(self) -> None:
        """Clears requests, call log, faults, config and document drift; keeps stored files (cached outputs stay valid)."""
        self.jobs.clear()
        self.calls.clear()
        self.faults.clear()
        self.config = SandboxConfig()
        self.platform = PlatformDocs()


STATE: web.AppKey[SandboxState] = web.AppKey("sandbox_state", SandboxState)
