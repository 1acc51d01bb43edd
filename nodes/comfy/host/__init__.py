"""The few ComfyUI services the glue uses, in one place and feature-detected.

Everything ComfyUI-specific that is not a node schema goes through here, so the rest of the glue
reads as plain Python and a change between ComfyUI versions is mended once. The package holds the
rest of what the pack keeps on this host: ``readable_paths`` (which files a typed path may open),
``keystore`` (the fal key file) and ``journaling`` (the journal store, entry owners, a run's recorder).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Collection
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

PACK_FOLDER = "luma-fal"  # sub-folder of ComfyUI's output folder for everything this pack saves
STATUS_EVENT = "luma_fal.status"


def _model_management() -> ModuleType:
    # Imported on use: this package also loads outside a ComfyUI process (the unit tests), where core's
    # modules do not exist.
    import comfy.model_management

    return comfy.model_management


def _folder_paths() -> ModuleType:
    # Imported on use: this package also loads outside a ComfyUI process (the unit tests), where core's
    # modules do not exist.
    import folder_paths

    return folder_paths


def interrupted() -> bool:
    """True once the user pressed Cancel (ComfyUI's global interrupt flag)."""
    return bool(_model_management().processing_interrupted())


def interrupt_exception(message: str) -> BaseException:
    """The exception ComfyUI treats as an interruption rather than a failure."""
    exc = _model_management().InterruptProcessingException()
    exc.args = (message,)
    return exc


def is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is ComfyUI's interruption (Cancel) or a task being cancelled, not a failure."""
    return isinstance(exc, (_model_management().InterruptProcessingException, asyncio.CancelledError))


def output_directory() -> Path:
    return Path(_folder_paths().get_output_directory())


def user_directory() -> Path:
    return Path(_folder_paths().get_user_directory())


def file_folders() -> list[Path]:
    """ComfyUI's input, output and temp folders: where its users' files live."""
    folder_paths = _folder_paths()
    return [Path(folder_paths.get_input_directory()), Path(folder_paths.get_output_directory()),
            Path(folder_paths.get_temp_directory())]


def annotated_path(name: str) -> str:
    """A file name as core's loaders read it: ``x.mp4 [output]`` in the output folder (likewise
    ``[input]``, ``[temp]``), a relative name in the input folder, an absolute path as it is."""
    folder_paths = _folder_paths()
    if os.path.isabs(name) and folder_paths.annotated_filepath(name)[1] is None:
        # 0.33.0's core refuses any absolute path outside the input folder; 0.3.75 takes it as it is.
        # Taken as it is on every host: the caller decides which folders may be read.
        return name
    return folder_paths.get_annotated_filepath(name)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def new_output_path(stem: str, extension: str, request_id: str | None, avoid: Collection[Path] = ()) -> Path:
    """A fresh, safe path under ``output/luma-fal/`` that never overwrites an earlier result."""
    folder = output_directory() / PACK_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    tag = _UNSAFE.sub("", (request_id or "")[:8]) or "local"
    base = f"{_UNSAFE.sub('-', stem).strip('-')}_{time.strftime('%Y%m%d-%H%M%S')}_{tag}"
    ext = "." + _UNSAFE.sub("", extension.lstrip("."))
    for n in range(10_000):
        candidate = folder / (f"{base}{ext}" if n == 0 else f"{base}_{n}{ext}")
        if candidate in avoid:  # a name recorded for an earlier copy, even if that file is gone now
            continue
        try:
            # Exclusive create reserves the name even when several nodes finish at the same moment.
            with open(candidate, "xb"):
                return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not find a free file name for {base}{ext} in {folder}")


def ui_file_entry(path: Path) -> dict[str, str]:
    """How ComfyUI's /view and previews address a file in the output folder."""
    out = output_directory().resolve()
    rel = path.resolve().relative_to(out)
    return {"filename": rel.name, "subfolder": str(rel.parent) if str(rel.parent) != "." else "", "type": "output"}


def prompt_server() -> Any | None:
    """ComfyUI's running server (``PromptServer.instance``), or None outside one."""
    try:
        # Feature-detected: outside a ComfyUI server (a script, the unit tests) there is no server module.
        from server import PromptServer
    except ImportError:
        return None
    return getattr(PromptServer, "instance", None)


def current_prompt_id() -> str | None:
    server = prompt_server()
    return getattr(server, "last_prompt_id", None) if server else None


def send_status(data: dict[str, Any]) -> None:
    """A ``luma_fal.status`` websocket message to the browser that queued the prompt."""
    server = prompt_server()
    if server is None:
        return
    try:
        server.send_sync(STATUS_EVENT, data, getattr(server, "client_id", None))
    except Exception:  # a closed socket must never fail a paid run
        log.debug("could not send status event", exc_info=True)


class ProgressBar:
    """ComfyUI's node progress bar, only created when a fraction is known."""

    STEPS = 1000

    def __init__(self, node_id: str | None) -> None:
        self._node_id = node_id
        self._bar: Any | None = None

    def set_fraction(self, fraction: float) -> None:
        if self._bar is None:
            # Imported on use, as _model_management: core's modules exist only inside a ComfyUI process.
            import comfy.utils

            try:
                self._bar = comfy.utils.ProgressBar(self.STEPS, node_id=self._node_id)
            except TypeError:  # hosts whose ProgressBar takes no node_id
                self._bar = comfy.utils.ProgressBar(self.STEPS)
        mm = _model_management()
        try:
            self._bar.update_absolute(int(max(0.0, min(1.0, fraction)) * self.STEPS), self.STEPS)
        except mm.InterruptProcessingException:
            # ComfyUI's progress hook raises on Cancel and clears the flag as it does. A bar update often runs
            # inside a status callback, whose error nobody acts on, so the flag is set again: the wait that
            # cancels at fal (and every later check) still sees the Cancel.
            mm.interrupt_current_processing(True)
