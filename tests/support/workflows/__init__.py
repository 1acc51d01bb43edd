"""UI-format workflows saved by real frontends, used as fixtures (see each test that loads one).

- savevideo_dynamic_combo_frontend-1.48.7.json: ComfyUI 0.33.0's frontend 1.48.7 saving three core
  SaveVideo nodes whose dynamic combo ``codec`` is set to each depth (``auto``; ``h264`` + ``auto``;
  ``h264`` + ``re-encode`` + crf 30), fed by LoadImage -> RepeatImageBatch -> CreateVideo. Captured by
  tests/browser/test_dynamic_combo.py (which re-captures it on every run into test-output/browser/).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent
SAVEVIDEO_DYNAMIC_COMBO = FOLDER / "savevideo_dynamic_combo_frontend-1.48.7.json"


def load_workflow(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
