"""A small synchronous client for a ComfyUI server: queue a prompt, follow its websocket, read the results.

``submit()`` opens ``/ws`` BEFORE posting the prompt so no event is missed, then records every message in a
background thread: JSON events (progress, executing, executed, execution_error, execution_interrupted,
``luma_fal.status``, ...) and binary frames. ComfyUI 0.3.75 frames binary messages as a 4-byte big-endian
event type followed by the payload; type 3 (progress text) carries a 4-byte big-endian node-id length, the
node id and UTF-8 text. Those are decoded into ``progress_text`` events.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx

if TYPE_CHECKING:
    from typing_extensions import Self

BINARY_PREVIEW_IMAGE = 1
BINARY_UNENCODED_PREVIEW_IMAGE = 2
BINARY_TEXT = 3
BINARY_PREVIEW_IMAGE_WITH_METADATA = 4


class PromptRejected(RuntimeError):
    """POST /prompt answered with an error (validation failed before anything ran)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"POST /prompt -> {status}: {json.dumps(body)[:2000]}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class WsEvent:
    """One websocket message. Binary frames get type ``progress_text`` (decoded) or ``binary``."""

    type: str
    data: dict[str, Any]
    received_at: float  # time.monotonic()


def decode_binary_frame(frame: bytes) -> tuple[str, dict[str, Any]]:
    """Decode a ComfyUI binary websocket frame into (event type, data)."""
    if len(frame) < 4:
        return "binary", {"event": None, "size": len(frame)}
    (event,) = struct.unpack(">I", frame[:4])
    body = frame[4:]
    if event == BINARY_TEXT and len(body) >= 4:
        (id_len,) = struct.unpack(">I", body[:4])
        node = body[4 : 4 + id_len].decode("utf-8", errors="replace")
        text = body[4 + id_len :].decode("utf-8", errors="replace")
        return "progress_text", {"node": node, "text": text}
    return "binary", {"event": event, "size": len(body)}


@dataclass
class RunResult:
    """A finished prompt: its history entry, outputs, error (if any) and every websocket event."""

    prompt_id: str
    status: str  # "success" | "error" | "interrupted"
    history: dict[str, Any]
    events: list[WsEvent]

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return self.history.get("outputs", {})

    @property
    def error(self) -> dict[str, Any] | None:
        """The ``execution_error`` event's data (exception_message, node_id, node_type, traceback...)."""
        errors = self.of_type("execution_error")
        return errors[-1] if errors else None

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.type == event_type]

    @property
    def statuses(self) -> list[dict[str, Any]]:
        """The pack's ``luma_fal.status`` events, in order."""
        return self.of_type("luma_fal.status")

    @property
    def progress_texts(self) -> list[dict[str, Any]]:
        """Decoded binary progress-text frames: ``{"node": id, "text": str}``."""
        return self.of_type("progress_text")

    def files(self, node_id: str | None = None) -> list[dict[str, Any]]:
        """File references (``{"filename", "subfolder", "type"}``) in the outputs, optionally of one node."""
        found: list[dict[str, Any]] = []
        for nid, out in self.outputs.items():
            if node_id is not None and nid != str(node_id):
                continue
            for items in out.values():
                if isinstance(items, list):
                    found += [i for i in items if isinstance(i, dict) and "filename" in i]
        return found

    def describe(self) -> str:
        """A short account for assertion messages."""
        kinds: dict[str, int] = {}
        for e in self.events:
            kinds[e.type] = kinds.get(e.type, 0) + 1
        err = self.error
        detail = (
            f"; error in node {err.get('node_id')} ({err.get('node_type')}): {err.get('exception_message')}"
            if err
            else ""
        )
        return f"prompt {self.prompt_id}: {self.status}; events {kinds}{detail}"


