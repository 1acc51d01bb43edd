"""A running ComfyUI test host bundled with its client: what the e2e/browser fixtures and the demo use."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.comfy_client import ComfyClient, PromptRun, RunResult
from tools.layout import REPO
from tools.procs import ComfyOptions, ComfyServer, start_comfyui
from tools.workflow_api import ui_to_api

EXAMPLE_WORKFLOWS = REPO / "example_workflows"


@dataclass
class ComfyHost:
    """A ComfyUI server with the pack loaded, its client, and the sandbox it uses as fal (or None)."""

    server: ComfyServer
    client: ComfyClient
    sandbox: Any | None  # the sandbox fixture's server object, or a SandboxProcess; has ``.url``
    options: ComfyOptions | None = None  # how it was started (``restarted`` reuses them)

    # -- where things are -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.server.url

    @property
    def output_dir(self) -> Path:
        return self.server.output_dir

    @property
    def input_dir(self) -> Path:
        return self.server.input_dir

    @property
    def user_dir(self) -> Path:
        return self.server.user_dir

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    @property
    def import_problems(self) -> list[str]:
        return self.server.import_problems

    @property
    def object_info(self) -> dict[str, Any]:
        return self.server.object_info

    def log_text(self) -> str:
        return self.server.log_text()

    def output_path(self, file: dict[str, Any]) -> Path:
        """Local path of a file reference from ``RunResult.files()`` (type "output")."""
        base = {
            "output": self.server.output_dir,
            "input": self.server.input_dir,
            "temp": self.server.temp_dir,
        }
        return base[file.get("type", "output")] / file.get("subfolder", "") / file["filename"]

    # -- doing things ---------------------------------------------------------------------------------
    def convert(self, workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """UI-format workflow -> API-format prompt, against this server's live /object_info."""
        return ui_to_api(workflow, self.client.object_info())

    def example_workflow(self, name: str) -> dict[str, Any]:
        """A UI-format workflow from example_workflows/ (name with or without .json)."""
        path = EXAMPLE_WORKFLOWS / (name if name.endswith(".json") else f"{name}.json")
        return json.loads(path.read_text())

    def run(self, prompt: dict[str, Any], *, timeout: float = 600.0) -> RunResult:
        return self.client.run(prompt, timeout=timeout)

    def submit(self, prompt: dict[str, Any]) -> PromptRun:
        return self.client.submit(prompt)

    def interrupt(self) -> None:
        self.client.interrupt()

    def empty_queue(self) -> list[str]:
        return self.client.empty_queue()

    def view(self, file: dict[str, Any] | str, **kw: Any) -> bytes:
        return self.client.view(file, **kw)

    def stop(self) -> None:
        self.client.close()
        self.server.stop()

    def kill(self) -> None:
        """SIGKILL ComfyUI (and its children) at this instant, like a crash: nothing is cleaned up."""
        self.client.close()
        self.server.kill()

    def restarted(self) -> ComfyHost:
        """A new ComfyUI on the SAME output, input, user and temp folders (after ``kill`` or ``stop``)."""
        assert self.options is not None, "this host was not started by start_host"
        options = dataclasses.replace(self.options, port=None, output_dir=self.output_dir, input_dir=self.input_dir,
                                      user_dir=self.user_dir, temp_dir=self.server.temp_dir)
        return start_host(options, sandbox=self.sandbox)


def start_host(options: ComfyOptions, sandbox: Any | None = None) -> ComfyHost:
    """Start ComfyUI with ``options`` (its fal base URL pointed at ``sandbox.url`` when given)."""
    if sandbox is not None:
        options.fal_base_url = sandbox.url
    server = start_comfyui(options)
    return ComfyHost(server=server, client=ComfyClient(server.url), sandbox=sandbox, options=options)
