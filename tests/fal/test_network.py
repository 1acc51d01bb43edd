"""Proxies from the environment, and many requests at once without leaking tasks, sockets or files."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from nodes.fal import slots as runner_module
from nodes.fal.config import FalConfig
from nodes.fal.events import FalEvent
from tests.fal.support import calls, fd_count, make_runner

T2I = "luma/agent/uni-1/v1/text-to-image"


class ForwardProxy:
    """A minimal HTTP forward proxy on loopback that counts what it forwards (one request per connection)."""

    def __init__(self) -> None:
        self.forwarded: list[str] = []
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            method, target, _ = line.decode().split()
            headers: list[tuple[str, str]] = []
            while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = raw.decode().partition(":")
                headers.append((name.strip(), value.strip()))
            length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
            body = await reader.readexactly(length) if length else b""
            url = urlsplit(target)
            self.forwarded.append(f"{method} {url.path}")
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port)
            path = url.path + (f"?{url.query}" if url.query else "")
            kept = [
                (k, v)
                for k, v in headers
                if k.lower() not in ("connection", "proxy-connection", "keep-alive")
            ]
            head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in kept)
            up_writer.write((head + "Connection: close\r\n\r\n").encode() + body)
            await up_writer.drain()
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
            up_writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize("no_proxy", [False, True], ids=["through-proxy", "no-proxy-bypass"])
def test_proxy_from_environment_is_used(fal_env: Any, no_proxy: bool, clean_env: pytest.MonkeyPatch) -> None:
    fal_env.configure(queue_seconds=0.1, run_seconds=0.2)
    proxy = ForwardProxy()

    async def scenario() -> dict:
        proxy_url = await proxy.start()
        clean_env.setenv("HTTP_PROXY", proxy_url)
        if no_proxy:
            clean_env.setenv("NO_PROXY", "127.0.0.1")
        try:
            done = await make_runner(config=FalConfig.from_env()).run(T2I, {"prompt": "x"})
            return done.result
        finally:
            await proxy.stop()

    result = asyncio.run(scenario())

    assert result["images"]
    if no_proxy:
        assert proxy.forwarded == []
    else:
        assert proxy.forwarded[0].startswith("POST /luma/agent/uni-1/v1/text-to-image")
        assert any(f.endswith("/status/stream") for f in proxy.forwarded)
        assert len(proxy.forwarded) == len(calls(fal_env))


def test_fifty_concurrent_runs_leak_nothing(fal_env: Any, tmp_path: Path) -> None:
    fal_env.configure(queue_seconds=0.05, run_seconds=0.2, log_lines=2)
    runner = make_runner(config=FalConfig.from_env())
    cap = 10
    peak = {"in_flight": 0, "waited": 0}

    async def one(i: int) -> Path:
        def on_event(event: FalEvent) -> None:
            peak["in_flight"] = max(peak["in_flight"], runner_module.in_flight())
            peak["waited"] += event.phase == "waiting_for_slot"

        done = await runner.run(T2I, {"prompt": f"picture {i}"}, on_event=on_event)
        image = done.result["images"][0]
        return await runner.download(
            image["url"], tmp_path / f"{i}.img", expected_size=image.get("file_size")
        )

    async def scenario() -> tuple[list[Path], int]:
        runner_module.set_max_concurrent(cap)
        paths = await asyncio.gather(*(one(i) for i in range(50)))
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return paths, len(leftover)

    gc.collect()
    fds_before = fd_count()
    try:
        paths, leftover_tasks = asyncio.run(scenario())
    finally:
        runner_module.set_max_concurrent(None)
    gc.collect()

    assert leftover_tasks == 0
    assert fd_count() == fds_before
    assert len(paths) == 50 and all(p.stat().st_size > 0 for p in paths)
    assert not list(tmp_path.glob("*.part"))
    assert 1 <= peak["in_flight"] <= cap
    assert peak["waited"] > 0  # some runs had to wait for a slot
    assert len(calls(fal_env, "submit")) == 50 and len(calls(fal_env, "result")) == 50