class PromptRun:
    """A queued prompt whose websocket events are being collected in a background thread."""

    def __init__(self, client: ComfyClient, client_id: str) -> None:
        self._client = client
        self.client_id = client_id
        self.prompt_id: str = ""
        self._events: list[WsEvent] = []
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._finished = False
        self._failure: BaseException | None = None
        self._stop_loop: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._listen, name=f"comfy-ws-{client_id[:8]}", daemon=True)

    # -- listening ------------------------------------------------------------------------------------
    def _start(self, timeout: float) -> None:
        self._thread.start()
        if not self._connected.wait(timeout):
            raise TimeoutError(f"websocket to {self._client.base_url} not open within {timeout}s")
        if self._failure is not None:
            raise self._failure

    def _listen(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._listen_async(loop))
        except Exception as exc:  # noqa: BLE001  (any failure is handed to the waiting thread, which re-raises it)
            with self._cond:
                self._failure = exc
                self._cond.notify_all()
        finally:
            self._connected.set()
            with self._cond:
                self._finished = True
                self._cond.notify_all()
            loop.close()

    async def _listen_async(self, loop: asyncio.AbstractEventLoop) -> None:
        ws_url = self._client.base_url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        stop = asyncio.Event()
        self._stop_loop = lambda: loop.call_soon_threadsafe(stop.set)
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, max_msg_size=0) as ws:
            self._connected.set()
            while not stop.is_set():
                receive = asyncio.ensure_future(ws.receive())
                stopper = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({receive, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    break
                stopper.cancel()
                msg = receive.result()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    parsed = json.loads(msg.data)
                    event = WsEvent(parsed.get("type", "?"), parsed.get("data") or {}, time.monotonic())
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    kind, data = decode_binary_frame(msg.data)
                    event = WsEvent(kind, data, time.monotonic())
                else:
                    raise ConnectionError(f"websocket closed by ComfyUI: {msg.type.name}")
                with self._cond:
                    self._events.append(event)
                    done_now = self._is_end(event)
                    self._cond.notify_all()
                if done_now:
                    return

    def _is_end(self, event: WsEvent) -> bool:
        # ComfyUI's prompt worker sends executing{node: None} after the history entry is written, for
        # success, error and interrupt alike.
        return (
            event.type == "executing"
            and event.data.get("node") is None
            and bool(self.prompt_id)
            and event.data.get("prompt_id") == self.prompt_id
        )

    # -- reading --------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        with self._cond:
            return self._finished

    @property
    def events(self) -> list[WsEvent]:
        with self._cond:
            return list(self._events)

    def wait_for_event(self, predicate: Callable[[WsEvent], bool], timeout: float = 60.0) -> WsEvent:
        """Block until an event matching ``predicate`` has arrived (already-received ones count)."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for event in self._events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self._events)
                if self._failure is not None:
                    raise self._failure
                if self._finished:
                    raise LookupError(f"prompt {self.prompt_id} finished without the awaited event")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"awaited event did not arrive within {timeout}s (prompt {self.prompt_id})"
                    )
                self._cond.wait(remaining)

    def wait(self, timeout: float = 600.0) -> RunResult:
        """Block until the prompt has finished and return its result; TimeoutError leaves it queued."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._finished, timeout):
                kinds = [e.type for e in self._events[-8:]]
                raise TimeoutError(
                    f"prompt {self.prompt_id} not finished within {timeout}s; last events {kinds}"
                )
            if self._failure is not None:
                raise self._failure
        self._thread.join(5)
        history = self._client.history(self.prompt_id)
        return RunResult(self.prompt_id, _status_of(self._events, history), history, list(self._events))

    def close(self) -> None:
        if self._stop_loop is not None and self._thread.is_alive():
            self._stop_loop()
        self._thread.join(5)


def _status_of(events: list[WsEvent], history: dict[str, Any]) -> str:
    kinds = {e.type for e in events}
    if "execution_interrupted" in kinds:
        return "interrupted"
    if "execution_error" in kinds:
        return "error"
    status = history.get("status", {}).get("status_str")
    return "success" if status == "success" else "error"


class ComfyClient:
    """HTTP + websocket access to one ComfyUI server."""

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plain HTTP -----------------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> httpx.Response:
        return self._http.get(path, params=params or None)

    def get_json(self, path: str, **params: Any) -> Any:
        reply = self.get(path, **params)
        reply.raise_for_status()
        return reply.json()

    def post_json(self, path: str, body: Any) -> httpx.Response:
        # Python's own JSON writer, not httpx's: it writes NaN/Infinity, which scripts send and servers
        # must cope with (the pack's prompt type check is tested with them).
        return self._http.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})

    def object_info(self, node_id: str | None = None) -> dict[str, Any]:
        return self.get_json(f"/object_info/{node_id}" if node_id else "/object_info")

    def system_stats(self) -> dict[str, Any]:
        return self.get_json("/system_stats")

    def history(self, prompt_id: str) -> dict[str, Any]:
        return self.get_json(f"/history/{prompt_id}").get(prompt_id, {})

    def interrupt(self) -> None:
        """Interrupt whatever prompt is running (ComfyUI's flag is global, not per prompt)."""
        self.post_json("/interrupt", {}).raise_for_status()

    def empty_queue(self, timeout: float = 120.0) -> list[str]:
        """Drop the pending prompts and interrupt the running one until the queue is empty; returns the ids of
        the prompts that were left (none after a test that waited for its runs)."""
        try:
            queue = self.get_json("/queue")
        except httpx.HTTPError:
            return []  # the server is gone: a test stopped or killed it
        left = [str(item[1]) for item in queue.get("queue_running", []) + queue.get("queue_pending", [])]
        if not left:
            return []
        self.post_json("/queue", {"clear": True}).raise_for_status()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.interrupt()
            queue = self.get_json("/queue")
            if not queue.get("queue_running") and not queue.get("queue_pending"):
                return left
            time.sleep(0.5)
        raise RuntimeError(f"ComfyUI's queue still holds {left} {timeout:g} s after Cancel")

    def view(self, file: dict[str, Any] | str, *, subfolder: str = "", type: str = "output") -> bytes:
        """Bytes of an output/input/temp file, by name or by a file reference from ``RunResult.files()``."""
        if isinstance(file, dict):
            subfolder = file.get("subfolder", subfolder)
            type = file.get("type", type)
            file = file["filename"]
        reply = self.get("/view", filename=file, subfolder=subfolder, type=type)
        reply.raise_for_status()
        return reply.content

    # -- prompts --------------------------------------------------------------------------------------
    def submit(
        self,
        prompt: dict[str, Any],
        *,
        client_id: str | None = None,
        extra_data: dict[str, Any] | None = None,
    ) -> PromptRun:
        """Queue an API-format prompt and start collecting its events. Raises PromptRejected on a 4xx."""
        run = PromptRun(self, client_id or uuid.uuid4().hex)
        run._start(timeout=30)
        body: dict[str, Any] = {"prompt": prompt, "client_id": run.client_id}
        if extra_data:
            body["extra_data"] = extra_data
        reply = self.post_json("/prompt", body)
        if reply.status_code != 200:
            run.close()
            try:
                detail: Any = reply.json()
            except ValueError:
                detail = reply.text
            raise PromptRejected(reply.status_code, detail)
        with run._cond:
            run.prompt_id = reply.json()["prompt_id"]
            # The end event may have arrived before the id was known (a cached prompt finishes at once).
            ended_early = any(run._is_end(e) for e in run._events)
        if ended_early:
            run.close()
        return run

    def run(
        self, prompt: dict[str, Any], *, timeout: float = 600.0, client_id: str | None = None
    ) -> RunResult:
        """Queue a prompt and wait for it to finish."""
        run = self.submit(prompt, client_id=client_id)
        try:
            return run.wait(timeout)
        finally:
            run.close()
