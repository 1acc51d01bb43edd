"""``python -m sandbox [--host 127.0.0.1] [--port N]``: run the fal-compatible sandbox server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from .app import create_app
from .state import STATE


async def _serve(host: str, port: int) -> None:
    # Access lines (method, path, status; never headers) only when INFO logging is on.
    access = logging.getLogger("sandbox.access")
    app = create_app()
    runner = web.AppRunner(app, access_log=access if access.isEnabledFor(logging.INFO) else None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    shown = f"[{host}]" if ":" in host else host
    app[STATE].open_second_origin = _second_origin_opener(runner, host, shown)
    # The one line callers wait for (tests, `make demo`); stdout is the channel for it.
    sys.stdout.write(f"sandbox listening on http://{shown}:{bound}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _second_origin_opener(runner: web.AppRunner, host: str, shown: str) -> Callable[[], Awaitable[str]]:
    opened: list[str] = []
    lock = asyncio.Lock()

    async def open_second_origin() -> str:
        async with lock:
            if not opened:
                before = set(runner.addresses)
                await web.TCPSite(runner, host, 0).start()
                port = next(a for a in runner.addresses if a not in before)[1]
                opened.append(f"http://{shown}:{port}")
        return opened[0]

    return open_second_origin


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8765")),
                        help="TCP port (env PORT, default 8765; 0 picks a free one)")
    parser.add_argument("--log-level", default=os.environ.get("SANDBOX_LOG_LEVEL", "WARNING"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        asyncio.run(_serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
